"""The Feature Processor: a Kafka consumer group that feeds micro-batches to ``BatchHandler``s.

One loop: poll a micro-batch (bounded by size and time) → give each handler the records of
its topics → send the refused records to the dead-letter topic (flushed) → commit the
batch's offsets. Offsets are committed by hand and only after all of that, so delivery is at
least once; the handlers write through the service layer, whose identity rule makes a replay
a no-op (effect exactly once).

* A handler raising ``StoreUnavailableError`` pauses the assigned partitions and retries the
  same batch with backoff, polling meanwhile so the group keeps its member; nothing of the
  batch is committed or dead-lettered until it goes through.
* A rebalance drops the in-flight records of revoked partitions (their new owner replays
  them from the committed offset). Everything handled before was already committed.
* Any other exception of a handler is a bug (an invalid event is returned as a
  ``DeadLetter``, an outage raised as ``StoreUnavailableError``): the processor fails fast, as
  Kafka Streams does by default. It logs the error with the batch's partitions and offsets,
  commits and dead-letters nothing of the batch, leaves the group and raises
  ``InternalError`` (``fstore processor run`` exits 70); whoever owns the partitions next
  replays the batch. Dead-lettering instead would let a bug silently divert all traffic.
* ``stop`` (SIGTERM/SIGINT in ``fstore processor run``) ends the loop after the current batch;
  a batch waiting for a store that is down is abandoned (uncommitted, replayed later).

The confluent-kafka calls block, so they run on a worker thread; callbacks of a rebalance run
inside ``consume`` on that thread, never while a handler runs.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from fstore.config import Settings
from fstore.errors import ConfigurationError, InternalError, StoreUnavailableError
from fstore.streaming.dead_letters import send_dead_letters
from fstore.streaming.handlers import BatchHandler, DeadLetter, Record
from fstore.streaming.kafka import client_config, producer_config, topics
from fstore.streaming.processor_http import Health, ProcessorMetrics

if TYPE_CHECKING:
    from fstore.store import FeatureStore

log = logging.getLogger(__name__)

# librdkafka defaults a user's ``kafka_config`` may override (the group's membership settings)
CONSUMER_DEFAULTS: dict[str, Any] = {
    "auto.offset.reset": "earliest",
    "session.timeout.ms": 10_000,
    "heartbeat.interval.ms": 1_000,
    "max.poll.interval.ms": 300_000,
    # how long the broker may hold a fetch without data; some brokers (Tansu) hold it that
    # long even when data arrives, which would add up to it to every event's latency
    "fetch.wait.max.ms": 50,
}
TP = tuple[str, int]


@dataclass(frozen=True, slots=True)
class ProcessorOptions:
    group_id: str = "fstore-processor"
    batch_size: int = 10_000
    batch_timeout: float = 0.05  # seconds a micro-batch waits to fill up
    # while a batch is handled the next one keeps taking what arrives, up to this many records:
    # under a backlog the batches grow, so each store write carries more events (an aggregation
    # writes one value per window touched, not per event)
    max_batch_size: int = 50_000
    max_backoff: float = 10.0  # seconds between retries while a store is down


def _record(msg: Message) -> Record:
    return Record(
        msg.topic(),  # type: ignore[arg-type]
        msg.partition(),  # type: ignore[arg-type]
        msg.offset(),  # type: ignore[arg-type]
        msg.key(),  # type: ignore[arg-type]
        msg.value(),  # type: ignore[arg-type]
        msg.timestamp()[1],
        tuple(msg.headers() or ()),
    )


def batch_extent(records: Sequence[Record]) -> str:
    """The partitions and offset ranges of ``records``: ``topic[p]@first-last, …``."""
    spans: dict[TP, tuple[int, int]] = {}
    for r in records:
        key = (r.topic, r.partition)
        low, high = spans.get(key, (r.offset, r.offset))
        spans[key] = (min(low, r.offset), max(high, r.offset))
    return ", ".join(f"{t}[{p}]@{low}-{high}" for (t, p), (low, high) in sorted(spans.items()))


class Processor:
    """Consumes the handlers' topics in the consumer group ``options.group_id``."""

    def __init__(
        self,
        settings: Settings,
        handlers: Sequence[BatchHandler],
        options: ProcessorOptions | None = None,
        metrics: ProcessorMetrics | None = None,
        health: Health | None = None,
    ) -> None:
        self.settings = settings
        self.handlers = list(handlers)
        self.options = options or ProcessorOptions()
        self.metrics = metrics or ProcessorMetrics()
        self.health = health or Health()
        self.dead_letter_topic = topics(settings).dead_letter
        self._topics = sorted({t for h in self.handlers for t in h.topics})
        # the batch being handled and the next one being polled (rebalance callbacks filter both)
        self._pending: list[Record] = []
        self._filling: list[Record] = []
        self._committed: dict[TP, int] = {}
        self._paused = False
        self._handling = threading.Event()  # set while a batch is handled
        base = client_config(self.settings)
        self._consumer_config = {
            **CONSUMER_DEFAULTS,
            **base,
            "group.id": self.options.group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
        }
        self._producer_config = producer_config(settings, **{"enable.idempotence": True, "linger.ms": 5})
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None

    # -- the loop -------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set, then commit what is done and leave the group."""
        if not self._topics:
            raise ConfigurationError("the processor has no topic to consume")
        self._consumer = Consumer(self._consumer_config, logger=log)
        self._producer = Producer(self._producer_config, logger=log)
        self._consumer.subscribe(
            self._topics, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_revoke
        )
        self.health.state = "running"
        log.info("processor consuming %s in group %s", ", ".join(self._topics), self.options.group_id)
        poll = asyncio.create_task(asyncio.to_thread(self._poll_batch, stop))
        try:
            while True:
                await poll
                self._pending, self._filling = self._filling, []
                if stop.is_set():  # a batch polled but not handled stays uncommitted: replayed
                    break
                # the next batch is polled while this one is handled (librdkafka is thread-safe)
                poll = asyncio.create_task(asyncio.to_thread(self._poll_batch, stop))
                if self._pending:
                    self._handling.set()
                    try:
                        await self._process(stop, poll)
                    finally:
                        self._handling.clear()
        finally:
            self.health.state = "stopping"
            if not poll.done():
                await asyncio.wait([poll])
            await asyncio.to_thread(self._close)

    def _poll_batch(self, stop: asyncio.Event) -> None:
        """Fill ``_filling`` up to the batch size or until the batch timeout, then for as long
        as the current batch is being handled, up to the maximum batch size (worker thread)."""
        assert self._consumer is not None
        size, deadline = self.options.batch_size, time.monotonic() + self.options.batch_timeout
        while len(self._filling) < size and not stop.is_set():
            remaining = deadline - time.monotonic()
            msgs = self._consumer.consume(size - len(self._filling), max(remaining, 0.0))
            self._take(msgs, self._filling)
            if remaining <= 0:
                break
        most = max(self.options.max_batch_size, size)
        while self._handling.is_set() and len(self._filling) < most and not stop.is_set():
            self._take(self._consumer.consume(min(size, most - len(self._filling)), 0.02), self._filling)

    def _take(self, msgs: list[Message], into: list[Record]) -> None:
        for msg in msgs:
            err = msg.error()
            if err is None:
                into.append(_record(msg))
            elif err.code() != KafkaError._PARTITION_EOF:
                log.warning("consumer: %s", err)

    async def _process(self, stop: asyncio.Event, poll: asyncio.Future[None]) -> None:
        """Handle ``_pending`` and commit it; on a store outage, take in the batch ``poll`` is
        fetching, pause, and retry until it goes through (or ``stop``)."""
        backoff = 0.2
        while self._pending:
            records = list(self._pending)
            started = time.perf_counter()
            try:
                refused: list[DeadLetter] = []
                for handler in self.handlers:
                    mine = set(handler.topics)
                    part = [r for r in records if r.topic in mine]
                    if part:
                        refused.extend(await handler.handle(part))
                if refused:
                    await asyncio.to_thread(self._dead_letter, refused)
            except StoreUnavailableError as exc:
                self.metrics.failed.inc(len(records))
                self._handling.clear()  # the batch polled meanwhile joins this one as it is
                if not poll.done():
                    await asyncio.wait([poll])
                self._pending.extend(self._filling)  # newer than the batch, in partition order
                self._filling = []
                self._pause(exc)
                if stop.is_set():
                    log.warning("stopping: abandoning a batch of %d records (replayed later)", len(records))
                    self._pending.clear()
                    return
                await asyncio.to_thread(self._wait_paused, backoff)
                backoff = min(backoff * 2, self.options.max_backoff)
                continue
            except Exception as exc:  # a bug: fail fast, the batch is replayed after a restart
                self.metrics.failed.inc(len(records))
                where = batch_extent(records)
                log.error(
                    "stopping: unexpected error handling a batch of %d records (%s); nothing of it "
                    "is committed or dead-lettered, it is replayed when a processor takes it over",
                    len(records),
                    where,
                    exc_info=exc,
                )
                raise InternalError(
                    f"the processor stopped on an unexpected error in a batch ({where}): "
                    f"{type(exc).__name__}: {exc}",
                    batch=where,
                ) from exc
            # the next batch stops growing first: a commit waits while another thread consumes
            self._handling.clear()
            await asyncio.to_thread(self._commit, records)
            self._pending.clear()
            self._resume()
            self.metrics.processed.inc(len(records) - len(refused))
            self.metrics.dead_lettered.inc(len(refused))
            self.metrics.batches.inc()
            self.metrics.batch_seconds.observe(time.perf_counter() - started)
            return
        # a rebalance during the outage took every record away: consume again (the next batch
        # finds out whether the store is back)
        self._resume()

    # -- Kafka calls (worker thread) ------------------------------------------------------------

    def _dead_letter(self, refused: list[DeadLetter]) -> None:
        assert self._producer is not None
        send_dead_letters(self._producer, self.dead_letter_topic, refused)

    def _commit(self, records: list[Record]) -> None:
        assert self._consumer is not None
        # a partition revoked while its records were handled belongs to another member now:
        # committing for it could move that member's offset back
        owned = {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
        ends: dict[TP, int] = {}
        for r in records:
            key = (r.topic, r.partition)
            if key in owned and r.offset >= ends.get(key, -1):
                ends[key] = r.offset + 1
        if not ends:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in ends.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:  # e.g. a rebalance: the new owner replays them (no-ops)
            log.warning("offsets not committed (%s): their records will be replayed", exc)
            return
        self._committed.update(ends)
        self.health.last_commit = time.time()
        self._update_lag()

    def _wait_paused(self, seconds: float) -> None:
        """Keep polling while paused (group membership, rebalances); anything still delivered
        joins the in-flight batch."""
        assert self._consumer is not None
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            self._take(self._consumer.consume(self.options.batch_size, min(remaining, 0.5)), self._pending)
            self._consumer.pause(self._consumer.assignment())  # also partitions newly assigned
        self._update_lag()

    def _pause(self, exc: StoreUnavailableError) -> None:
        assert self._consumer is not None
        if not self._paused:
            log.warning("a store is down (%s): consumption paused, the batch will be retried", exc.message)
            self._consumer.pause(self._consumer.assignment())
            self._paused = True
            self.metrics.paused.set(1)
            self.health.state, self.health.reason = "paused", exc.message

    def _resume(self) -> None:
        if self._paused and self._consumer is not None:
            log.info("the stores answer again: consumption resumed")
            self._consumer.resume(self._consumer.assignment())
            self._paused = False
            self.metrics.paused.set(0)
            self.health.state, self.health.reason = "running", None

    def _update_lag(self) -> None:
        assert self._consumer is not None
        for tp in self._consumer.position(self._consumer.assignment()):
            key = (tp.topic, tp.partition)
            committed = self._committed.get(key)
            if tp.offset >= 0 and committed is not None:
                self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(
                    max(tp.offset - committed, 0)
                )

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._set_assigned(consumer, partitions, [])
        log.info("assigned %s", ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "nothing")

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        gone = {(p.topic, p.partition) for p in partitions}
        # their new owner replays them from the committed offset; we must not commit them
        self._pending[:] = [r for r in self._pending if (r.topic, r.partition) not in gone]
        self._filling[:] = [r for r in self._filling if (r.topic, r.partition) not in gone]
        for key in gone:
            self._committed.pop(key, None)
        self._set_assigned(consumer, [], partitions)
        log.info("revoked %s", ", ".join(f"{p.topic}[{p.partition}]" for p in partitions) or "nothing")

    def _set_assigned(
        self, consumer: Consumer, added: list[TopicPartition], removed: list[TopicPartition]
    ) -> None:
        current = set(self.health.assigned)
        current |= {f"{p.topic}[{p.partition}]" for p in added}
        current -= {f"{p.topic}[{p.partition}]" for p in removed}
        self.health.assigned = sorted(current)
        self.metrics.assigned.set(len(current))

    def _close(self) -> None:
        if self._producer is not None:
            self._producer.flush(10)
        if self._consumer is not None:
            self._consumer.close()  # leaves the group: its partitions move at once


async def default_handlers(
    store: FeatureStore,
    settings: Settings,
    metrics: ProcessorMetrics,
    ingest_topics: Sequence[str] | None = None,
) -> list[BatchHandler]:
    """The handlers ``fstore processor run`` feeds: the ingest handler (on ``ingest_topics``,
    default the ingest topic) and, when features are defined as windowed aggregations, the
    aggregation handler on their source topics."""
    from fstore.streaming.aggregations import AggregationHandler
    from fstore.streaming.ingest import IngestHandler

    chosen = list(ingest_topics) if ingest_topics else [topics(settings).ingest]
    handlers: list[BatchHandler] = [IngestHandler(store, chosen, on_stored=metrics.observe_visible)]
    aggregations = await AggregationHandler.open(store)
    if aggregations.topics:
        handlers.append(aggregations)
    return handlers


async def run_processor(
    settings: Settings,
    options: ProcessorOptions,
    *,
    ingest_topics: Sequence[str] | None = None,
    metrics_port: int | None = None,
    metrics_host: str = "0.0.0.0",
    stop: asyncio.Event | None = None,
) -> None:
    """Open the store, serve ``/metrics`` and ``/health`` (if ``metrics_port``), consume until
    ``stop`` is set (or SIGTERM/SIGINT when it is not given), close everything."""
    import signal

    from fstore.store import FeatureStore
    from fstore.streaming.outbox import write_source
    from fstore.streaming.processor_http import serve

    client_config(settings)  # fails before anything starts when Kafka is not configured
    metrics, health = ProcessorMetrics(), Health()
    http = serve(metrics, health, metrics_port, metrics_host) if metrics_port is not None else None
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    try:
        async with FeatureStore(settings) as store:
            handlers = await default_handlers(store, settings, metrics, ingest_topics)
            with write_source("processor"):
                await Processor(settings, handlers, options, metrics, health).run(stop)
    finally:
        if http is not None:
            http.shutdown()
