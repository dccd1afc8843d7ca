"""Two ``fstore processor run`` processes in one group compute aggregation features into
PostgreSQL + Redis, their window state in PostgreSQL; one is SIGKILLed and the other takes
its partitions over, loading their state. The stored aggregates equal pandas."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from pathlib import Path
from uuid import uuid4

import numpy as np
import orjson
import psycopg
from aggregation_reference import assert_same, definition, expected, make_events, stored
from confluent_kafka.admin import AdminClient, NewTopic
from processor_helpers import (
    create_topics,
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
from fstore.streaming.aggregations import STATE_FILE
from fstore.streaming.kafka import topics
from server_postgres import drop_schema
from server_redis import delete_prefix, free_port

FEATURES = (
    ("txn_count", "count", "hopping"),
    ("amount_sum", "sum", "tumbling"),
    ("amount_last", "last", "sliding"),
)


def _setup(settings: Settings, topic: str) -> None:
    async def run() -> None:
        async with FeatureStore(settings) as store:
            await store.create_entity(Entity(name="customer", join_key="customer_id"))
            for name, function, window in FEATURES:
                feature = definition(name, function, window)
                feature["aggregation"]["source_topic"] = topic
                await store.create_feature(feature)

    asyncio.run(run())


def _all_equal(settings: Settings, events: object) -> bool:
    async def check() -> bool:
        async with FeatureStore(settings) as store:
            for name, function, window in FEATURES:
                try:
                    assert_same(await stored(store, name), expected(events, function, window))  # type: ignore[arg-type]
                except AssertionError:
                    return False
        return True

    return asyncio.run(check())


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)


def test_two_processors_share_aggregation_state_in_postgres_and_one_takes_over(
    kafka_bootstrap: str, tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    tag = uuid4().hex[:10]
    home = tmp_path / "fs"
    settings = kafka_settings(
        kafka_bootstrap,
        home=home,
        offline_url=f"{postgres_url}?schema=aggp_{tag}",
        online_url=f"{redis_url}?prefix=aggp_{tag}:",
    )
    create_topics(kafka_bootstrap, topics(settings))
    source = f"{settings.kafka_topic_prefix}transactions"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.create_topics([NewTopic(source, 4, 1)]).values():
        future.result(10)
    events = make_events(n=3000, seed=41)
    events["customer"] = [f"c{i}" for i in np.random.default_rng(41).integers(0, 40, len(events))]
    messages = [
        (row["customer"].encode(), orjson.dumps({k: (None if v != v else v) for k, v in row.items()}))
        for row in events.to_dict("records")
    ]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        _setup(settings, source)
        ports = free_port(), free_port()
        procs = [
            start_processor(
                settings, home, "--batch-size", "200", "--max-batch-size", "200", "--metrics-port", str(p)
            )
            for p in ports
        ]

        def sources(port: int) -> int:
            return sum(1 for tp in health(port).get("assigned", []) if tp.startswith(source))

        wait_until(lambda: all(sources(p) == 2 for p in ports), 60, "two source partitions each")
        produce(kafka_bootstrap, source, messages[:1500])
        wait_until(
            lambda: (
                all(metric(p, "fstore_processor_events_processed_total") > 0 for p in ports)
                and sum(metric(p, "fstore_processor_events_processed_total") for p in ports) >= 1500
            ),
            60,
            "both processors at work on the first half",
        )
        _kill(procs[1])
        produce(kafka_bootstrap, source, messages[1500:])
        wait_until(lambda: _all_equal(settings, events), 120, "the aggregates of every event")
        assert sources(ports[0]) == 4
    finally:
        for proc in procs:
            _kill(proc)
        with psycopg.connect(postgres_url) as conn:
            rows = conn.execute(f"SELECT count(*) FROM aggp_{tag}.fstore_window_positions").fetchone()
        drop_schema(postgres_url, f"aggp_{tag}")
        delete_prefix(redis_url, f"aggp_{tag}:")
    assert rows == (4,)  # the state of all four partitions is in PostgreSQL
    assert not (home / STATE_FILE).exists()
