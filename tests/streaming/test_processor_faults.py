"""The Feature Processor as real processes against the real broker: SIGKILLed mid-stream and
restarted, two processors sharing a group, and the offline store (PostgreSQL) going down."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import threading
import time
from pathlib import Path
from uuid import uuid4

from processor_helpers import (
    allow_connections,
    create_topics,
    event,
    health,
    kafka_settings,
    metric,
    produce,
    start_processor,
    wait_until,
)

from fstore import FeatureStore
from fstore.config import Settings
from fstore.models import Entity, Feature
from fstore.streaming.kafka import topics
from fstore.streaming.processor import ProcessorOptions, run_processor
from server_postgres import create_database, drop_database, postgres_db_url
from server_redis import free_port


def _events(n: int, start: int = 0) -> list[tuple[bytes, bytes]]:
    """``n`` distinct identities over 500 customers (a customer's events share a partition)."""
    return [
        event(
            "amount",
            f"c{i % 500}",
            float(i),
            f"2026-01-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
        )
        for i in range(start, start + n)
    ]


def _stored(settings: Settings, superseded: bool = False) -> int:
    async def count() -> int:
        async with FeatureStore(settings) as store:
            return (await store.get_feature_history("amount", include_superseded=superseded)).num_rows

    return asyncio.run(count())


def _setup(settings: Settings) -> None:
    async def run() -> None:
        async with FeatureStore(settings) as store:
            await store.create_entity(Entity(name="customer", join_key="customer_id"))
            await store.create_feature(
                Feature(name="amount", entity="customer"), transformer="standard_scaler"
            )

    asyncio.run(run())


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)


def test_a_processor_killed_mid_stream_and_restarted_stores_every_event_once(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    home = tmp_path / "fs"
    settings = kafka_settings(kafka_bootstrap, home=home)
    create_topics(kafka_bootstrap, topics(settings))
    _setup(settings)
    total, port = 12_000, free_port()
    # a steady stream, so the kill lands while events keep coming
    feeder = threading.Thread(
        target=lambda: [
            (produce(kafka_bootstrap, topics(settings).ingest, _events(1000, s)), time.sleep(0.25))
            for s in range(0, total, 1000)
        ]
    )
    proc = start_processor(
        settings, home, "--batch-size", "300", "--max-batch-size", "300", "--metrics-port", str(port)
    )
    try:
        feeder.start()
        wait_until(
            lambda: metric(port, "fstore_processor_events_processed_total") >= 1000, 30, "a first batch"
        )
        proc.kill()  # SIGKILL: no shutdown, possibly in the middle of a write
        proc.wait(10)
        killed_at = _stored(settings)
        assert 0 < killed_at < total, killed_at
        proc = start_processor(settings, home, "--batch-size", "300", "--max-batch-size", "300")
        feeder.join(30)
        wait_until(lambda: _stored(settings) == total, 60, f"{total} stored values")
        _stop(proc)
        assert proc.returncode == 0, "SIGTERM is a clean stop"
    finally:
        proc.kill()
    assert _stored(settings, superseded=True) == total  # none twice, none lost


def test_two_processors_share_the_partitions_and_one_takes_over(kafka_bootstrap: str, tmp_path: Path) -> None:
    home = tmp_path / "fs"
    settings = kafka_settings(kafka_bootstrap, home=home)
    create_topics(kafka_bootstrap, topics(settings))
    _setup(settings)
    ports = free_port(), free_port()
    procs = [start_processor(settings, home, "--metrics-port", str(p)) for p in ports]
    try:
        wait_until(
            lambda: all(len(health(p).get("assigned", [])) == 2 for p in ports), 30, "two partitions each"
        )
        produce(kafka_bootstrap, topics(settings).ingest, _events(4000))
        wait_until(lambda: _stored(settings) == 4000, 30, "4000 stored values")
        assert all(metric(p, "fstore_processor_events_processed_total") > 0 for p in ports)
        procs[1].kill()
        procs[1].wait(10)
        produce(kafka_bootstrap, topics(settings).ingest, _events(4000, 4000))
        wait_until(lambda: _stored(settings) == 8000, 40, "8000 stored values")
        assert len(health(ports[0])["assigned"]) == 4
        _stop(procs[0])
    finally:
        for proc in procs:
            proc.kill()
    assert _stored(settings, superseded=True) == 8000


async def test_an_offline_store_outage_pauses_consumption_and_loses_nothing(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    dbname = create_database()
    task: asyncio.Task[None] | None = None
    stop = asyncio.Event()
    try:
        settings = kafka_settings(
            kafka_bootstrap, home=tmp_path / "fs", offline_url=f"{postgres_db_url(dbname)}?pool_timeout=1"
        )
        create_topics(kafka_bootstrap, topics(settings))
        await asyncio.to_thread(_setup, settings)
        port = free_port()
        options = ProcessorOptions(group_id=f"g{uuid4().hex[:6]}", batch_size=500, max_backoff=0.5)
        task = asyncio.create_task(run_processor(settings, options, metrics_port=port, stop=stop))
        ingest = topics(settings).ingest
        await asyncio.to_thread(produce, kafka_bootstrap, ingest, _events(1000))
        await asyncio.to_thread(wait_until, lambda: _stored(settings) == 1000, 30, "1000 stored values")

        await asyncio.to_thread(allow_connections, dbname, False)
        await asyncio.to_thread(produce, kafka_bootstrap, ingest, _events(1000, 1000))
        await asyncio.to_thread(wait_until, lambda: health(port).get("status") == "paused", 20, "a pause")
        assert metric(port, "fstore_processor_paused") == 1
        await asyncio.sleep(1.5)  # several retries while it is down
        assert metric(port, "fstore_processor_events_failed_total") >= 1000
        assert metric(port, "fstore_processor_events_dead_lettered_total") == 0

        await asyncio.to_thread(allow_connections, dbname, True)
        await asyncio.to_thread(wait_until, lambda: _stored(settings) == 2000, 30, "2000 stored values")
        await asyncio.to_thread(wait_until, lambda: health(port).get("status") == "running", 10, "resumed")
        assert metric(port, "fstore_processor_events_processed_total") == 2000
        assert metric(port, "fstore_processor_events_dead_lettered_total") == 0
        stop.set()
        await asyncio.wait_for(task, 15)
        assert await asyncio.to_thread(_stored, settings, True) == 2000
    finally:
        await asyncio.to_thread(allow_connections, dbname, True)
        if task is not None and not task.done():
            stop.set()
            await asyncio.wait_for(task, 30)
        drop_database(dbname)
