"""Events out: every acknowledged write (SDK, API, CLI) publishes one ``FeatureValueEvent`` per
stored row to ``<prefix>feature-values``, keyed by entity; values re-sent unchanged publish
nothing. Against the real broker (Tansu) and the embedded and PostgreSQL offline stores."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pandas as pd
import pytest
from events_out_support import T1, T2, cli, cli_env, prefix, read_events, registered

from fstore import FeatureStore
from fstore.api import create_app
from fstore.streaming.events import FeatureValueEvent
from fstore.streaming.publisher import event_id
from server_postgres import drop_schema

T3 = "2026-01-03T00:00:00Z"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@pytest.fixture(params=["embedded", "postgres"])
async def kafka_store(
    request: pytest.FixtureRequest, tmp_path: Path, kafka_bootstrap: str, postgres_url: str
) -> AsyncIterator[FeatureStore]:
    """A store publishing to a topic prefix of its own (embedded, or PostgreSQL offline)."""
    extra: dict[str, Any] = {}
    schema = f"test_{uuid4().hex[:12]}"
    if request.param == "postgres":
        extra["offline_url"] = f"{postgres_url}?schema={schema}"
    fs = FeatureStore(
        home=tmp_path / "fstore",
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic_prefix=prefix(),
        **extra,
    )
    try:
        async with fs:
            yield await registered(fs)
    finally:
        if request.param == "postgres":
            drop_schema(postgres_url, schema)


def by_key(events: list[tuple[bytes, FeatureValueEvent]]) -> dict[bytes, list[FeatureValueEvent]]:
    out: dict[bytes, list[FeatureValueEvent]] = {}
    for key, event in events:
        out.setdefault(key, []).append(event)
    return out


async def test_sdk_writes_publish_one_event_per_stored_row(
    kafka_store: FeatureStore, kafka_bootstrap: str
) -> None:
    fs = kafka_store
    rows = [
        {"entity_id": "c1", "value": 10.0, "event_timestamp": T1},
        {"entity_id": "c1", "value": 20.0, "event_timestamp": T2},
        {"entity_id": "c2", "value": 30.0, "event_timestamp": T1},
    ]
    assert (await fs.store_feature_values("amount", rows)).stored == 3
    assert (await fs.store_feature_values("amount", rows)).unchanged == 3  # re-sent: no events
    await fs.fit_transformer("amount")
    correction = await fs.store_feature_value("amount", "c1", 15.0, T1)  # supersedes c1@T1
    assert correction.stored == 1
    mixed = [
        {"entity_id": "c2", "value": 30.0, "event_timestamp": T1},
        {"entity_id": "c4", "value": 7.0, "event_timestamp": T1},
    ]
    assert (await fs.store_feature_values("amount", mixed)).stored == 1  # read back: only c4's row
    wide = pd.DataFrame(
        {"customer_id": ["c2", "c3"], "event_timestamp": [at(T3), at(T3)], "amount": [5.0, 6.0]}
        | {"method": ["pix", "card"]}
    )
    await fs.ingest(wide)
    await fs.ingest(wide)  # unchanged again
    topic = f"{fs.settings.kafka_topic_prefix}feature-values"
    history = await fs.get_feature_history("amount", include_superseded=True)
    await fs.close()  # drains what is left
    events = read_events(kafka_bootstrap, topic, expected=9)
    assert len(events) == 9, [e.model_dump() for _, e in events]
    assert len({e.event_id for _, e in events}) == 9
    keys = by_key(events)
    assert set(keys) == {b"customer:c1", b"customer:c2", b"customer:c3", b"customer:c4"}
    for key, evs in keys.items():
        assert all(key == f"{e.entity}:{e.entity_id}".encode() for e in evs)
        # one entity's events in the order they were written
        order = [(e.ingested_at, e.feature, e.event_timestamp) for e in evs]
        assert order == sorted(order)
    # partitions interleave: across entities, sort by write
    amounts = sorted(
        (e for _, e in events if e.feature == "amount"), key=lambda e: (e.ingested_at, e.entity_id)
    )
    assert [(e.entity_id, e.value, e.event_timestamp) for e in amounts] == [
        ("c1", 10.0, at(T1)),
        ("c1", 20.0, at(T2)),
        ("c2", 30.0, at(T1)),
        ("c1", 15.0, at(T1)),
        ("c4", 7.0, at(T1)),
        ("c2", 5.0, at(T3)),
        ("c3", 6.0, at(T3)),
    ]
    assert all(e.source == "sdk" and e.entity == "customer" for _, e in events)
    assert [e.transformed is None for e in amounts] == [True] * 3 + [False] * 4  # fitted since
    assert amounts[3].feature_version != amounts[0].feature_version
    # the event id and the ingestion time are those of the stored row: a re-publication of the
    # same row carries the same id
    stored = {
        (r["entity_id"], r["event_timestamp"], r["value"]): r["ingested_at"] for r in history.to_pylist()
    }
    for e in amounts:
        ingested = stored[(e.entity_id, e.event_timestamp, e.value)]
        assert e.ingested_at == ingested
        fid = e.feature
        assert e.event_id == event_id(fid, e.entity_id, micros(e.event_timestamp), micros(ingested))
    methods = sorted((e.entity_id, e.value) for _, e in events if e.feature == "method")
    assert methods == [("c2", "pix"), ("c3", "card")]
    reopened = FeatureStore(fs.settings)
    async with reopened:
        assert await reopened.offline.outbox_backlog() == 0


def micros(when: datetime) -> int:
    return int(when.timestamp()) * 1_000_000 + when.microsecond


async def test_api_writes_publish_events_tagged_api(tmp_path: Path, kafka_bootstrap: str) -> None:
    fs = FeatureStore(
        home=tmp_path / "fstore", kafka_bootstrap_servers=kafka_bootstrap, kafka_topic_prefix=prefix()
    )
    async with fs:
        await registered(fs)
        app = create_app(fs, fs.settings.model_copy(update={"dev_mode": True, "auth_disabled": True}))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
        ):
            await fs.store_feature_value("amount", "c9", 9.0, T1)  # the SDK, beside the API
            one = {"entity_id": "c1", "value": 1.5, "event_timestamp": T1}
            assert (await client.post("/api/v1/features/amount/values", json=one)).status_code == 201
            batch = {"values": [{"entity_id": "c2", "value": 2.5, "event_timestamp": T1}, one]}
            answer = await client.post("/api/v1/features/amount/values/batch", json=batch)
            assert answer.status_code == 201, answer.text
            for _ in range(300):  # the server publishes in the background (an idle-priority child)
                metrics = (await client.get("/metrics")).text
                if "fstore_events_published_total 3.0" in metrics and "backlog 0.0" in metrics:
                    break
                await asyncio.sleep(0.1)
            assert "fstore_events_published_total 3.0" in metrics
            assert "fstore_outbox_backlog 0.0" in metrics
        topic = f"{fs.settings.kafka_topic_prefix}feature-values"
    events = read_events(kafka_bootstrap, topic, expected=3)
    assert sorted((e.entity_id, e.value, e.source) for _, e in events) == [
        ("c1", 1.5, "api"),
        ("c2", 2.5, "api"),
        ("c9", 9.0, "sdk"),
    ]


async def test_cli_ingest_publishes_events_tagged_cli(tmp_path: Path, kafka_bootstrap: str) -> None:
    home, topic_prefix = tmp_path / "fstore", prefix()
    async with FeatureStore(home=home) as fs:  # registered without Kafka: no events from here
        await registered(fs)
    data = tmp_path / "values.csv"
    data.write_text(f"customer_id,event_timestamp,amount\nc1,{T1},1.0\nc2,{T1},2.0\nc1,{T2},3.0\n")
    env = cli_env(home, kafka_bootstrap, topic_prefix)
    cli(env, "ingest", str(data))
    cli(env, "ingest", str(data))  # a re-run stores nothing, publishes nothing
    events = read_events(kafka_bootstrap, f"{topic_prefix}feature-values", expected=3)
    assert [(k, e.entity_id, e.value, e.source) for k, e in events if k == b"customer:c1"] == [
        (b"customer:c1", "c1", 1.0, "cli"),
        (b"customer:c1", "c1", 3.0, "cli"),
    ]
    assert len(events) == 3
