"""The Feature Processor in-process against the real broker: valid events stored, malformed
ones dead-lettered with their reason, a replay stores nothing twice, /metrics and /health."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

import numpy as np
import pytest
from processor_helpers import create_topics, event, kafka_settings, produce, read_topic

from fstore import FeatureStore
from fstore.models import Entity, Feature
from fstore.streaming.handlers import Record
from fstore.streaming.ingest import IngestHandler
from fstore.streaming.kafka import topics
from fstore.streaming.processor import ProcessorOptions, run_processor
from fstore.streaming.processor_http import LagHistogram
from server_redis import free_port


async def _until(check: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def _get(port: int, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except urllib.error.URLError:  # not listening yet
        return 0, b""


async def test_events_are_stored_and_malformed_ones_dead_lettered(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = kafka_settings(kafka_bootstrap, home=tmp_path / "fs")
    names = topics(settings)
    create_topics(kafka_bootstrap, names)
    async with FeatureStore(settings) as store:
        await store.create_entity(Entity(name="customer", join_key="customer_id"))
        await store.create_feature(Feature(name="amount", entity="customer"))
        await store.create_feature(Feature(name="plan", entity="customer", type="categorical"))
        good = [event("amount", f"c{i}", float(i), f"2026-01-01T00:00:{i % 60:02d}Z") for i in range(300)]
        good += [event("plan", f"c{i}", "gold") for i in range(20)]  # no time: the message's
        bad = [
            (b"k", b"{not json"),
            event("nope", "c1", 1.0),
            event("amount", "c1", "abc"),
            (b"k", json.dumps({"feature": "amount", "value": 1.0}).encode()),
            event("amount", "", 1.0),
            (b"k", json.dumps({"feature": "amount", "entity_id": "c1", "value": 1, "extra": 1}).encode()),
            event("plan", "c1", 7),
            event("amount", "c1", True),
            event("amount", "c1", [1.0]),
            event("bad name!!", "c1", 1.0),
            event("amount", "c1", 2**70 * 1.0, "not a time"),
        ]
        sent_at = time.time()
        produce(kafka_bootstrap, names.ingest, good[:150] + bad + good[150:])
        port, stop = free_port(), asyncio.Event()
        options = ProcessorOptions(group_id=f"g{uuid4().hex[:6]}", batch_size=100)
        task = asyncio.create_task(run_processor(settings, options, metrics_port=port, stop=stop))

        async def stored() -> bool:
            amounts = await store.get_feature_history("amount")
            plans = await store.get_feature_history("plan")
            return amounts.num_rows == 300 and plans.num_rows == 20

        await _until(stored, 30, "320 stored values")
        letters = await asyncio.to_thread(read_topic, kafka_bootstrap, names.dead_letter, len(bad))
        status, body = await asyncio.to_thread(_get, port, "/health")
        assert status == 200 and json.loads(body)["status"] == "running"
        metrics = (await asyncio.to_thread(_get, port, "/metrics"))[1].decode()
        stop.set()
        await asyncio.wait_for(task, 15)

        assert sorted(m.value() for m in letters) == sorted(v for _, v in bad)
        reasons = {m.value(): dict(m.headers()) for m in letters}
        for value, headers in reasons.items():
            assert headers["fstore-source-topic"] == names.ingest.encode()
            assert int(headers["fstore-source-offset"]) >= 0 and "fstore-source-partition" in headers
            assert headers["fstore-reason"], value
        assert b"unknown feature" in reasons[bad[1][1]]["fstore-reason"]
        assert b"numerical" in reasons[bad[2][1]]["fstore-reason"]
        assert b"entity_id" in reasons[bad[3][1]]["fstore-reason"]
        assert b"entity id" in reasons[bad[4][1]]["fstore-reason"]
        assert b"categorical" in reasons[bad[6][1]]["fstore-reason"]
        assert b"numerical" in reasons[bad[7][1]]["fstore-reason"]
        assert b"numerical" in reasons[bad[8][1]]["fstore-reason"]
        assert b"unknown feature" in reasons[bad[9][1]]["fstore-reason"]
        assert b"event_timestamp" in reasons[bad[10][1]]["fstore-reason"]
        assert "fstore_processor_events_processed_total 320.0" in metrics
        assert "fstore_processor_events_dead_lettered_total 11.0" in metrics
        assert "fstore_processor_event_lag_seconds_count 320.0" in metrics

        # an event without a time took its message's timestamp
        plans = await store.get_feature_history("plan")
        times = [t.timestamp() for t in plans.column("event_timestamp").to_pylist()]
        assert all(sent_at - 1 <= t <= time.time() for t in times)

        # a replay of the whole topic (a new group) stores nothing twice: same identities
        replay, port2 = asyncio.Event(), free_port()
        options = ProcessorOptions(group_id=f"g{uuid4().hex[:6]}", batch_size=100)
        task = asyncio.create_task(run_processor(settings, options, metrics_port=port2, stop=replay))

        async def replayed() -> bool:
            text = (await asyncio.to_thread(_get, port2, "/metrics"))[1].decode()
            return "fstore_processor_events_processed_total 320.0" in text

        await _until(replayed, 30, "the replay")
        replay.set()
        await asyncio.wait_for(task, 15)
        for name, count in (("amount", 300), ("plan", 20)):
            history = await store.get_feature_history(name, include_superseded=True)
            assert history.num_rows == count


async def test_batches_grow_under_a_backlog_up_to_the_maximum(kafka_bootstrap: str, tmp_path: Path) -> None:
    """A backlog is taken in fewer, larger batches: while one batch is stored the next keeps
    filling past ``batch_size``, never past ``max_batch_size``."""
    settings = kafka_settings(kafka_bootstrap, home=tmp_path / "fs")
    names = topics(settings)
    create_topics(kafka_bootstrap, names)
    total = 6_000
    async with FeatureStore(settings) as store:
        await store.create_entity(Entity(name="customer", join_key="customer_id"))
        await store.create_feature(Feature(name="amount", entity="customer"))
        at = [f"2026-01-01T00:{i % 60:02d}:00Z" for i in range(total)]
        backlog = [event("amount", f"c{i}", float(i), at[i]) for i in range(total)]
        produce(kafka_bootstrap, names.ingest, backlog)
        sizes: list[int] = []
        handle = IngestHandler.handle

        async def recording(self: IngestHandler, records: list[Record]) -> Any:
            sizes.append(len(records))
            await asyncio.sleep(0.05)  # a slow store: the next batch has time to grow
            return await handle(self, records)

        stop = asyncio.Event()
        options = ProcessorOptions(group_id=f"g{uuid4().hex[:6]}", batch_size=100, max_batch_size=1_500)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(IngestHandler, "handle", recording)
            task = asyncio.create_task(run_processor(settings, options, stop=stop))

            async def stored() -> bool:
                return (await store.get_feature_history("amount")).num_rows == total

            await _until(stored, 60, f"{total} stored values")
            stop.set()
            await asyncio.wait_for(task, 15)
    assert sum(sizes) >= total and max(sizes) <= 1_500
    assert max(sizes) > 100 and len(sizes) < total // 100, sizes


def test_the_lag_histogram_counts_a_whole_batch_like_prometheus() -> None:
    lag = LagHistogram("lag_seconds", "lag", buckets=(0.1, 1.0))
    lag.observe_many(np.array([0.05, 0.1, 0.5, 1.0, 3.0]))
    lag.observe_many(np.array([]))
    (family,) = lag.collect()
    buckets = {s.labels["le"]: s.value for s in family.samples if s.name.endswith("_bucket")}
    assert buckets == {"0.1": 2, "1.0": 4, "+Inf": 5}  # a bucket counts values <= its bound
    assert [s.value for s in family.samples if s.name.endswith("_sum")] == [4.65]


def test_processor_run_needs_kafka(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fstore.cli import app

    result = CliRunner().invoke(
        app, ["--home", str(tmp_path / "fs"), "processor", "run"], env={"FSTORE_KAFKA_BOOTSTRAP_SERVERS": ""}
    )
    assert result.exit_code == 6 and "FSTORE_KAFKA_BOOTSTRAP_SERVERS" in result.output
    assert not (tmp_path / "fs").exists()  # nothing opened


async def test_the_ingest_handler_refuses_bad_values_one_by_one(store: FeatureStore) -> None:
    await store.create_feature(Feature(name="amount", entity="customer"))
    values: list[object] = [1, 2**64 - 1, "x", None, 2.5]  # a column Arrow cannot build at once
    records = [
        Record(
            "t",
            0,
            i,
            None,
            json.dumps({"feature": "amount", "entity_id": f"c{i}", "value": v}).encode(),
            1_000 * i,
        )
        for i, v in enumerate(values)
    ]
    refused = await IngestHandler(store, ["t"]).handle(records)
    assert sorted(d.record.offset for d in refused) == [2, 3]
    history = await store.get_feature_history("amount")
    assert history.column("value").to_pylist() == [1.0, float(2**64 - 1), 2.5]
    # no event time: the message's (offset seconds here), so a replay is a no-op
    assert [t.timestamp() for t in history.column("event_timestamp").to_pylist()] == [0.0, 1.0, 4.0]
    assert await IngestHandler(store, ["t"]).handle(records[:2]) == []
    assert (await store.get_feature_history("amount", include_superseded=True)).num_rows == 3
