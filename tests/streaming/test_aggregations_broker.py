"""Aggregations through the real broker: raw events produced to a 3-partition source topic
(keyed by customer), consumed by a consumer-group loop that hands micro-batches to the
``AggregationHandler`` and commits after it returned; stopped half-way and restarted with a
new handler on the same state file. The stored aggregates equal pandas over the events."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from uuid import uuid4

import orjson
from aggregation_reference import assert_same, definition, expected, make_events, stored
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from fstore import FeatureStore
from fstore.streaming.aggregations import AggregationHandler
from fstore.streaming.handlers import Record


def produce(bootstrap: str, topic: str, rows: list[dict]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for row in rows:
        producer.produce(topic, key=row["customer"].encode(), value=orjson.dumps(row))
    assert producer.flush(20) == 0


async def consume(bootstrap: str, group: str, handler: AggregationHandler, expect: int) -> int:
    """Run the consumer loop until ``expect`` records were handled (or 60 s passed)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 3000,
            "heartbeat.interval.ms": 1000,
        }
    )
    consumer.subscribe(list(handler.topics))
    seen, deadline = 0, time.monotonic() + 60
    try:
        while seen < expect and time.monotonic() < deadline:
            messages = await asyncio.to_thread(consumer.consume, 100, 0.5)
            batch = [
                Record(m.topic(), m.partition(), m.offset(), m.key(), m.value(), m.timestamp()[1])
                for m in messages
                if m.error() is None
            ]
            if not batch:
                continue
            assert await handler.handle(batch) == []
            await asyncio.to_thread(consumer.commit, asynchronous=False)
            seen += len(batch)
    finally:
        await asyncio.to_thread(consumer.close)
    return seen


async def test_aggregations_through_the_broker(
    store: FeatureStore, tmp_path: Path, kafka_bootstrap: str
) -> None:
    topic = f"t{uuid4().hex[:10]}.transactions"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)]).values():
        future.result(20)
    for name, function in (("txn_count", "count"), ("amount_sum", "sum"), ("amount_last", "last")):
        feature = definition(name, function, "hopping")
        feature["aggregation"]["source_topic"] = topic
        await store.create_feature(feature)

    events = make_events(n=400, seed=17)
    rows = [{k: (None if v != v else v) for k, v in row.items()} for row in events.to_dict("records")]
    group = f"g{uuid4().hex[:8]}"
    produce(kafka_bootstrap, topic, rows[:200])
    first = await AggregationHandler.open(store, tmp_path / "state.sqlite")
    assert await consume(kafka_bootstrap, group, first, 200) == 200
    await first.engine.state.close()

    produce(kafka_bootstrap, topic, rows[200:])
    second = await AggregationHandler.open(store, tmp_path / "state.sqlite")
    assert await consume(kafka_bootstrap, group, second, 200) == 200

    # one entity's events share a partition, so each entity sees them in produced order
    for name, function in (("txn_count", "count"), ("amount_sum", "sum"), ("amount_last", "last")):
        assert_same(await stored(store, name), expected(events, function, "hopping"))
