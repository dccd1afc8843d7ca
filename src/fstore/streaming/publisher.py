"""Value-change events to Kafka: encoding stored history rows as ``FeatureValueEvent`` JSON and
producing them with an idempotent confluent-kafka producer.

Its calls block (librdkafka waits for the broker): the outbox runs them in a worker thread.
Encoding is one ``orjson.dumps`` per event over columns converted once per batch; the model
``FeatureValueEvent`` documents the schema and validates it in the tests, not per event.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from fstore.backends.offline.base import OutboxEntry
from fstore.config import Settings
from fstore.errors import ConfigurationError
from fstore.streaming.events import SCHEMA_VERSION
from fstore.streaming.kafka import producer_config, topics

log = logging.getLogger(__name__)

# Producer defaults; the user's ``kafka_config`` overrides them.
PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,  # acks=all, no duplicates or reordering from the producer's retries
    "linger.ms": 5,
    # reports of failed messages only: no Python callback per delivered event (~30 % less CPU)
    "delivery.report.only.error": True,
    "partitioner": "murmur2_random",  # the Java client's partitioner: same key, same partition
    "message.timeout.ms": 10_000,  # a message's outcome is known within this (then retried later)
    "queue.buffering.max.messages": 1_000_000,
}
Message = tuple[bytes, bytes]  # key, value


def event_id(feature_id: str, entity_id: str, event_us: int, ingested_us: int) -> str:
    """Unique per stored row and the same whenever that row is published again: its identity
    and ingestion time (feature ids have no ``/`` and the times are integers, so the id parses
    back unambiguously; the entity id, any string, comes last)."""
    return f"{feature_id}/{event_us}/{ingested_us}/{entity_id}"


_NEEDS_ESCAPE = r'["\\\x00-\x1f]'


def _json_text(column: pa.Array) -> pa.Array:
    """A string column's values as JSON string contents (escaped only where needed)."""
    if pc.any(pc.match_substring_regex(column, _NEEDS_ESCAPE)).as_py():
        return pa.array([None if v is None else orjson.dumps(v).decode()[1:-1] for v in column.to_pylist()])
    return column


def _json_values(column: pa.Array) -> pa.Array:
    """Each value as JSON text (``null`` for a null, a NaN or an infinity)."""
    kind = column.type
    if pa.types.is_null(kind):
        return pa.array(["null"] * len(column))
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        quoted = pc.binary_join_element_wise('"', _json_text(column), '"', "")
        return pc.fill_null(quoted, "null")
    if pa.types.is_floating(kind):
        column = pc.if_else(pc.is_finite(column), column, pa.scalar(None, kind))
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return pc.fill_null(pc.cast(column, pa.string()), "null")
    # lists (one-hot vectors) and anything else: per value
    return pa.array([orjson.dumps(v).decode() for v in column.to_pylist()], pa.string())


def _iso(column: pa.Array) -> pa.Array:
    """UTC timestamps as ISO 8601 text without the ``Z`` (Arrow's cast of a naive timestamp is
    ~10x faster than its ``strftime``)."""
    text = pc.cast(pc.cast(column, pa.timestamp("us")), pa.string())
    return pc.utf8_replace_slice(text, start=10, stop=11, replacement="T")


def encode_all(found: Sequence[tuple[OutboxEntry, pa.Table]]) -> list[list[Message]]:
    """``encode_events`` of each entry's rows, in order; consecutive entries of the same
    feature, entity and source are encoded together (a burst of small write calls costs one
    pass, not one each)."""
    groups: list[tuple[tuple[str, str, str, str], OutboxEntry, list[pa.Table]]] = []
    for entry, rows in found:
        if rows.num_rows:
            key = (entry.feature_id, entry.feature, entry.entity, entry.source)
            if groups and groups[-1][0] == key:
                groups[-1][2].append(rows)
            else:
                groups.append((key, entry, [rows]))
    out = []
    for _, entry, tables in groups:
        try:
            rows = pa.concat_tables(tables, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # kinds that do not mix: one at a time
            out += [encode_events(entry, t) for t in tables]
            continue
        out.append(encode_events(entry, rows))
    return out


def encode_events(entry: OutboxEntry, rows: pa.Table) -> list[Message]:
    """The events of ``rows`` (history rows of ``entry``'s feature — of one or more calls
    with the same feature, entity and source), built column by column with Arrow's string
    kernels: no per-event Python work but the final conversion to bytes."""
    if rows.num_rows == 0:
        return []
    rows = rows.combine_chunks()
    ingested_at = rows.column("ingested_at").combine_chunks()
    ingested_us = pc.cast(pc.cast(ingested_at, pa.int64()), pa.string())
    entity_ids = rows.column("entity_id").combine_chunks()
    eid = _json_text(entity_ids)
    event_ts = rows.column("event_timestamp").combine_chunks()
    micros = pc.cast(pc.cast(event_ts, pa.int64()), pa.string())
    versions = pc.fill_null(
        pc.binary_join_element_wise('"', _json_text(rows.column("version").combine_chunks()), '"', ""), "null"
    )
    head = f'{{"schema_version":{SCHEMA_VERSION},"event_id":"{entry.feature_id}/'
    texts = pc.binary_join_element_wise(
        head,
        micros,
        "/",
        ingested_us,
        "/",
        eid,
        f'","feature":"{entry.feature}","feature_version":',
        versions,
        f',"entity":"{entry.entity}","entity_id":"',
        eid,
        '","value":',
        _json_values(rows.column("value").combine_chunks()),
        ',"transformed":',
        _json_values(rows.column("transformed").combine_chunks()),
        ',"event_timestamp":"',
        _iso(event_ts),
        'Z","ingested_at":"',
        _iso(ingested_at),
        f'Z","source":{orjson.dumps(entry.source).decode()}}}',
        "",
    )
    # the key is ``events.entity_key``, built column-wise
    keys = pc.binary_join_element_wise(f"{entry.entity}:", entity_ids, "")
    return list(zip(keys.cast(pa.binary()).to_pylist(), texts.cast(pa.binary()).to_pylist(), strict=True))


def require_client() -> Any:
    """The confluent_kafka module, or a ConfigurationError saying how to install it."""
    try:
        import confluent_kafka
    except ImportError as exc:
        raise ConfigurationError(
            "Kafka is configured but confluent-kafka is missing: pip install 'fstore[kafka]'"
        ) from exc
    return confluent_kafka


class Publisher:
    """One idempotent producer to the value-change topic. Not thread-safe: one caller at a time."""

    def __init__(self, settings: Settings) -> None:
        self._producer_class = require_client().Producer
        self.config = {**PRODUCER_DEFAULTS, **producer_config(settings)}
        self.topic = topics(settings).values
        self._producer: Any = None
        self._failed = 0
        self._error: str | None = None
        self._fatal = False
        # monotonic time at which a send in progress gives up (``close`` of the outbox sets it)
        self.cutoff = math.inf

    def _on_delivery(self, err: Any, msg: Any) -> None:
        if err is not None:
            self._failed += 1
            self._error = str(err)

    def _client(self) -> Any:
        if self._producer is None:
            self._producer = self._producer_class({**self.config, "error_cb": self._on_error, "logger": log})
        return self._producer

    def _on_error(self, err: Any) -> None:
        # connection trouble is reported per message (delivery timeout); a fatal error (the
        # idempotent producer lost its state) needs a new producer
        if err.fatal():
            self._error = str(err)
            self._fatal = True

    def send(self, batches: Sequence[Sequence[Message]], timeout: float) -> tuple[bool, str | None]:
        """Produce every message and wait up to ``timeout`` seconds for all their delivery
        reports. Returns (all delivered, the last error). Messages not delivered in time are
        purged: the caller publishes them again later (at least once)."""
        producer = self._client()
        self._failed, self._error = 0, None
        deadline = time.monotonic() + timeout
        for messages in batches:
            for key, value in messages:
                while True:
                    try:
                        producer.produce(self.topic, value, key, on_delivery=self._on_delivery)
                        break
                    except BufferError:  # the local queue is full: let deliveries drain it
                        if time.monotonic() > min(deadline, self.cutoff):
                            return self._give_up("the producer's queue stayed full")
                        producer.poll(0.05)
        while left := producer.flush(0.1):
            if time.monotonic() > min(deadline, self.cutoff):
                return self._give_up(f"{left} events not acknowledged in time")
        if self._failed or self._fatal:
            return self._give_up("delivery failed")
        return True, None

    def _give_up(self, reason: str) -> tuple[bool, str]:
        """After a failed send, the next one starts on a new producer: an idempotent producer
        whose messages timed out (or whose broker lost its state) may not recover by itself."""
        self.close()
        self._fatal = False
        return False, self._error or reason

    def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.purge()
            producer.flush(0)
