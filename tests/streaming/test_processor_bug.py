"""A bug in a handler (an exception that is neither an outage nor an invalid event) stops the
processor: the error is logged with the batch's partitions and offsets, nothing of the batch
is committed or dead-lettered, ``fstore processor run`` exits 70, and the next processor of
the group replays the batch — each event stored once, only the invalid one dead-lettered."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

from processor_helpers import (
    create_topics,
    event,
    kafka_settings,
    metric,
    processor_env,
    produce,
    read_topic,
    start_processor,
    wait_until,
)

from fstore import FeatureStore
from fstore.config import Settings
from fstore.errors import InternalError
from fstore.models import Entity, Feature
from fstore.streaming.kafka import topics
from server_redis import free_port

TOTAL = 600

# ``fstore processor run`` whose handlers raise a KeyError once — after the ingest handler
# stored the batch, the worst moment: the values are in, the offsets are not committed.
FAULTY = """
import sys
import fstore.streaming.processor as processor
from fstore.cli import main

class RaisesOnce:
    def __init__(self, inner):
        self.inner, self.raised = inner, False

    @property
    def topics(self):
        return self.inner.topics

    async def handle(self, records):
        refused = await self.inner.handle(records)
        if not self.raised:
            self.raised = True
            raise KeyError("customer_id")
        return refused

default_handlers = processor.default_handlers

async def faulty(*args, **kwargs):
    return [RaisesOnce(h) for h in await default_handlers(*args, **kwargs)]

processor.default_handlers = faulty
sys.argv[0] = "fstore"
main()
"""


def _stored(settings: Settings) -> int:
    async def count() -> int:
        async with FeatureStore(settings.model_copy(update={"kafka_bootstrap_servers": None})) as store:
            return (await store.get_feature_history("amount", include_superseded=True)).num_rows

    return asyncio.run(count())


def test_a_bug_in_a_handler_stops_the_processor_and_the_batch_is_replayed(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    home = tmp_path / "fs"
    settings = kafka_settings(kafka_bootstrap, home=home)
    create_topics(kafka_bootstrap, topics(settings))

    async def setup() -> None:
        async with FeatureStore(settings) as store:
            await store.create_entity(Entity(name="customer", join_key="customer_id"))
            await store.create_feature(Feature(name="amount", entity="customer"))

    asyncio.run(setup())
    valid = [
        event("amount", f"c{i}", float(i), f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z")
        for i in range(TOTAL)
    ]
    produce(kafka_bootstrap, topics(settings).ingest, [(b"customer:bad", b"{not json"), *valid])

    log_path = home / "faulty.log"
    with log_path.open("wb") as log:
        proc = subprocess.run(
            [sys.executable, "-c", FAULTY, "processor", "run", "--batch-size", "2000"],
            env=processor_env(settings, home),
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=60,
            check=False,
        )
    output = log_path.read_text()
    assert proc.returncode == InternalError.exit_code == 70, output
    assert "KeyError" in output and "error: the processor stopped on an unexpected error" in output
    assert re.search(r"ingest\[\d\]@\d+-\d+", output), "the log names the batch's partitions and offsets"
    assert not re.search(r"dead letter \S+\[\d+\]@\d+", output), "nothing dead-lettered"
    stored_by_the_faulty_run = _stored(settings)

    port = free_port()
    proc2 = start_processor(settings, home, "--metrics-port", str(port))
    try:
        # nothing was committed: the whole topic is handled again (the stored part as no-ops)
        wait_until(
            lambda: (
                metric(port, "fstore_processor_events_processed_total") == TOTAL
                and metric(port, "fstore_processor_events_dead_lettered_total") >= 1
            ),
            60,
            f"{TOTAL} events and a dead letter",
        )
        assert metric(port, "fstore_processor_events_dead_lettered_total") == 1
        proc2.terminate()
        proc2.wait(20)
        assert proc2.returncode == 0
    finally:
        proc2.kill()
    assert 0 < stored_by_the_faulty_run <= TOTAL
    assert _stored(settings) == TOTAL  # each once: the replay of what it stored changed nothing
    (letter,) = read_topic(kafka_bootstrap, topics(settings).dead_letter, 1)
    assert letter.value() == b"{not json"
