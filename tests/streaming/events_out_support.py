"""Reading a value-change topic back in the events-out tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from uuid import uuid4

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from fstore import FeatureStore
from fstore.models import Entity, Feature, TransformerSpec
from fstore.streaming.events import FeatureValueEvent

T1, T2 = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"


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


async def registered(fs: FeatureStore) -> FeatureStore:
    await fs.create_entity(Entity(name="customer", join_key="customer_id"))
    await fs.create_feature(
        Feature(name="amount", entity="customer"), transformer=TransformerSpec(kind="standard_scaler")
    )
    await fs.create_feature(Feature(name="method", entity="customer", type="categorical"))
    return fs


def cli_env(home: Path, bootstrap: str, topic_prefix: str) -> dict[str, str]:
    return {
        **os.environ,
        "FSTORE_HOME": str(home),
        "FSTORE_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "FSTORE_KAFKA_TOPIC_PREFIX": topic_prefix,
    }


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "fstore.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc
