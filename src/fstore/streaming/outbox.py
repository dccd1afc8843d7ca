"""The event outbox: every acknowledged write's value-change events reach Kafka at least once,
even when the broker is down at write time, and a write never fails because Kafka does.

* ``begin`` (before a call's offline write): one small ``OutboxEntry`` per feature — a
  *reference* to the rows the call is about to store (its ingestion time and event time range),
  not the rows — recorded durably in the offline store, claimed by the writer. The write path
  pays that one insert (no per-row work).
* ``written`` (after the offline commit): entries whose feature stored rows go to this
  process's publisher; the others (every row ``unchanged``) are dropped.
* The publisher (``settings.events_publisher``): by default a child process at low priority
  (``publisher_process``), to which ``written`` hands the entries over by releasing them;
  ``thread``, a background task and thread of this process, which publishes its own entries
  from memory; ``external``: the entries are released for another process to publish.
  A publisher reads each entry's rows back from the offline history (``include_superseded``,
  filtered on the call's ``ingested_at``), produces them (``publisher``), and removes the entry
  once Kafka acknowledged every event; on failure the entry is released for a retry
  ``RETRY_SECONDS`` later. It also claims the entries other processes left (``claim_outbox``:
  free or lease expired), so a CLI run that ended during an outage is published by the next
  process.
* ``close`` publishes this process's entries for at most ``CLOSE_SECONDS`` and releases the
  rest for the next process at once (the child process: what is free, then it exits).

A writer killed before its first publishing round ended leaves its entries claimed for the
write lease (``Settings.outbox_lease_seconds``, far longer than an offline write); then anyone
publishes what the history holds for them (nothing if the write never committed). Duplicates
are possible (a publisher dying after Kafka acknowledged, a lease running out mid-publication)
and carry the same ``event_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Awaitable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from fstore.backends.offline.base import OfflineStore, OutboxEntry, WriteCount
from fstore.catalog import ResolvedFeature
from fstore.config import Settings
from fstore.errors import NotFoundError
from fstore.streaming.publisher import Publisher, encode_all, require_client
from fstore.streaming.publisher_process import PublisherProcess
from fstore.values import Values

log = logging.getLogger(__name__)
T = TypeVar("T")

CLAIM_LEASE_SECONDS = 60.0  # a claimed round: read, encode, produce, acknowledged
RETRY_SECONDS = 2.0
LINGER_SECONDS = 0.05  # a write's events wait this long for others to publish with
POLL_SECONDS = 2.0  # how often a process looks for entries others left
CLOSE_SECONDS = 5.0
SEND_TIMEOUT_SECONDS = 15.0  # > the producer's message.timeout.ms: every outcome is known
ROUND_ENTRIES = 64
CLAIM_ENTRIES = 1_000  # a child publisher's round: it publishes everyone's entries by claims
# stop adding entries to a round past this many events: a round cut short by ``close`` is
# published again in full later, so rounds stay small (~1 s)
ROUND_EVENTS = 100_000
DONE_BATCH = 256
READ_BACK_MARGIN_US = 3_600_000_000  # entries of a feature within an hour are read back together
HELD_ROWS = 2_000_000  # rows kept in memory for publishing at most; beyond, they are read back
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PUBLISHER_NICE = 10

# What wrote the values (the events' ``source``): the SDK unless the API, the CLI or the
# processor says otherwise for its context (``write_source``).
_SOURCE: ContextVar[str] = ContextVar("fstore_write_source", default="sdk")


def current_source() -> str:
    return _SOURCE.get()


def set_source(source: str) -> None:
    """Tag the writes of the current context (a request, a command, a task) with ``source``."""
    _SOURCE.set(source)


@contextlib.contextmanager
def write_source(source: str) -> Iterator[None]:
    token = _SOURCE.set(source)
    try:
        yield
    finally:
        _SOURCE.reset(token)


def _lower_priority() -> None:
    """The publisher's thread (and librdkafka's threads, which it creates and which inherit
    its priority) yields the CPU to the write path when both want it."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PUBLISHER_NICE)


def _now_us() -> int:
    return time.time_ns() // 1000


def _stamp() -> int:
    return secrets.randbits(63)


class EventOutbox:
    """The write path's hooks and the background publisher (see the module docstring)."""

    def __init__(self, settings: Settings, offline: OfflineStore) -> None:
        self.settings = settings
        self.offline = offline
        self.enabled = bool(settings.kafka_bootstrap_servers)
        self.mode = settings.events_publisher
        self._published = 0  # events acknowledged by Kafka (this process's publisher)
        self._failures = 0  # rounds that failed (the broker down, …)
        self._backlog = 0  # outbox entries, as last counted
        self._ready: list[OutboxEntry] = []  # committed by this process's writes, held by it
        self._handed: list[OutboxEntry] = []  # committed, to release for another publisher
        self._child: PublisherProcess | None = None
        self._claimed = 0  # entries the last round claimed
        # entries to remove: published, or their call stored nothing (in batches: at most
        # every POLL_SECONDS or DONE_BATCH at a time, so a single write costs one outbox write)
        self._done: list[OutboxEntry] = []
        self._next_flush = 0.0
        # the rows of ready entries whose call stored every row it was given: published from
        # memory, not read back (dropped when a round fails: a retry reads them back)
        self._tables: dict[tuple[str, str], pa.Table] = {}
        self._held = 0  # rows in ``_tables``
        self._publisher: Publisher | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None
        self._stopping = False
        self._next_claim = 0.0

    # what the publisher (this process's or its child) reports
    @property
    def published(self) -> int:
        return self._published + (self._child.published if self._child else 0)

    @property
    def failures(self) -> int:
        return self._failures + (self._child.failures if self._child else 0)

    @property
    def backlog(self) -> int:
        return self._child.backlog if self._child else self._backlog

    @property
    def publisher_pid(self) -> int | None:
        """The child publisher's process id (``events_publisher="process"``)."""
        return self._child.pid if self._child else None

    # -- the write path -------------------------------------------------------------------------

    async def begin(
        self, batches: Sequence[tuple[ResolvedFeature, Values]], ingested_us: int
    ) -> list[OutboxEntry]:
        """Before a call's offline write: record its entries (raises if the offline store
        cannot: the call then stores nothing)."""
        if not self.enabled:
            return []
        call, source, now, stamp = secrets.token_hex(8), current_source(), _now_us(), _stamp()
        until = now + int(self.settings.outbox_lease_seconds * 1e6)
        entries: list[OutboxEntry] = []
        for resolved, values in batches:
            if len(values):
                span = pc.min_max(values.event_ts.cast(pa.int64()))
                entries.append(
                    OutboxEntry(
                        call,
                        resolved.feature.id,
                        resolved.feature.name,
                        resolved.entity.name,
                        ingested_us,
                        span["min"].as_py(),
                        span["max"].as_py(),
                        source,
                        until,
                        stamp,
                        now,
                    )
                )
        await self.offline.add_outbox(entries)
        return entries

    async def alongside(
        self, other: Awaitable[T], batches: Sequence[tuple[ResolvedFeature, Values]], ingested_us: int
    ) -> tuple[T, list[OutboxEntry]]:
        """``other`` (the repair ledger's entry of the same call) and ``begin``, concurrently;
        raises the first error once both are done."""
        if not self.enabled:
            return await other, []
        first, second = await asyncio.gather(other, self.begin(batches, ingested_us), return_exceptions=True)
        for result in (first, second):
            if isinstance(result, BaseException):
                raise result
        return first, second  # type: ignore[return-value]

    def written(
        self,
        entries: Sequence[OutboxEntry],
        counts: Mapping[str, WriteCount],
        tables: Mapping[str, pa.Table],
    ) -> None:
        """After the offline commit: hand the entries (and ``tables``, the rows the call gave
        the offline store, by feature id) to this process's publisher."""
        for e in entries:
            stored = counts.get(e.feature_id, WriteCount()).stored
            if not stored:
                self._done.append(e)
                continue
            if self.mode != "thread":
                self._handed.append(e)
                continue
            self._ready.append(e)
            table = tables.get(e.feature_id)
            if table is not None and table.num_rows == stored and self._held + stored <= HELD_ROWS:
                self._tables[(e.call, e.feature_id)] = table  # no row unchanged or duplicated
                self._held += stored
        if entries and self._wake is not None:
            self._wake.set()

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, *, background: bool = True) -> None:
        """Start the publisher (when Kafka is configured): ``settings.events_publisher``'s.
        Without ``background``, no task: the caller runs the rounds (``publish_free``)."""
        if not self.enabled or self._task is not None:
            return
        require_client()
        self._wake, self._lock, self._stopping = asyncio.Event(), asyncio.Lock(), False
        if self.mode == "thread":
            self._start_publisher()
            run = self._run()
        else:
            if self.mode == "process":
                self._child = PublisherProcess(self.settings)
                self._child.start()
            run = self._hand_over()
        if background:
            self._task = asyncio.get_running_loop().create_task(run, name="fstore-outbox")
        else:
            run.close()

    def cut_off(self, deadline: float) -> None:
        """A send in progress gives up at ``deadline`` (monotonic time)."""
        if self._publisher is not None:
            self._publisher.cutoff = deadline

    def _start_publisher(self) -> None:
        self._publisher = Publisher(self.settings)
        self._thread = ThreadPoolExecutor(1, "fstore-events", initializer=_lower_priority)

    async def close(self) -> None:
        """Publish this process's entries for at most ``CLOSE_SECONDS``; release the rest."""
        task, self._task = self._task, None
        if task is None and self._publisher is None:
            return
        self._stopping = True
        assert self._wake is not None
        self._wake.set()
        deadline = time.monotonic() + CLOSE_SECONDS
        self.cut_off(deadline)  # a round in progress gets until then
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._publisher is None:
            await self._close_handing_over()
            return
        try:
            while self._ready:
                left = deadline - time.monotonic()
                if left <= 0.5 or not await self.drain(claim=False, wait=left):
                    break
        except Exception as exc:
            log.warning("cannot publish the remaining value-change events: %s", exc)
        try:
            await self._flush_done()
            await self.offline.release_outbox(self._ready)  # the next process takes them at once
        except Exception as exc:  # they are free once their lease ends
            log.warning("cannot settle the outbox entries: %s", exc)
        self._ready, self._done, self._tables, self._held = [], [], {}, 0
        if self._publisher is not None and self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._publisher.close)
            self._thread.shutdown(wait=False)
            self._thread = None

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.drain(claim=True, wait=SEND_TIMEOUT_SECONDS)
            except Exception as exc:  # the offline store down, …: the next round retries
                log.warning("the event outbox failed: %s", exc)
            if self._stopping:
                break
            await self._linger()

    async def _linger(self) -> None:
        """Until the next round: a poke (then a short linger: writes of a burst join one
        round) or ``POLL_SECONDS``."""
        assert self._wake is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
        if self._wake.is_set() and not self._stopping:
            await asyncio.sleep(LINGER_SECONDS)
        self._wake.clear()

    # -- handing over to another publisher ------------------------------------------------------

    async def _hand_over(self) -> None:
        """Release the committed entries for the child (or another process) to publish."""
        while not self._stopping:
            await self._linger()
            try:
                await self._release_handed()
            except Exception as exc:  # the offline store down: their lease frees them later
                log.warning("cannot hand value-change events over to the publisher: %s", exc)
            if self._child is not None and not self._child.alive and not self._stopping:
                log.warning("the event publisher process ended: publishing in this process")
                self._end_child(0)
                self.mode = "thread"
                self._start_publisher()
                self._task = asyncio.get_running_loop().create_task(self._run(), name="fstore-outbox")
                return

    async def _release_handed(self) -> None:
        entries, self._handed = self._handed, []
        try:
            await self.offline.release_outbox(entries)
        except Exception:
            self._handed[:0] = entries
            raise
        if entries and self._child is not None:
            self._child.poke()
        if self._done and (len(self._done) >= DONE_BATCH or time.monotonic() >= self._next_flush):
            await self._flush_done()
        if self._child is None and time.monotonic() >= self._next_claim:
            self._next_claim = time.monotonic() + POLL_SECONDS
            self._backlog = await self.offline.outbox_backlog()

    async def _close_handing_over(self) -> None:
        try:
            await self._release_handed()
            await self._flush_done()
        except Exception as exc:  # they are free once their lease ends
            log.warning("cannot settle the outbox entries: %s", exc)
        self._handed, self._done = [], []
        await asyncio.to_thread(self._end_child, CLOSE_SECONDS + 5.0)

    def _end_child(self, timeout: float) -> None:
        """Stop the child publisher (see ``PublisherProcess.stop``); its totals become ours."""
        child, self._child = self._child, None
        if child is not None:
            child.stop(timeout)
            self._published += child.published
            self._failures += child.failures

    # -- publishing -----------------------------------------------------------------------------

    async def drain(
        self, *, claim: bool = True, wait: float = SEND_TIMEOUT_SECONDS, limit: int = ROUND_ENTRIES
    ) -> bool:
        """One round: publish this process's entries (and with ``claim`` up to ``limit`` of
        those free in the outbox). Returns False when the round failed."""
        assert self._lock is not None
        async with self._lock:
            entries, self._ready = self._ready, []
            if len(self._done) >= DONE_BATCH or time.monotonic() >= self._next_flush:
                await self._flush_done()
            self._claimed = 0
            if claim and time.monotonic() >= self._next_claim:
                self._next_claim = time.monotonic() + POLL_SECONDS
                claimed = await self.offline.claim_outbox(limit, int(CLAIM_LEASE_SECONDS * 1e6))
                self._claimed = len(claimed)
                entries += claimed
                self._backlog = await self.offline.outbox_backlog()
            if not entries:
                return True
            entries.sort(key=lambda e: e.created_us)
            return await self._publish(entries, wait)

    async def publish_free(self, wait: float | None = None) -> bool:
        """A round of the entries free in the outbox, claimed now (a child publisher's round).
        Returns True when it was full: more may be waiting."""
        self._next_claim = 0.0
        ok = await self.drain(claim=True, wait=wait or SEND_TIMEOUT_SECONDS, limit=CLAIM_ENTRIES)
        return ok and (self._claimed >= CLAIM_ENTRIES or bool(self._ready))

    async def _flush_done(self) -> None:
        self._next_flush = time.monotonic() + POLL_SECONDS
        done, self._done = self._done, []
        await self.offline.remove_outbox(done)

    async def _publish(self, entries: list[OutboxEntry], wait: float) -> bool:
        found: list[tuple[OutboxEntry, pa.Table]] = []
        taken: list[OutboxEntry] = []
        count = 0
        try:
            for i, entry in enumerate(entries):
                if count >= ROUND_EVENTS:  # the rest in the next round, still held by us
                    self._ready.extend(entries[i:])
                    break
                if (entry.call, entry.feature_id) not in self._tables:
                    await self._read_back(entry, entries[i:])
                rows = self._rows(entry)
                found.append((entry, rows))
                taken.append(entry)
                count += rows.num_rows
        except Exception:
            self._forget(entries)
            await self.offline.release_outbox(entries, int(RETRY_SECONDS * 1e6))
            raise
        if self._ready and self._wake is not None:
            self._wake.set()
        ok, error = await asyncio.get_running_loop().run_in_executor(self._thread, self._send, found, wait)
        if ok:
            self._done.extend(taken)
            self._published += count
            return True
        self._failures += 1
        self._forget(taken)
        log.warning("cannot publish %d value-change events (%s); retrying later", count, error)
        await self.offline.release_outbox(taken, int(RETRY_SECONDS * 1e6))
        return False

    def _send(self, found: list[tuple[OutboxEntry, pa.Table]], wait: float) -> tuple[bool, str | None]:
        """In a worker thread: encode (Arrow releases the GIL) and produce."""
        assert self._publisher is not None
        return self._publisher.send(encode_all(found), wait)

    def _take(self, entry: OutboxEntry) -> pa.Table | None:
        table = self._tables.pop((entry.call, entry.feature_id), None)
        if table is not None:
            self._held -= table.num_rows
        return table

    def _forget(self, entries: Sequence[OutboxEntry]) -> None:
        for e in entries:
            self._take(e)

    def _rows(self, entry: OutboxEntry) -> pa.Table:
        """The rows ``entry``'s call stored, in event time order."""
        table = self._take(entry)
        if table is None or table.num_rows == 0:
            return pa.table({})
        return table.take(pc.sort_indices(table.column("event_timestamp")))

    async def _read_back(self, first: OutboxEntry, entries: Sequence[OutboxEntry]) -> None:
        """Read the rows of ``first`` back from the offline history (its call's ingestion time,
        within its event time range), and in the same read those of the ``entries`` of its
        feature whose ranges are near its own (a burst of small calls costs one read, not one
        each); they are held in ``_tables`` until published."""
        margin = max(first.end_us - first.start_us, READ_BACK_MARGIN_US)
        low, high = first.start_us - margin, first.end_us + margin
        group = [
            e
            for e in entries
            if e.feature_id == first.feature_id
            and (e.call, e.feature_id) not in self._tables
            and low <= e.start_us
            and e.end_us <= high
        ]
        start = EPOCH + timedelta(microseconds=min(e.start_us for e in group))
        end = EPOCH + timedelta(microseconds=max(e.end_us for e in group))
        try:
            rows = await self.offline.history(first.feature_id, start=start, end=end, include_superseded=True)
        except NotFoundError:
            rows = None  # the feature is gone
        if rows is not None:
            ingested = rows.column("ingested_at").cast(pa.int64())
            event_us = rows.column("event_timestamp").cast(pa.int64())
        for e in group:
            if rows is None:
                table = pa.table({})
            else:
                mine = pc.and_(
                    pc.equal(ingested, e.ingested_us),
                    pc.and_(pc.greater_equal(event_us, e.start_us), pc.less_equal(event_us, e.end_us)),
                )
                table = rows.filter(mine)
            self._tables[(e.call, e.feature_id)] = table
            self._held += table.num_rows
