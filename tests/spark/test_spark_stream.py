"""The Spark Structured Streaming job against the real broker: ingest events and raw business
events (late and out-of-order ones included) produced to Kafka, consumed by ``start_stream``
(FStore's Python Kafka data source, triggers of a second) and by the Feature Processor
(``run_processor``) into two stores; the stored values must be equal, and equal to the pandas
reference. The job is stopped half-way and resumed from its checkpoint, then made to re-run
its last micro-batch (as after a crash before Spark recorded it done): nothing is stored
twice."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from uuid import uuid4

import orjson
import pyarrow as pa
from confluent_kafka.admin import AdminClient, NewTopic

from fstore import FeatureStore
from fstore.config import Settings
from fstore.models import Entity, Feature
from fstore.streaming.events import Topics
from fstore.streaming.kafka import topics
from fstore.streaming.processor import ProcessorOptions, run_processor

# the streaming tests' helpers (the broker's topics, the aggregation reference in pandas)
sys.path.insert(0, str(Path(__file__).parents[1] / "streaming"))
from aggregation_reference import assert_same, definition, expected, make_events, stored
from processor_helpers import GROUP_CONFIG, create_topics, event, produce, read_topic

AGGREGATIONS = (
    ("txn_count", "count", "hopping"),
    ("amount_sum", "sum", "tumbling"),
    ("amount_last", "last", "sliding"),
)


async def _setup(settings: Settings, source: str) -> FeatureStore:
    store = FeatureStore(settings)
    await store.__aenter__()
    await store.create_entity(Entity(name="customer", join_key="customer_id"))
    await store.create_feature(Feature(name="amount", entity="customer"))
    for name, function, window in AGGREGATIONS:
        feature = definition(name, function, window)
        feature["aggregation"]["source_topic"] = source
        await store.create_feature(feature)
    return store


async def _until(check: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.3)


async def _history_rows(store: FeatureStore) -> dict[str, int]:
    names = ["amount", *(n for n, _, _ in AGGREGATIONS)]
    return {n: (await store.get_feature_history(n, include_superseded=True)).num_rows for n in names}


def _source_rows(n: int) -> list[dict]:
    events = make_events(n=n, seed=23)
    return [{k: (None if v != v else v) for k, v in row.items()} for row in events.to_dict("records")]


async def test_the_stream_job_stores_what_the_processor_stores(
    spark: object, kafka_bootstrap: str, tmp_path: Path
) -> None:
    from fstore.spark.stream import StreamOptions, start_stream

    prefix = f"t{uuid4().hex[:10]}."
    names: Topics = Topics.under(prefix)
    source = f"{prefix}transactions"
    create_topics(kafka_bootstrap, names, partitions=2)
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.create_topics([NewTopic(source, 3, 1)]).values():
        future.result(10)

    def settings(home: str) -> Settings:
        return Settings(
            home=tmp_path / home,
            kafka_bootstrap_servers=kafka_bootstrap,
            kafka_topic_prefix=prefix,
            kafka_config=GROUP_CONFIG,
            events_publisher="external",
            actor="tester",
        )

    job_store = await _setup(settings("spark"), source)
    ref_store = await _setup(settings("proc"), source)
    assert topics(job_store.settings).ingest == names.ingest
    options = StreamOptions(checkpoint_location=str(tmp_path / "checkpoint"), trigger_seconds=1.0, buckets=4)
    try:
        good = [
            event("amount", f"c{i % 7}", float(i), f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z")
            for i in range(80)
        ]
        bad = [(b"k", b"{not json"), event("nope", "c1", 1.0), event("amount", "c1", "abc")]
        rows = _source_rows(300)
        rows.insert(40, {"customer": "c1", "ts": "yesterday", "amount": 1.0})  # refused: no usable time
        transactions = [(r["customer"].encode(), orjson.dumps(r)) for r in rows]

        # first half, a job, stopped
        produce(kafka_bootstrap, names.ingest, good[:40] + bad)
        produce(kafka_bootstrap, source, transactions[:150])
        job = await start_stream(job_store, spark, options)  # type: ignore[arg-type]
        await asyncio.to_thread(job.process_all_available)
        await asyncio.to_thread(job.stop)
        assert job.counts.events == 40 and job.counts.dead_lettered == len(bad) + 1

        # second half, the job resumed from its checkpoint
        produce(kafka_bootstrap, names.ingest, good[40:])
        produce(kafka_bootstrap, source, transactions[150:])
        job = await start_stream(job_store, spark, options)  # type: ignore[arg-type]
        await asyncio.to_thread(job.process_all_available)
        await asyncio.to_thread(job.stop)
        assert job.counts.events == 40 and job.counts.dead_lettered == 0  # nothing read twice
        letters = await asyncio.to_thread(read_topic, kafka_bootstrap, names.dead_letter, len(bad) + 1)
        assert sorted(m.value() for m in letters) == sorted([v for _, v in bad] + [transactions[40][1]])

        # the Feature Processor on the same events, into the other store
        stop = asyncio.Event()
        settings = ref_store.settings
        task = asyncio.create_task(
            run_processor(
                settings, ProcessorOptions(group_id=f"g{uuid4().hex[:6]}", batch_size=50), stop=stop
            )
        )
        events = make_events(n=300, seed=23)

        async def processed() -> bool:
            history = await ref_store.get_feature_history("amount")
            return history.num_rows == 80 and len(await stored(ref_store, "txn_count")) == len(
                expected(events, "count", "hopping")
            )

        await _until(processed, 90, "the processor")
        await asyncio.sleep(2)  # the last aggregation batch
        stop.set()
        await asyncio.wait_for(task, 30)

        assert _values(await job_store.get_feature_history("amount")) == _values(
            await ref_store.get_feature_history("amount")
        )
        for name, function, window in AGGREGATIONS:
            mine = await stored(job_store, name)
            assert_same(mine, await stored(ref_store, name))
            assert_same(mine, expected(events, function, window))

        # a crash after the last batch was stored but before Spark recorded it: it runs again
        before = await _history_rows(job_store)
        for query in ("ingest", "aggregations"):
            commits = sorted(
                (tmp_path / "checkpoint" / query / "commits").glob("[0-9]*"), key=lambda p: int(p.name)
            )
            commits[-1].unlink()
            (commits[-1].parent / f".{commits[-1].name}.crc").unlink(missing_ok=True)
        job = await start_stream(job_store, spark, options)  # type: ignore[arg-type]
        await asyncio.to_thread(job.process_all_available)
        await asyncio.to_thread(job.stop)
        assert job.counts.batches == 2  # the two re-run batches
        assert await _history_rows(job_store) == before
    finally:
        await job_store.__aexit__(None, None, None)
        await ref_store.__aexit__(None, None, None)


def _values(table: pa.Table) -> list[tuple]:
    rows = table.select(["entity_id", "event_timestamp", "value"]).to_pylist()
    return sorted(tuple(r.values()) for r in rows)


def test_stream_command_refuses_what_it_cannot_run(spark: object, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from fstore.cli import app

    home = str(tmp_path / "fs")
    assert CliRunner().invoke(app, ["--home", home, "init"]).exit_code == 0
    result = CliRunner().invoke(
        app, ["--home", home, "spark", "stream"], env={"FSTORE_KAFKA_BOOTSTRAP_SERVERS": ""}
    )
    assert result.exit_code == 6 and "FSTORE_KAFKA_BOOTSTRAP_SERVERS" in result.output

    # a checkpoint started with another bucket count: the aggregation state would be misread
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    (checkpoint / "fstore-stream.json").write_bytes(orjson.dumps({"buckets": 4}))
    result = CliRunner().invoke(
        app,
        ["--home", home, "spark", "stream", "--checkpoint", str(checkpoint), "--buckets", "8"],
        env={"FSTORE_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"},
    )
    assert result.exit_code == 6 and "4 buckets, not 8" in result.output

    result = CliRunner().invoke(app, ["--home", home, "spark", "stream", "--source", "jar"])
    assert result.exit_code == 2 and "unknown source" in result.output
