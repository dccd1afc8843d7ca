"""Retried and replayed writes through the SDK and the API store each value once; a
different value for a stored (entity, event time) is a correction that supersedes it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import pandas as pd

from fstore import FeatureStore
from fstore.api.app import create_app
from fstore.models import Feature
from fstore.write_result import IngestResult, StoreResult

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def frame(n: int, offset: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i % 50}" for i in range(n)],
            "event_timestamp": [T0 + timedelta(minutes=i) for i in range(n)],
            "amount": rng.normal(100, 10, n) + offset,
            "plan": rng.choice(["a", "b", "c"], n),
        }
    )


async def test_a_replayed_ingest_changes_nothing(store: FeatureStore) -> None:
    await store.create_feature(Feature(name="amount", entity="customer"), transformer="standard_scaler")
    await store.create_feature(Feature(name="plan", entity="customer", type="categorical"))
    data = frame(1_000)
    first = await store.ingest(data)
    assert isinstance(first, IngestResult) and first == {"amount": 1_000, "plan": 1_000}
    assert first.stored == {"amount": 1_000, "plan": 1_000} and first.unchanged == {"amount": 0, "plan": 0}
    history = await store.get_feature_history("amount", include_superseded=True)
    stats = await store.statistics("amount")
    fitted = await store.fit_transformer("amount")

    again = await store.ingest(data)  # a replay, e.g. a retried job
    assert again == first and again.stored == {"amount": 0, "plan": 0}
    assert again.unchanged == {"amount": 1_000, "plan": 1_000}
    assert (await store.get_feature_history("amount", include_superseded=True)).equals(history)
    assert await store.statistics("amount") == stats
    assert (await store.fit_transformer("amount")).version == fitted.version  # same fit: no new version
    assert stats.count == 1_000

    # half of it again and half new
    overlap = pd.concat([data.iloc[500:], frame(1_500).iloc[1_000:]], ignore_index=True)
    third = await store.ingest(overlap, features=["amount"])
    assert third.stored == {"amount": 500} and third.unchanged == {"amount": 500}
    assert (await store.statistics("amount")).count == 1_500


async def test_a_correction_supersedes_and_history_can_show_it(store: FeatureStore) -> None:
    await store.create_feature(Feature(name="score", entity="customer", dtype="int"))
    result = await store.store_feature_value("score", "c1", 5, T0)
    assert isinstance(result, StoreResult) and result == 1 and result.stored == 1
    again = await store.store_feature_value("score", "c1", 5, T0)
    assert again == 1 and (again.stored, again.unchanged) == (0, 1)
    fixed = await store.store_feature_value("score", "c1", 7, T0)
    assert (fixed.stored, fixed.unchanged) == (1, 0)
    got = await store.get_feature_value("score", "c1")
    assert got is not None and got.value == 7
    assert (await store.get_feature_history("score")).column("value").to_pylist() == [7]
    audit = await store.get_feature_history("score", include_superseded=True)
    assert audit.column("value").to_pylist() == [5, 7]  # superseded first
    assert (await store.statistics("score")).count == 1
    # within one batch the last row of an identity wins
    batch = [{"entity_id": "c2", "value": v, "event_timestamp": T0} for v in (1, 2, 3)]
    last = await store.store_feature_values("score", batch)
    assert (int(last), last.stored, last.unchanged, last.duplicates) == (3, 1, 0, 2)
    got = await store.get_feature_value("score", "c2")
    assert got is not None and got.value == 3


async def test_a_retried_api_batch_is_stored_once(store: FeatureStore) -> None:
    await store.create_feature(Feature(name="age", entity="customer", dtype="int"))
    app = create_app(store, store.settings.model_copy(update={"dev_mode": True, "auth_disabled": True}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        batch = {
            "values": [
                {"entity_id": "c1", "value": 30, "event_timestamp": "2026-01-01T00:00:00Z"},
                {"entity_id": "c2", "value": 40, "event_timestamp": "2026-01-01T00:00:00Z"},
            ]
        }
        r = await client.post("/api/v1/features/age/values/batch", json=batch)
        assert r.json() == {"stored": 2, "unchanged": 0, "duplicates": 0}
        r = await client.post("/api/v1/features/age/values/batch", json=batch)  # the retry
        assert r.status_code == 201 and r.json() == {"stored": 0, "unchanged": 2, "duplicates": 0}
        batch["values"][0]["value"] = 31
        r = await client.post("/api/v1/features/age/values/batch", json=batch)
        assert r.json() == {"stored": 1, "unchanged": 1, "duplicates": 0}
        rows = (await client.get("/api/v1/features/age/values")).json()
        assert [(row["entity_id"], row["value"]) for row in rows] == [("c1", 31), ("c2", 40)]
        params = {"include_superseded": "true"}
        rows = (await client.get("/api/v1/features/age/values", params=params)).json()
        assert [(row["entity_id"], row["value"]) for row in rows] == [("c1", 30), ("c1", 31), ("c2", 40)]
