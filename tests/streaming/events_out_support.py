"""Reading a value-change topic back in the events-out tests."""

from __future__ import annotations

import time
from uuid import uuid4

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from fstore.streaming.events import FeatureValueEvent


def prefix() -> str:
    """A topic prefix of the test's own."""
    return f"t{uuid4().hex[:10]}."


def read_events(
    bootstrap: str, topic: str, expected: int, wait: float = 30.0, settle: float = 1.0
) -> list[tuple[bytes, FeatureValueEvent]]:
    """Every message of ``topic`` as (key, validated event), partition by partition in offset
    order: reads until ``expected`` arrived, then ``settle`` seconds more (to see extra ones),
    or until ``wait`` ran out. Partitions are assigned (no group join to wait for)."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"g{uuid4().hex[:8]}", "enable.auto.commit": False}
    )
    out: list[tuple[bytes, FeatureValueEvent]] = []
    try:
        deadline = time.monotonic() + wait
        partitions: list[int] = []
        while not partitions and time.monotonic() < deadline:
            try:
                meta = consumer.list_topics(topic, timeout=5)
            except KafkaException:
                meta = None
            found = meta.topics.get(topic) if meta is not None else None
            if found is not None and found.error is None and found.partitions:
                partitions = sorted(found.partitions)
            else:
                time.sleep(0.2)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        end = deadline
        while time.monotonic() < end:
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            out.append((msg.key(), FeatureValueEvent.model_validate_json(msg.value())))
            if len(out) >= expected:
                end = min(deadline, time.monotonic() + settle)
    finally:
        consumer.close()
    return out
