"""The Feature Processor maintaining aggregation features on PostgreSQL (+ Redis) under faults:
a real ``fstore processor run`` SIGKILLed mid-stream and restarted, and PostgreSQL going down
mid-stream. Either way the offline history (and the online values) equal pandas over every
event — none counted twice, none lost — late and out-of-order events included."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from uuid import uuid4

import orjson
import pandas as pd
from aggregation_reference import assert_same, definition, expected, make_events, stored
from confluent_kafka.admin import AdminClient, NewTopic
from processor_helpers import (
    allow_connections,
    health,
    kafka_settings,
    metric,
    produce,
    start_processor,
    wait_until,
)

from fstore import FeatureStore
from fstore.config import Settings
from fstore.models import Entity
from fstore.streaming.processor import ProcessorOptions, run_processor
from server_postgres import create_database, drop_database, postgres_db_url
from server_redis import delete_prefix, free_port

FEATURES = (
    ("txn_count", "count", "hopping"),
    ("amount_sum", "sum", "tumbling"),
    ("amount_mean", "mean", "sliding"),
)
CHUNK = 100


def _create_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(topic, 3, 1)]).values():
        future.result(10)


def _rows(events: pd.DataFrame) -> list[tuple[bytes, bytes]]:
    return [
        (str(row["customer"]).encode(), orjson.dumps({k: (None if v != v else v) for k, v in row.items()}))
        for row in events.to_dict("records")
    ]


async def _setup(settings: Settings, topic: str) -> None:
    async with FeatureStore(settings.model_copy(update={"kafka_bootstrap_servers": None})) as store:
        await store.create_entity(Entity(name="customer", join_key="customer_id"))
        for name, function, window in FEATURES:
            feature = definition(name, function, window)
            feature["aggregation"]["source_topic"] = topic
            await store.create_feature(feature)


async def _current(settings: Settings) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, float | None]]]:
    """Each feature's stored windows (offline history) and what the online store holds."""
    async with FeatureStore(settings.model_copy(update={"kafka_bootstrap_servers": None})) as store:
        history = {name: await stored(store, name) for name, _, _ in FEATURES}
        ids = [f"c{i}" for i in range(6)]
        names = [name for name, _, _ in FEATURES]
        rows = await store.online.read("customer", ids, names)
    online = {
        name: {i: (row[j][1] if row[j] is not None else None) for i, row in zip(ids, rows, strict=True)}
        for j, name in enumerate(names)
    }
    return history, online


def _matches(settings: Settings, want: dict[str, pd.DataFrame]) -> bool:
    history, _ = asyncio.run(_current(settings))
    try:
        for name, _, _ in FEATURES:
            assert_same(history[name], want[name])
    except AssertionError:
        return False
    return True


def test_a_killed_aggregating_processor_counts_every_event_once(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    dbname, tag = create_database(), f"t{uuid4().hex[:10]}:"
    home = tmp_path / "fs"
    settings = kafka_settings(
        kafka_bootstrap,
        home=home,
        offline_url=postgres_db_url(dbname),
        online_url=f"{redis_url}?prefix={tag}",
    )
    topic = f"{settings.kafka_topic_prefix}transactions"
    _create_topic(kafka_bootstrap, topic)
    asyncio.run(_setup(settings, topic))
    events = make_events(n=1500, seed=29)
    rows = _rows(events)  # keyed by customer: one customer's events keep their order
    want = {name: expected(events, function, window) for name, function, window in FEATURES}
    port = free_port()
    feeder = threading.Thread(
        target=lambda: [
            (produce(kafka_bootstrap, topic, rows[s : s + CHUNK]), time.sleep(0.2))
            for s in range(0, len(rows), CHUNK)
        ]
    )
    proc = start_processor(
        settings, home, "--batch-size", "40", "--max-batch-size", "40", "--metrics-port", str(port)
    )
    try:
        wait_until(lambda: len(health(port).get("assigned", [])) == 3, 60, "the processor's partitions")
        feeder.start()  # a stream of ~3 s: the kill lands in its middle
        wait_until(
            lambda: metric(port, "fstore_processor_events_processed_total") >= 300, 60, "a first batch"
        )
        proc.kill()  # SIGKILL: possibly between the aggregates' write and the commit of offsets
        proc.wait(10)
        assert not _matches(settings, want), "killed before the stream ended"
        proc = start_processor(settings, home, "--batch-size", "40", "--max-batch-size", "40")
        feeder.join(60)
        wait_until(lambda: _matches(settings, want), 90, "the aggregates of every event")
        proc.terminate()
        proc.wait(20)
        assert proc.returncode == 0, "SIGTERM is a clean stop"
        history, online = asyncio.run(_current(settings))
        for name, _, _ in FEATURES:
            assert_same(history[name], want[name])
            # online serves each customer's newest window
            newest = want[name].sort_values("end").groupby("entity_id")["value"].last()
            assert online[name] == {e: float(v) for e, v in newest.items()}, name
    finally:
        proc.kill()
        delete_prefix(redis_url, tag)
        drop_database(dbname)


async def test_a_postgres_outage_pauses_the_aggregations_and_loses_nothing(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    dbname = create_database()
    task: asyncio.Task[None] | None = None
    stop = asyncio.Event()
    try:
        settings = kafka_settings(
            kafka_bootstrap, home=tmp_path / "fs", offline_url=f"{postgres_db_url(dbname)}?pool_timeout=1"
        )
        topic = f"{settings.kafka_topic_prefix}transactions"
        _create_topic(kafka_bootstrap, topic)
        await _setup(settings, topic)
        events = make_events(n=600, seed=31)
        rows = _rows(events)
        want = {name: expected(events, function, window) for name, function, window in FEATURES}
        port = free_port()
        options = ProcessorOptions(group_id=f"g{uuid4().hex[:6]}", batch_size=100, max_backoff=0.5)
        task = asyncio.create_task(run_processor(settings, options, metrics_port=port, stop=stop))
        processed = "fstore_processor_events_processed_total"

        await asyncio.to_thread(produce, kafka_bootstrap, topic, rows[:300])
        await asyncio.to_thread(wait_until, lambda: metric(port, processed) == 300, 30, "300 events")
        await asyncio.to_thread(allow_connections, dbname, False)
        await asyncio.to_thread(produce, kafka_bootstrap, topic, rows[300:])
        await asyncio.to_thread(wait_until, lambda: health(port).get("status") == "paused", 20, "a pause")
        await asyncio.to_thread(
            wait_until,
            lambda: metric(port, "fstore_processor_events_failed_total") >= 1,
            10,
            "a failed retry",
        )
        assert metric(port, processed) == 300  # nothing of the outage's batches committed

        await asyncio.to_thread(allow_connections, dbname, True)
        await asyncio.to_thread(wait_until, lambda: metric(port, processed) == 600, 30, "600 events")
        assert health(port)["status"] == "running"
        assert metric(port, "fstore_processor_events_dead_lettered_total") == 0
        stop.set()
        await asyncio.wait_for(task, 20)
        assert await asyncio.to_thread(_matches, settings, want)
    finally:
        await asyncio.to_thread(allow_connections, dbname, True)
        if task is not None and not task.done():
            stop.set()
            await asyncio.wait_for(task, 30)
        drop_database(dbname)
