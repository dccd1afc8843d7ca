"""The Feature Processor while the online store (Redis) is down: the offline commit is the
acknowledgement, so consumption goes on — nothing paused, lost or dead-lettered — and the
repair ledger brings the online copy up to date once Redis answers again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

from processor_helpers import create_topics, event, health, kafka_settings, metric, produce, wait_until

from fstore import FeatureStore
from fstore.backends import create_online_store
from fstore.config import Settings
from fstore.models import Entity, Feature
from fstore.streaming.kafka import topics
from fstore.streaming.processor import ProcessorOptions, run_processor
from server_postgres import create_database, drop_database, postgres_db_url
from server_redis import RedisServer, free_port, raw_client

CUSTOMERS = 50
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _events(indexes: range) -> list[tuple[bytes, bytes]]:
    """Event ``i``: customer ``i % 50`` had the value ``i`` at ``T0 + i`` seconds."""
    return [
        event("amount", f"c{i % CUSTOMERS}", float(i), (T0 + timedelta(seconds=i)).isoformat())
        for i in indexes
    ]


def _latest(indexes: range) -> dict[str, float]:
    out: dict[str, float] = {}
    for i in indexes:  # increasing times: the last one of a customer is its latest
        out[f"c{i % CUSTOMERS}"] = float(i)
    return out


async def _online(url: str) -> dict[str, float | None]:
    """What Redis itself holds (a store of its own: no fallback to the offline store, no repair)."""
    online = create_online_store(url)
    await online.open()
    try:
        ids = [f"c{c}" for c in range(CUSTOMERS)]
        rows = await online.read("customer", ids, ["amount"])
    finally:
        await online.close()
    return {i: (row[0][1] if row[0] is not None else None) for i, row in zip(ids, rows, strict=True)}


def _stored(settings: Settings) -> int:
    async def count() -> int:
        async with FeatureStore(settings.model_copy(update={"kafka_bootstrap_servers": None})) as store:
            return (await store.get_feature_history("amount", include_superseded=True)).num_rows

    return asyncio.run(count())


async def _wait_online(url: str, want: dict[str, float], seconds: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while (got := await _online(url)) != want:
        if asyncio.get_running_loop().time() > deadline:
            wrong = {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}
            raise AssertionError(f"{what}: {len(wrong)} online values differ, e.g. {list(wrong.items())[:3]}")
        await asyncio.sleep(0.2)


async def test_a_redis_outage_neither_pauses_nor_loses_and_online_is_repaired(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    dbname = create_database()
    redis = RedisServer().start()
    task: asyncio.Task[None] | None = None
    stop = asyncio.Event()
    try:
        online_url = f"{redis.url}?socket_timeout=0.5"
        settings = kafka_settings(
            kafka_bootstrap,
            home=tmp_path / "fs",
            offline_url=postgres_db_url(dbname),
            online_url=online_url,
            online_retry_seconds=0.3,
        )
        create_topics(kafka_bootstrap, topics(settings))
        async with FeatureStore(settings.model_copy(update={"kafka_bootstrap_servers": None})) as store:
            await store.create_entity(Entity(name="customer", join_key="customer_id"))
            await store.create_feature(Feature(name="amount", entity="customer"))
        port = free_port()
        options = ProcessorOptions(group_id=f"g{uuid4().hex[:6]}", batch_size=200)
        task = asyncio.create_task(run_processor(settings, options, metrics_port=port, stop=stop))
        ingest = topics(settings).ingest

        before, during, after = range(0, 1000), range(1000, 2000), range(2000, 2010)
        await asyncio.to_thread(produce, kafka_bootstrap, ingest, _events(before))
        await _wait_online(online_url, _latest(before), 30, "before the outage")

        raw = raw_client(redis.url)
        raw.save()  # the restarted server loads this snapshot: Redis was down, not wiped
        raw.close()
        redis.stop()
        await asyncio.to_thread(produce, kafka_bootstrap, ingest, _events(during))
        await asyncio.to_thread(wait_until, lambda: _stored(settings) == 2000, 30, "2000 stored values")
        await asyncio.to_thread(
            wait_until,
            lambda: metric(port, "fstore_processor_events_processed_total") == 2000,
            10,
            "2000 events processed and committed",
        )
        assert health(port)["status"] == "running"  # the online store is not a reason to pause
        assert metric(port, "fstore_processor_paused") == 0
        assert metric(port, "fstore_processor_events_failed_total") == 0
        assert metric(port, "fstore_processor_events_dead_lettered_total") == 0

        redis.start()
        assert await _online(online_url) == _latest(before), "Redis missed the writes of the outage"
        # the next write after Redis is back repairs the features the ledger names; c0…c9 get
        # newer values from it, the others only from the repair
        await asyncio.to_thread(produce, kafka_bootstrap, ingest, _events(after))
        want = _latest(before) | _latest(during) | _latest(after)
        await _wait_online(online_url, want, 30, "after the repair")
        await asyncio.to_thread(  # (online is written before the batch's offsets are committed)
            wait_until,
            lambda: metric(port, "fstore_processor_events_processed_total") == 2010,
            10,
            "2010 events processed and committed",
        )
        assert metric(port, "fstore_processor_events_dead_lettered_total") == 0
        stop.set()
        await asyncio.wait_for(task, 20)
        assert await asyncio.to_thread(_stored, settings) == 2010  # each event once, none lost
    finally:
        if task is not None and not task.done():
            stop.set()
            await asyncio.wait_for(task, 30)
        redis.cleanup()
        drop_database(dbname)
