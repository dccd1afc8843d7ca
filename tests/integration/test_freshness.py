"""Serving agrees with training on freshness, on every online backend: a value older than its
feature's TTL (by event time) is served as missing with the status ``expired``, exactly where
a training row at the same time gets no value; expired values never reach the online store
(write path, ingest, materialisation, read-through)."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from fstore import FeatureStore
from fstore.models import Entity, Feature, ValueStatus
from server_redis import delete_prefix

EXPIRED, MISSING, PRESENT = ValueStatus.EXPIRED, ValueStatus.MISSING, ValueStatus.PRESENT
TTL = 3600


@pytest.fixture(params=["sqlite", "redis"])
async def fs(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[FeatureStore]:
    """An embedded store whose online store is SQLite or Redis (a key prefix of its own)."""
    options: dict[str, str] = {}
    prefix = f"fstore_fresh_{uuid.uuid4().hex[:12]}:"
    server = None
    if request.param == "redis":
        server = request.getfixturevalue("redis_url")
        options["online_url"] = f"{server}?prefix={prefix}"
    try:
        async with FeatureStore(home=tmp_path / "fstore", actor="tester", **options) as store:
            await store.create_entity(Entity(name="customer", join_key="customer_id"))
            await store.create_feature(Feature(name="balance", entity="customer", ttl_seconds=TTL))
            await store.create_feature(Feature(name="age", entity="customer"))
            yield store
    finally:
        if server is not None:
            delete_prefix(server, prefix)


async def online_value(fs: FeatureStore, feature: str, eid: str) -> object:
    """What the online store itself holds (no read-through)."""
    return (await fs.online.read("customer", [eid], [feature]))[0][0]


async def test_serving_and_training_agree_at_the_same_time(fs: FeatureStore) -> None:
    now = datetime.now(UTC)
    rows = [
        {"entity_id": "c1", "value": 1.0, "event_timestamp": now - timedelta(hours=3)},
        {"entity_id": "c1", "value": 2.0, "event_timestamp": now - timedelta(hours=2)},  # newest: expired
        {"entity_id": "c2", "value": 3.0, "event_timestamp": now - timedelta(minutes=10)},
        {"entity_id": "c4", "value": 4.0, "event_timestamp": now - timedelta(seconds=TTL - 60)},
    ]
    await fs.store_feature_values("balance", rows)
    await fs.store_feature_values(
        "age",
        [
            {"entity_id": e, "value": 30.0, "event_timestamp": now - timedelta(days=400)}
            for e in ["c1", "c2", "c3", "c4"]
        ],
    )
    ids = ["c1", "c2", "c3", "c4"]

    one = await fs.get_feature_value("balance", "c1")
    assert one is not None and one.status is EXPIRED
    assert one.value is None and one.transformed is None
    assert one.event_timestamp == now - timedelta(hours=2)
    fresh = await fs.get_feature_value("balance", "c2")
    assert fresh is not None and fresh.status is PRESENT and fresh.value == 3.0
    assert await fs.get_feature_value("balance", "c3") is None

    vector = await fs.get_feature_vector(["balance", "age"], ids)
    served_at = datetime.now(UTC)
    assert vector.values["balance"] == [None, 3.0, None, 4.0]
    assert vector.statuses == {"balance": [EXPIRED, PRESENT, MISSING, PRESENT]}  # age: all present
    assert vector.status("age") == [PRESENT] * 4
    assert vector.values["age"] == [30.0] * 4  # no TTL: never expires

    # a training row at the serving time gets a value exactly where serving found one present
    training = await fs.get_historical_features(
        pd.DataFrame({"customer_id": ids, "event_timestamp": [served_at] * 4}), ["balance", "age"]
    )
    trained = [None if math.isnan(v) else v for v in training["balance"]]
    assert trained == vector.values["balance"]
    assert list(training["age"]) == vector.values["age"]

    # the expired value never went online, and serving it did not bring it back
    assert await online_value(fs, "balance", "c1") is None
    assert (await online_value(fs, "balance", "c2"))[1] == 3.0  # type: ignore[index]


async def test_a_value_expires_while_it_is_served(fs: FeatureStore) -> None:
    await fs.create_feature(Feature(name="short", entity="customer", ttl_seconds=1))
    event = datetime.now(UTC) - timedelta(milliseconds=400)
    await fs.store_feature_value("short", "c1", 5.0, event)
    got = await fs.get_feature_value("short", "c1")
    assert got is not None and got.status is PRESENT and got.value == 5.0
    assert (await online_value(fs, "short", "c1"))[1] == 5.0  # type: ignore[index]
    await asyncio.sleep(max(0.0, (event + timedelta(seconds=1.05) - datetime.now(UTC)).total_seconds()))
    got = await fs.get_feature_value("short", "c1")
    assert got is not None and got.status is EXPIRED and got.value is None
    vector = await fs.get_feature_vector(["short"], ["c1"])
    assert vector.values == {"short": [None]} and vector.statuses == {"short": [EXPIRED]}
    if "redis" in fs.settings.resolved_online_url():
        # Redis dropped the key at event time + TTL; the read-through did not write it back
        assert await online_value(fs, "short", "c1") is None


async def test_ingest_and_materialize_never_write_expired_values_online(fs: FeatureStore) -> None:
    now = datetime.now(UTC)
    frame = pd.DataFrame(
        {
            "customer_id": ["old", "new"],
            "event_timestamp": [now - timedelta(hours=5), now - timedelta(minutes=1)],
            "balance": [1.0, 2.0],
            "age": [40.0, 41.0],
        }
    )
    await fs.ingest(frame)
    assert await online_value(fs, "balance", "old") is None
    assert (await online_value(fs, "balance", "new"))[1] == 2.0  # type: ignore[index]
    assert (await online_value(fs, "age", "old"))[1] == 40.0  # type: ignore[index]  # no TTL

    for name in ("balance", "age"):
        await fs.online.delete_feature("customer", name)
    await fs.materialize()
    assert await online_value(fs, "balance", "old") is None
    assert (await online_value(fs, "balance", "new"))[1] == 2.0  # type: ignore[index]
    assert (await online_value(fs, "age", "old"))[1] == 40.0  # type: ignore[index]
    vector = await fs.get_feature_vector(["balance"], ["old", "new"])
    assert vector.values == {"balance": [None, 2.0]}
    assert vector.statuses == {"balance": [EXPIRED, PRESENT]}
    assert await online_value(fs, "balance", "old") is None  # not brought back by the read
