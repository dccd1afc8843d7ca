"""A Spark 4 Python streaming data source over Kafka (confluent-kafka): the fallback for
clusters without Spark's ``kafka`` connector jar (it comes from Maven).

``spark.readStream.format("fstore-kafka").option("topics", "a,b")
.option("kafka", json.dumps(librdkafka_properties)).load()`` gives one row per message:
``topic, partition, offset, key, value, timestamp_ms`` — the fields of the Feature
Processor's ``Record``.

A stream offset is, per topic and partition, the next Kafka offset to read
(``{"topic": {"0": 12, "1": 7}}``); Spark records it in the query's checkpoint before a
micro-batch runs, so a batch re-run after a crash reads exactly the same messages. Each
micro-batch reads one Spark partition per Kafka partition on the executors (``assign`` at
the start offset, no consumer group). A partition the offsets do not name yet (a new topic or
partition) starts at its earliest message.

The end of a batch: the driver asks each partition's high watermark, then, because some
brokers report it too low (Tansu counts a produced batch as one message), reads on from there
until nothing arrives for ``probe_ms`` milliseconds (option, default 200; 0 trusts the
watermark — right for Apache Kafka, where the probe only costs that wait).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition

try:  # pyspark >= 4.2: read limits (older versions call latestOffset() without arguments)
    from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadLimit, ReadMaxRows
except ImportError:  # pragma: no cover - pyspark 4.0/4.1
    ReadAllAvailable = ReadLimit = ReadMaxRows = None  # type: ignore[assignment,misc]

# Spark's Python process that plans the source must connect back within 10 s of starting:
# this module imports only what pyspark has loaded already, and the rest when it is used
if TYPE_CHECKING:
    from confluent_kafka import Consumer

NAME = "fstore-kafka"
SCHEMA = "topic string, partition int, offset long, key binary, value binary, timestamp_ms long"
Offsets = dict[str, dict[str, int]]
READ_TIMEOUT = 60.0  # seconds a partition may go without delivering a message it must have


def consumer(config: dict[str, Any]) -> Consumer:
    """A consumer for ``assign`` (no group membership, nothing committed)."""
    from confluent_kafka import Consumer

    return Consumer(
        {
            "group.id": "fstore-spark-stream",
            **config,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
            "fetch.wait.max.ms": 50,
        }
    )


class KafkaPartition(InputPartition):
    """One Kafka partition's messages ``[start, end)`` of a micro-batch."""

    def __init__(self, topic: str, partition: int, start: int, end: int) -> None:
        super().__init__((topic, partition, start, end))
        self.topic, self.partition, self.start, self.end = topic, partition, start, end


class KafkaStreamReader(DataSourceStreamReader):
    def __init__(self, options: dict[str, str]) -> None:
        self.topics = [t for t in options.get("topics", "").split(",") if t]
        self.config: dict[str, Any] = orjson.loads(options.get("kafka", "{}"))
        self.probe_ms = int(options.get("probe_ms", "200"))
        self.max_rows = int(options.get("max_records_per_batch", "0"))
        self._consumer: Consumer | None = None
        self._seen: dict[tuple[str, int], int] = {}  # the highest end found per partition

    def _driver_consumer(self) -> Consumer:
        if self._consumer is None:
            self._consumer = consumer(self.config)
        return self._consumer

    def _partitions(self) -> list[tuple[str, int]]:
        c = self._driver_consumer()
        out = []
        for topic in self.topics:
            meta = c.list_topics(topic, timeout=10).topics.get(topic)
            if meta is not None and meta.error is None:
                out += [(topic, p) for p in sorted(meta.partitions)]
        return out

    def initialOffset(self) -> dict:
        return {t: {} for t in self.topics}

    def getDefaultReadLimit(self) -> ReadLimit:
        if ReadMaxRows is None:
            return super().getDefaultReadLimit()  # type: ignore[misc]
        return ReadMaxRows(self.max_rows) if self.max_rows > 0 else ReadAllAvailable()

    def latestOffset(self, start: dict | None = None, limit: ReadLimit | None = None) -> dict:
        from confluent_kafka import TopicPartition

        start = start or {}
        c = self._driver_consumer()
        ends: dict[tuple[str, int], int] = {}
        begins: dict[tuple[str, int], int] = {}
        for topic, p in self._partitions():
            begin = int(start.get(topic, {}).get(str(p), 0))
            _, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)
            begins[(topic, p)] = begin
            ends[(topic, p)] = max(begin, high, self._seen.get((topic, p), 0))
        if self.probe_ms > 0 and ends:
            for tp, end in self._probe({tp: max(begins[tp], e - 1) for tp, e in ends.items()}).items():
                ends[tp] = max(ends[tp], end)
        self._seen.update(ends)
        rows = limit.maxRows if ReadMaxRows is not None and isinstance(limit, ReadMaxRows) else self.max_rows
        if rows > 0 and ends:
            share = max(1, rows // len(ends))
            ends = {tp: min(e, begins[tp] + share) for tp, e in ends.items()}
        out: Offsets = {t: dict(start.get(t, {})) for t in self.topics}
        for (topic, p), end in ends.items():
            out[topic][str(p)] = end
        return out

    def _probe(self, at: dict[tuple[str, int], int]) -> dict[tuple[str, int], int]:
        """The end of each partition found by reading from ``at`` until nothing arrives for
        ``probe_ms``."""
        from confluent_kafka import TopicPartition

        c = self._driver_consumer()
        c.assign([TopicPartition(t, p, o) for (t, p), o in at.items()])
        found: dict[tuple[str, int], int] = {}
        idle_until = time.monotonic() + self.probe_ms / 1000
        while time.monotonic() < idle_until:
            messages = c.consume(10_000, max(idle_until - time.monotonic(), 0.0))
            for m in messages:
                if m.error() is None:
                    tp = (m.topic(), m.partition())
                    found[tp] = max(found.get(tp, 0), m.offset() + 1)  # type: ignore[operator]
            if messages:
                idle_until = time.monotonic() + self.probe_ms / 1000
        c.unassign()
        return found

    def partitions(self, start: dict, end: dict) -> Sequence[InputPartition]:
        out: list[InputPartition] = []
        for topic, ends in sorted(end.items()):
            for p, stop in sorted(ends.items(), key=lambda kv: int(kv[0])):
                begin = int(start.get(topic, {}).get(p, 0))
                if int(stop) > begin:
                    out.append(KafkaPartition(topic, int(p), begin, int(stop)))
        return out

    def read(self, partition: InputPartition) -> Iterator[tuple]:
        assert isinstance(partition, KafkaPartition)
        return read_partition(self.config, partition)

    def stop(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


def read_partition(config: dict[str, Any], part: KafkaPartition) -> Iterator[tuple]:
    """The messages of ``part`` in offset order (a gap — compaction, transaction markers — is
    skipped: the consumer's position passes the end)."""
    from confluent_kafka import KafkaError, TopicPartition

    from fstore.errors import StoreUnavailableError

    c = consumer(config)
    tp = TopicPartition(part.topic, part.partition, part.start)
    try:
        c.assign([tp])
        last_progress = time.monotonic()
        while True:
            messages = c.consume(10_000, 0.2)
            for m in messages:
                err = m.error()
                if err is not None:
                    if err.code() != KafkaError._PARTITION_EOF:
                        raise StoreUnavailableError(f"Kafka: {err}", store="kafka")
                    continue
                offset: int = m.offset()  # type: ignore[assignment]
                if part.start <= offset < part.end:
                    yield (m.topic(), m.partition(), offset, m.key(), m.value(), m.timestamp()[1])
                if offset >= part.end - 1:
                    return
            if messages:
                last_progress = time.monotonic()
            elif c.position([tp])[0].offset >= part.end:
                return
            elif time.monotonic() - last_progress > READ_TIMEOUT:
                raise StoreUnavailableError(
                    f"Kafka: {part.topic}[{part.partition}] did not deliver offsets up to {part.end - 1}",
                    store="kafka",
                )
    finally:
        c.close()


class KafkaStreamSource(DataSource):
    """``format("fstore-kafka")``: see the module docstring."""

    @classmethod
    def name(cls) -> str:
        return NAME

    def schema(self) -> str:
        return SCHEMA

    def streamReader(self, schema: Any) -> DataSourceStreamReader:
        return KafkaStreamReader(dict(self.options))
