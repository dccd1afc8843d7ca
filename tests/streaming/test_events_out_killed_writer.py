"""A writer SIGKILLed after its offline commit, before it could publish (its Kafka is
unreachable): once the outbox lease (``FSTORE_OUTBOX_LEASE_SECONDS``) ran out, another process
publishes exactly the acknowledged writes' events."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import pydantic
import pytest
from events_out_support import T1, T2, prefix, read_events

from fstore import FeatureStore
from fstore.config import Settings
from fstore.models import Entity, Feature
from server_postgres import create_database, drop_database, postgres_db_url
from server_redis import free_port

LEASE = 6.0

# Two acknowledged calls, then the writer waits to be killed. Its broker does not exist and
# its messages never time out: nothing can be published, the entries keep the write lease.
WRITER = f"""
import asyncio, json
from fstore import FeatureStore

async def main():
    fs = FeatureStore()
    await fs.open()
    first = await fs.store_feature_values("amount", [
        {{"entity_id": "c1", "value": 1.0, "event_timestamp": "{T1}"}},
        {{"entity_id": "c2", "value": 2.0, "event_timestamp": "{T1}"}},
        {{"entity_id": "c3", "value": 3.0, "event_timestamp": "{T1}"}},
    ])
    second = await fs.store_feature_values("amount", [
        {{"entity_id": "c1", "value": 1.5, "event_timestamp": "{T1}"}},
        {{"entity_id": "c2", "value": 2.0, "event_timestamp": "{T1}"}},
        {{"entity_id": "c4", "value": 4.0, "event_timestamp": "{T2}"}},
    ])
    print(json.dumps([first.stored, second.stored]), flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def test_the_outbox_lease_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().outbox_lease_seconds == 120.0
    monkeypatch.setenv("FSTORE_OUTBOX_LEASE_SECONDS", "7.5")
    assert Settings().outbox_lease_seconds == 7.5
    for wrong in (0, -1):
        with pytest.raises(pydantic.ValidationError):
            Settings(outbox_lease_seconds=wrong)


async def test_a_killed_writers_events_are_published_by_another_process_after_the_lease(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    dbname, home, topic_prefix = create_database(), tmp_path / "fs", prefix()
    offline_url = postgres_db_url(dbname)
    writer: asyncio.subprocess.Process | None = None
    try:
        async with FeatureStore(home=home, offline_url=offline_url) as fs:
            await fs.create_entity(Entity(name="customer", join_key="customer_id"))
            await fs.create_feature(Feature(name="amount", entity="customer"))
        env = {
            **os.environ,
            "FSTORE_HOME": str(home),
            "FSTORE_OFFLINE_URL": offline_url,
            "FSTORE_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",  # nothing listens
            "FSTORE_KAFKA_TOPIC_PREFIX": topic_prefix,
            "FSTORE_KAFKA_CONFIG": json.dumps({"message.timeout.ms": "600000"}),
            "FSTORE_OUTBOX_LEASE_SECONDS": str(LEASE),
            # the writer keeps its entries (a child publisher would be handed them at once:
            # test_events_publisher.py covers a killed writer's child)
            "FSTORE_EVENTS_PUBLISHER": "thread",
        }
        writer = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WRITER,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert writer.stdout is not None
        line = (await asyncio.wait_for(writer.stdout.readline(), 60)).decode()  # both calls acknowledged
        acknowledged = time.monotonic()
        writer.kill()
        await writer.wait()
        assert json.loads(line) == [3, 2], line  # c2's second value was unchanged: not stored

        async with FeatureStore(
            home=home,
            offline_url=offline_url,
            kafka_bootstrap_servers=kafka_bootstrap,
            kafka_topic_prefix=topic_prefix,
        ) as fs:
            deadline = time.monotonic() + LEASE + 30
            while fs.events.published < 5 or await fs.offline.outbox_backlog():
                assert time.monotonic() < deadline, f"{fs.events.published} events published"
                await asyncio.sleep(0.1)
            published = time.monotonic()
            assert fs.events.published == 5
            history = await fs.get_feature_history("amount", include_superseded=True)
        # the writer's lease was honoured: nobody took its entries before it ran out
        assert published - acknowledged > LEASE - 2

        stored = {
            (r["entity_id"], r["value"], int(r["ingested_at"].timestamp() * 1_000_000))
            for r in history.to_pylist()
        }
        assert {(e, v) for e, v, _ in stored} == {
            ("c1", 1.0),
            ("c1", 1.5),
            ("c2", 2.0),
            ("c3", 3.0),
            ("c4", 4.0),
        }
        events = read_events(kafka_bootstrap, f"{topic_prefix}feature-values", expected=5)
        by_id: dict[str, set[str]] = {}
        for _, e in events:
            by_id.setdefault(e.event_id, set()).add(e.model_dump_json())
        assert all(len(bodies) == 1 for bodies in by_id.values()), "a duplicate is the same event"
        got = {(e.entity_id, e.value, int(e.ingested_at.timestamp() * 1_000_000)) for _, e in events}
        assert got == stored  # exactly the acknowledged writes' stored values
        assert {e.source for _, e in events} == {"sdk"}
    finally:
        if writer is not None and writer.returncode is None:
            writer.kill()
            await writer.wait()
        drop_database(dbname)
