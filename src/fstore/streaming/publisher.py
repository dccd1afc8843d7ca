"""Value-change events to Kafka: encoding stored history rows as ``FeatureValueEvent`` JSON and
producing them with an idempotent confluent-kafka producer.

Its calls block (librdkafka waits for the broker): the outbox runs them in a worker thread.
Encoding is one ``orjson.dumps`` per event over columns converted once per batch; the model
``FeatureValueEvent`` documents the schema and validates it in the tests, not per event.
"""

from __future__ import annotations

import hashlib
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
from fstore.streaming.kafka import client_config, topics

log = logging.getLogger(__name__)

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # Arrow adds the microseconds of a timestamp[us]
# Producer defaults; the user's ``kafka_config`` overrides them.
PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,  # acks=all, no duplicates or reordering from the producer's retries
    "linger.ms": 5,
    "compression.type": "lz4",
    "partitioner": "murmur2_random",  # the Java client's partitioner: same key, same partition
    "message.timeout.ms": 10_000,  # a message's outcome is known within this (then retried later)
    "queue.buffering.max.messages": 1_000_000,
}
Message = tuple[bytes, bytes]  # key, value


def event_id(feature_id: str, entity_id: str, event_us: int, ingested_us: int) -> str:
    """Unique per stored row and the same whenever that row is published again."""
    text = f"{feature_id}\x00{entity_id}\x00{event_us}\x00{ingested_us}"
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def encode_events(entry: OutboxEntry, rows: pa.Table) -> list[Message]:
    """The events of ``rows`` (history rows of ``entry``'s feature, all ingested by its call)."""
    if rows.num_rows == 0:
        return []
    ingested = pc.strftime(rows.column("ingested_at").slice(0, 1), format=ISO_FORMAT)[0].as_py()
    ids = rows.column("entity_id").to_pylist()
    event_ts = rows.column("event_timestamp")
    micros = event_ts.cast(pa.int64()).to_pylist()
    iso = pc.strftime(event_ts, format=ISO_FORMAT).to_pylist()
    values = rows.column("value").to_pylist()
    transformed = rows.column("transformed").to_pylist()
    versions = rows.column("version").to_pylist()
    prefix = f"{entry.entity}:"  # the key is ``events.entity_key``, built inline
    fid, ingested_us, dumps = entry.feature_id, entry.ingested_us, orjson.dumps
    return [
        (
            (prefix + eid).encode(),
            dumps(
                {
                    "schema_version": SCHEMA_VERSION,
                    "event_id": event_id(fid, eid, us, ingested_us),
                    "feature": entry.feature,
                    "feature_version": version,
                    "entity": entry.entity,
                    "entity_id": eid,
                    "value": value,
                    "transformed": trans,
                    "event_timestamp": ts,
                    "ingested_at": ingested,
                    "source": entry.source,
                }
            ),
        )
        for eid, us, ts, value, trans, version in zip(
            ids, micros, iso, values, transformed, versions, strict=True
        )
    ]


class Publisher:
    """One idempotent producer to the value-change topic. Not thread-safe: one caller at a time."""

    def __init__(self, settings: Settings) -> None:
        try:
            from confluent_kafka import Producer
        except ImportError as exc:
            raise ConfigurationError(
                "Kafka is configured but confluent-kafka is missing: pip install 'fstore[kafka]'"
            ) from exc
        self._producer_class = Producer
        self.config = {**PRODUCER_DEFAULTS, **client_config(settings)}
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
