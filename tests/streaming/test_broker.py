"""The test broker speaks Kafka: a keyed message round-trips through a consumer group."""

from __future__ import annotations

import time
from uuid import uuid4

from confluent_kafka import Consumer, Producer

from fstore.streaming.events import FeatureValueEvent, entity_key


def test_the_broker_round_trips_an_event(kafka_bootstrap: str) -> None:
    topic = f"t{uuid4().hex[:10]}.feature-values"
    event = FeatureValueEvent(
        event_id="e1",
        feature="amount",
        feature_version="1.0.0",
        entity="customer",
        entity_id="c1",
        value=1.5,
        transformed=None,
        event_timestamp="2026-01-01T00:00:00Z",  # type: ignore[arg-type]
        ingested_at="2026-01-01T00:00:01Z",  # type: ignore[arg-type]
        source="sdk",
    )
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    producer.produce(topic, key=entity_key("customer", "c1"), value=event.model_dump_json().encode())
    assert producer.flush(10) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"g{uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 3000,
            "heartbeat.interval.ms": 1000,
        }
    )
    consumer.subscribe([topic])
    deadline = time.monotonic() + 20
    msg = None
    while msg is None and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and msg.error():
            msg = None
    consumer.close()
    assert msg is not None, "no message within 20 s"
    assert msg.key() == b"customer:c1"
    assert FeatureValueEvent.model_validate_json(msg.value()) == event
