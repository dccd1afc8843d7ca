"""Events out when the broker is down: the write succeeds at once, its events wait in the
durable outbox and reach Kafka once the broker is back — from the writing process, or from a
later one when the writer (a CLI run) has exited meanwhile."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from events_out_support import T1, T2, cli, cli_env, prefix, read_events, registered

from fstore import FeatureStore
from server_kafka import TansuBroker


async def test_a_write_while_the_broker_is_down_is_published_when_it_is_back(tmp_path: Path) -> None:
    broker = TansuBroker().start()
    try:
        fs = FeatureStore(
            home=tmp_path / "fstore", kafka_bootstrap_servers=broker.bootstrap, kafka_topic_prefix=prefix()
        )
        async with fs:
            await registered(fs)
            await fs.store_feature_value("amount", "c0", 0.5, T1)  # the producer is connected
            for _ in range(100):
                if fs.events.published == 1:
                    break
                await asyncio.sleep(0.1)
            assert fs.events.published == 1
            broker.stop()
            started = time.perf_counter()
            result = await fs.store_feature_values(
                "amount",
                [
                    {"entity_id": "c1", "value": 1.0, "event_timestamp": T1},
                    {"entity_id": "c2", "value": 2.0, "event_timestamp": T2},
                ],
            )
            assert result.stored == 2
            assert time.perf_counter() - started < 1.0  # the write does not wait for Kafka
            assert await fs.offline.outbox_backlog() >= 1  # (the first one's removal is batched)
            await asyncio.sleep(3)
            assert fs.events.published == 1  # nowhere to publish to
            broker.start()  # memory storage: the topic is created again, empty
            for _ in range(600):
                if fs.events.published == 3 and await fs.offline.outbox_backlog() == 0:
                    break
                await asyncio.sleep(0.1)
            assert fs.events.published == 3
            assert await fs.offline.outbox_backlog() == 0
            topic = f"{fs.settings.kafka_topic_prefix}feature-values"
        events = read_events(broker.bootstrap, topic, expected=2)
        assert sorted((e.entity_id, e.value) for _, e in events) == [("c1", 1.0), ("c2", 2.0)]
    finally:
        broker.stop()


async def test_a_cli_run_during_an_outage_leaves_its_events_to_a_later_process(tmp_path: Path) -> None:
    broker = TansuBroker()  # not started: the broker is down while the CLI runs
    home, topic_prefix = tmp_path / "fstore", prefix()
    async with FeatureStore(home=home) as fs:
        await registered(fs)
    data = tmp_path / "values.csv"
    data.write_text(f"customer_id,event_timestamp,amount\nc1,{T1},1.0\nc2,{T1},2.0\nc1,{T2},3.0\n")
    started = time.perf_counter()
    cli(cli_env(home, broker.bootstrap, topic_prefix), "ingest", str(data))
    assert time.perf_counter() - started < 30  # the CLI gives up publishing after a bounded wait
    async with FeatureStore(home=home) as fs:  # no Kafka configured: the outbox is only read
        assert await fs.offline.outbox_backlog() == 1
    broker.start()
    try:
        later = FeatureStore(
            home=home, kafka_bootstrap_servers=broker.bootstrap, kafka_topic_prefix=topic_prefix
        )
        async with later:  # any process using the store publishes what others left
            for _ in range(600):
                if later.events.published == 3 and await later.offline.outbox_backlog() == 0:
                    break
                await asyncio.sleep(0.1)
            assert later.events.published == 3
            assert await later.offline.outbox_backlog() == 0
        events = read_events(broker.bootstrap, f"{topic_prefix}feature-values", expected=3)
        assert sorted((e.entity_id, e.value, e.source) for _, e in events) == [
            ("c1", 1.0, "cli"),
            ("c1", 3.0, "cli"),
            ("c2", 2.0, "cli"),
        ]
    finally:
        broker.stop()
