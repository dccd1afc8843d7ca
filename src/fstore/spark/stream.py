"""Spark Structured Streaming: the Feature Processor's work as two streaming queries.

* **ingest**: the ingest topic's ``IngestEvent``s → ``foreachBatch`` → the processor's own
  ``IngestHandler`` (validate, transform with the current version, one atomic write through
  the service layer); refused events go to the dead-letter topic with the reason in headers.
* **aggregations** (when features are defined as windowed aggregations): their source topics →
  the processor's ``Aggregator`` as a Spark stateful operator (``stream_aggregate``) →
  ``foreachBatch`` → the engine's ``store_emitted`` (one write for all features of the batch).

Messages come from Spark's ``kafka`` source where its connector jar is on the classpath, else
from FStore's Python data source over confluent-kafka (``kafka_source``). Each query keeps its
offsets (and the aggregation state) in its own directory under the checkpoint location.

Exactly once in effect: Spark writes a micro-batch's offsets to the checkpoint before running
it and marks it done after ``foreachBatch`` returned. A job killed in between re-runs that
batch on restart with the same messages and the state from before it, so it writes the same
values again — which the store's identity rule makes no-ops. Nothing is stored twice.

The ``foreachBatch`` functions run on the driver: they collect the batch's events (ingest) or
aggregates (a batch's per-window results) and write them through the ``FeatureStore`` of the
caller's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np
import orjson
import pandas as pd

from fstore.errors import ConfigurationError, InternalError, ValidationError
from fstore.streaming.aggregations import store_emitted
from fstore.streaming.aggregator import Emitted
from fstore.streaming.dead_letters import send_dead_letters
from fstore.streaming.handlers import DeadLetter, Record
from fstore.streaming.ingest import IngestHandler
from fstore.streaming.kafka import client_config, producer_config, topics
from fstore.streaming.outbox import write_source

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

    from fstore.store import FeatureStore

log = logging.getLogger(__name__)
T = TypeVar("T")
LAYOUT_FILE = "fstore-stream.json"


@dataclass(frozen=True, slots=True)
class StreamOptions:
    checkpoint_location: str | None = None  # default: the setting spark_checkpoint_location
    trigger_seconds: float = 5.0
    buckets: int = 16  # aggregation state buckets; fixed for the life of a checkpoint
    source: Literal["auto", "kafka", "python"] = "auto"
    probe_ms: int = 200  # the Python source: how long to read past the high watermark
    max_records_per_batch: int = 0  # 0: everything available
    ingest: bool = True
    aggregations: bool = True


@dataclass
class StreamCounts:
    batches: int = 0
    events: int = 0  # ingest events stored (refused ones not counted)
    aggregates: int = 0  # window values written
    dead_lettered: int = 0

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("batches", "events", "aggregates", "dead_lettered")}


@dataclass
class SparkStream:
    """A running stream job: its queries and what their batches did."""

    queries: list[StreamingQuery]
    counts: StreamCounts = field(default_factory=StreamCounts)
    sinks: _Sinks | None = None

    def process_all_available(self) -> None:
        """Block until every query has handled what its sources hold now (tests; call it from
        a worker thread: the batches write through the caller's event loop)."""
        for q in self.queries:
            q.processAllAvailable()

    def failure(self) -> BaseException | None:
        for q in self.queries:
            if q.exception() is not None:
                return q.exception()  # type: ignore[return-value]
        return None

    def stop(self) -> None:
        for q in self.queries:
            q.stop()
        if self.sinks is not None:
            self.sinks.close()


class _OnLoop:
    """Runs the store's coroutines on the caller's event loop from Spark's callback thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def __call__(self, coro: Coroutine[Any, Any, T]) -> T:
        async def tagged() -> T:
            with write_source("spark-stream"):
                return await coro

        return asyncio.run_coroutine_threadsafe(tagged(), self.loop).result()


def checkpoint_root(store: FeatureStore, options: StreamOptions) -> str:
    return options.checkpoint_location or str(
        store.settings.spark_checkpoint_location or Path(store.settings.home) / "spark-checkpoints" / "stream"
    )


def _check_layout(root: str, buckets: int) -> None:
    """A local checkpoint records its bucket count; resuming it with another is refused."""
    if "://" in root and not root.startswith("file://"):
        return  # a distributed filesystem: not checked here
    path = Path(root.removeprefix("file://")) / LAYOUT_FILE
    if path.exists():
        recorded = orjson.loads(path.read_bytes()).get("buckets")
        if recorded != buckets:
            raise ConfigurationError(
                f"the checkpoint {root} was started with {recorded} buckets, not {buckets}: "
                "resume it with the same count, or start a new checkpoint location"
            )
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps({"buckets": buckets}))


def kafka_messages(
    spark: SparkSession, store: FeatureStore, names: list[str], options: StreamOptions
) -> DataFrame:
    """The messages of topics ``names`` as a stream (topic, partition, offset, key, value,
    timestamp_ms): Spark's ``kafka`` source when present (and ``source`` allows), else
    FStore's Python data source."""
    config = client_config(store.settings)
    if options.source in ("auto", "kafka"):
        try:
            from pyspark.sql import functions as F

            reader = spark.readStream.format("kafka").option("subscribe", ",".join(names))
            reader = reader.option("startingOffsets", "earliest").option("failOnDataLoss", "false")
            for key, value in config.items():
                reader = reader.option(f"kafka.{key}", value)
            return reader.load().select(
                "topic",
                "partition",
                "offset",
                "key",
                "value",
                F.unix_millis("timestamp").alias("timestamp_ms"),
            )
        except Exception as exc:  # no connector jar: the class is not found
            if options.source == "kafka":
                raise ConfigurationError(f"Spark's kafka source is not available: {exc}") from exc
            log.info("Spark's kafka source is not available: reading Kafka through confluent-kafka")
    from fstore.spark.kafka_source import NAME, KafkaStreamSource

    spark.dataSource.register(KafkaStreamSource)
    return (
        spark.readStream.format(NAME)
        .option("topics", ",".join(names))
        .option("kafka", orjson.dumps(config).decode())
        .option("probe_ms", str(options.probe_ms))
        .option("max_records_per_batch", str(options.max_records_per_batch))
        .load()
    )


def _records(frame: pd.DataFrame) -> list[Record]:
    return [
        Record(t, int(p), int(o), k, v, int(ts))
        for t, p, o, k, v, ts in zip(
            frame["topic"], frame["partition"], frame["offset"], frame["key"], frame["value"],
            frame["timestamp_ms"], strict=True,
        )
    ]  # fmt: skip


class _Sinks:
    """The ``foreachBatch`` functions, writing through the store on the caller's loop."""

    def __init__(
        self, store: FeatureStore, on_loop: _OnLoop, ingest_topic: str, counts: StreamCounts
    ) -> None:
        from confluent_kafka import Producer

        self.store, self.on_loop, self.counts = store, on_loop, counts
        self.ingest = IngestHandler(store, [ingest_topic])
        self.dead_letter_topic = topics(store.settings).dead_letter
        self.producer = Producer(producer_config(store.settings, **{"enable.idempotence": True}))
        self._lock = threading.Lock()  # the two queries' batches may finish at once

    def _dead_letter(self, refused: list[DeadLetter]) -> None:
        if refused:
            with self._lock:
                send_dead_letters(self.producer, self.dead_letter_topic, refused)
            self.counts.dead_lettered += len(refused)

    def ingest_batch(self, batch: DataFrame, batch_id: int) -> None:
        frame = batch.toPandas()
        if frame.empty:
            return
        records = sorted(_records(frame), key=lambda r: (r.topic, r.partition, r.offset))
        refused = self.on_loop(self.ingest.handle(records))
        self._dead_letter(refused)
        self.counts.batches += 1
        self.counts.events += len(records) - len(refused)

    def aggregate_batch(self, batch: DataFrame, batch_id: int) -> None:
        frame = batch.toPandas()
        if frame.empty:
            return
        refused = frame[frame["reason"].notna()].drop_duplicates(["topic", "partition", "offset"])
        values = frame[frame["reason"].isna()]
        results = [
            (
                str(feature),
                Emitted(
                    rows["entity_id"].tolist(),
                    rows["end_ms"].to_numpy(np.int64),
                    pd.Series([orjson.loads(v) for v in rows["value"]], dtype=object),
                ),
            )
            for feature, rows in values.groupby("feature", sort=True)
        ]
        if results:
            self.on_loop(store_emitted(self.store, results))
        letters = [
            DeadLetter(
                Record(r.topic, int(r.partition), int(r.offset), r.key, r.message, int(r.timestamp_ms)),
                str(r.reason),
            )
            for r in refused.sort_values(["topic", "partition", "offset"]).itertuples(index=False)
        ]
        self._dead_letter(letters)
        self.counts.batches += 1
        self.counts.aggregates += len(values)

    def close(self) -> None:
        self.producer.flush(10)


async def _start(writer: Any, attempts: int = 3) -> StreamingQuery:
    """Start a query and wait until it runs its first trigger. Spark gives the Python process
    planning a Python data source 10 s to start (fixed); a machine too busy for that fails
    the query at once, and it is started again (from its checkpoint: nothing is lost)."""
    for attempt in range(attempts):
        query = writer.start()
        for _ in range(300):  # up to a minute: a slow first trigger is not a failure
            if not query.isActive or query.lastProgress is not None:
                break
            await asyncio.sleep(0.2)
        failure = query.exception()
        if failure is None or "failed to connect back" not in str(failure) or attempt == attempts - 1:
            return query
        log.warning("%s: its Python worker started too slowly; starting it again", query.name)
    raise AssertionError("unreachable")


async def start_stream(
    store: FeatureStore, spark: SparkSession, options: StreamOptions | None = None
) -> SparkStream:
    """Start the ingest query and (when features are defined as aggregations) the
    aggregation query; they run until ``SparkStream.stop``."""
    from fstore.spark.stream_aggregate import aggregated, definitions

    options = options or StreamOptions()
    if options.buckets < 1 or options.trigger_seconds <= 0:
        raise ValidationError("a stream job needs at least one bucket and a positive trigger interval")
    root = checkpoint_root(store, options).rstrip("/")
    _check_layout(root, options.buckets)
    ingest_topic = topics(store.settings).ingest
    job = SparkStream([])
    sinks = job.sinks = _Sinks(store, _OnLoop(asyncio.get_running_loop()), ingest_topic, job.counts)
    trigger = f"{options.trigger_seconds} seconds"
    if options.ingest:
        messages = kafka_messages(spark, store, [ingest_topic], options)
        query = messages.writeStream.foreachBatch(sinks.ingest_batch)
        query = query.option("checkpointLocation", f"{root}/ingest").trigger(processingTime=trigger)
        job.queries.append(await _start(query.queryName("fstore-ingest")))
    defs = definitions(await store.registry.list_features()) if options.aggregations else []
    if defs:
        names = sorted({d.spec.source_topic for d in defs})
        results = aggregated(kafka_messages(spark, store, names, options), defs, options.buckets)
        query = results.writeStream.outputMode("update").foreachBatch(sinks.aggregate_batch)
        query = query.option("checkpointLocation", f"{root}/aggregations").trigger(processingTime=trigger)
        job.queries.append(await _start(query.queryName("fstore-aggregations")))
    if not job.queries:
        raise ConfigurationError("nothing to stream: neither ingest nor an aggregation feature")
    return job


async def run_stream(
    store: FeatureStore,
    spark: SparkSession,
    options: StreamOptions | None = None,
    stop: asyncio.Event | None = None,
) -> StreamCounts:
    """Run the stream job until ``stop`` is set (or SIGTERM/SIGINT when it is not given); a
    query that fails stops the job with ``InternalError``. Returns what the batches did."""
    if stop is None:
        import signal

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    job = await start_stream(store, spark, options)
    try:
        while not stop.is_set():
            failure = job.failure()
            if failure is not None:
                raise InternalError(f"the Spark stream job stopped: {failure}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        await asyncio.to_thread(job.stop)
    return job.counts
