"""Keeping serving correct when the online store is down.

The offline store is the source of truth and a write's acknowledgement point: once it holds a
call's values the call succeeds, whatever happens online. ``OnlineGuard`` stands between the
service and the online store: when the online store fails (``StoreUnavailableError``), reads
fall back to the offline store and writes land offline only; a circuit breaker then skips the
online store for ``cooldown`` seconds instead of paying a connection timeout per request.

What the online copy may lack is kept durably in the offline store's repair ledger (see
``RepairEntry``), not in process memory, so any process that reaches the online store repairs
it: at open, at the first contact after its circuit closes, and otherwise at most every
``cooldown`` seconds on the read and write paths (a clock comparison, then one small ledger
query). A write call records its features before its offline write and removes that entry
once its online write succeeded (in batches: at most every ``cooldown`` seconds); if the
online write failed, the features' standing entries take over. An entry of a call left
behind (its writer died between the two writes) is repaired once it is older than
``pending_grace`` seconds. A repair re-materialises each feature from its oldest time (online
writes are last-write-wins by event time, so anything newer online survives) and removes
exactly the entries it read.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fstore.backends.offline.base import OfflineStore, RepairEntry
from fstore.backends.online.base import OnlineRecord, OnlineStore, OnlineWrite
from fstore.errors import StoreUnavailableError
from fstore.instrumentation import OperationStats

log = logging.getLogger(__name__)

# The online writes that bring the given features (id -> oldest event time, µs; None: all of
# it) up to date from the offline store, per entity.
Repair = Callable[[dict[str, int | None]], Awaitable[Mapping[str, Sequence[OnlineWrite]]]]
# ``call`` of an entry recording that a feature was deleted while the online store could not
# delete its values: "deleted:<entity>"; a repair deletes them (and re-materialises a feature
# created again under the same id).
DELETED = "deleted:"
# How long a write call's own ledger entry is left to its writer before anyone repairs it: far
# longer than one call's offline-to-online gap, so only a dead writer's entry reaches it.
PENDING_GRACE_SECONDS = 60.0
# Finished calls' entries are removed together, at most every ``cooldown`` seconds or once
# this many wait: a single write then costs one ledger round trip, not two.
DONE_BATCH = 256


@dataclass
class Metrics:
    """Counters of the serving and write paths, and the latency of every backend call
    (``operations``); the REST API's /metrics exports them."""

    online_hits: int = 0
    online_misses: int = 0
    online_read_fallbacks: int = 0
    online_write_failures: int = 0
    online_repairs: int = 0
    ingested_values: int = 0
    operations: OperationStats = field(default_factory=OperationStats)

    def count_ingested(self, n: int) -> None:
        self.ingested_values += n

    def as_dict(self) -> dict[str, int]:
        """The counters (not the latencies)."""
        return {
            "online_hits": self.online_hits,
            "online_misses": self.online_misses,
            "online_read_fallbacks": self.online_read_fallbacks,
            "online_write_failures": self.online_write_failures,
            "online_repairs": self.online_repairs,
            "ingested_values": self.ingested_values,
        }


def oldest_times(writes: Sequence[OnlineWrite], into: dict[str, int] | None = None) -> dict[str, int]:
    """Feature id -> the oldest event time (µs) among ``writes``, merged into ``into``."""
    out = {} if into is None else into
    for w in writes:
        if len(w.event_ts):
            oldest = int(min(w.event_ts))
            out[w.feature_id] = min(out.get(w.feature_id, oldest), oldest)
    return out


class OnlineGuard:
    def __init__(
        self,
        online: OnlineStore,
        metrics: Metrics,
        cooldown: float = 5.0,
        ledger: OfflineStore | None = None,
    ) -> None:
        self.online = online
        self.metrics = metrics
        self.cooldown = cooldown
        self.ledger = ledger
        self.repair: Repair | None = None
        self.pending_grace = PENDING_GRACE_SECONDS
        self._open_until = 0.0
        self._next_check = 0.0  # monotonic time of the next look at the ledger
        self._done: list[RepairEntry] = []  # entries of finished calls, still in the ledger
        self._next_flush = 0.0
        self._repairing = False
        self._opened = False

    async def close(self) -> None:
        """Remove the finished calls' entries (before the offline store closes)."""
        await self._flush_done()

    async def open(self) -> None:
        """Connect the online store and repair what the ledger holds; if it is unreachable,
        start with the circuit open."""
        try:
            await self.online.open()
            self._opened = True
            await self._check_repairs()
        except StoreUnavailableError as exc:
            self._failed(exc, "open")

    async def _ensure_open(self) -> None:
        if not self._opened:
            await self.online.open()
            self._opened = True

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._open_until

    def _failed(self, exc: Exception, what: str) -> None:
        if self.available:
            log.warning("online store unavailable (%s): %s; serving from the offline store", what, exc)
        self._open_until = time.monotonic() + self.cooldown
        self._next_check = self._open_until  # the first contact after the circuit closes repairs

    # -- the repair ledger ----------------------------------------------------------------------

    def _due(self, entries: list[RepairEntry]) -> list[RepairEntry]:
        """Standing entries and deletions, and calls' entries whose writer had
        ``pending_grace`` to finish."""
        cutoff = time.time_ns() // 1000 - int(self.pending_grace * 1_000_000)
        return [e for e in entries if not e.call or e.call.startswith(DELETED) or e.created_us <= cutoff]

    async def _check_repairs(self) -> None:
        """Repair the online copy of every feature the ledger says is due. Raises only
        ``StoreUnavailableError`` of the online store; anything else is logged and left for
        the next check (the caller's own call must not fail for it)."""
        self._next_check = time.monotonic() + self.cooldown
        if self._repairing or self.repair is None or self.ledger is None:
            return
        self._repairing = True
        try:
            await self._flush_done()
            try:
                due = self._due(await self.ledger.online_repairs())
                if not due:
                    return
                oldest: dict[str, int | None] = {}
                deleted: list[tuple[str, str]] = []
                for e in due:
                    if e.call.startswith(DELETED):
                        deleted.append((e.call.removeprefix(DELETED), e.feature_id))
                        oldest[e.feature_id] = None
                    elif e.feature_id not in oldest:
                        oldest[e.feature_id] = e.oldest_us
                    elif (known := oldest[e.feature_id]) is not None:
                        oldest[e.feature_id] = min(known, e.oldest_us)
                writes = await self.repair(oldest)
            except Exception as exc:  # the offline store or the registry: next time
                log.warning("cannot prepare the online repair: %s", exc)
                return
            try:
                for entity, feature_id in deleted:
                    await self.online.delete_feature(entity, feature_id)
                for entity, entity_writes in writes.items():
                    await self.online.write(entity, entity_writes)
            except StoreUnavailableError:
                raise
            except Exception:
                log.exception("the online repair failed; it stays in the ledger")
                return
            try:
                await self.ledger.remove_online_repairs(due)
            except Exception as exc:  # repaired; the entries are repaired again later, harmlessly
                log.warning("cannot clear the online repair ledger: %s", exc)
            self.metrics.online_repairs += 1
            log.info("online store repaired: re-materialised %s", ", ".join(sorted(oldest)))
        finally:
            self._repairing = False

    async def begin(self, oldest: Mapping[str, int]) -> list[RepairEntry]:
        """Before a call's offline write: record its features (id -> oldest event time) in
        the ledger, so a writer killed after its offline commit leaves them for repair.
        Raises when the offline store cannot take it (the call then stores nothing)."""
        if self.ledger is None or not oldest:
            return []
        return await self.ledger.add_online_repairs(oldest, call=secrets.token_hex(8))

    async def publish(
        self, online: Mapping[str, Sequence[OnlineWrite]], pending: Sequence[RepairEntry]
    ) -> bool:
        """After a call's offline commit: write its values online and settle its ledger entries
        (``begin``). Never raises: the call is durable already. Features whose online write
        failed get standing entries; then the call's own entries are done (removed in a batch
        soon: until then they only look like a live writer's)."""
        return await self.settle(await self.write_online(online), pending)

    async def write_online(self, online: Mapping[str, Sequence[OnlineWrite]]) -> dict[str, int]:
        """Write a call's values online; never raises. Returns the oldest event time of each
        feature whose write failed (for ``settle``)."""
        failed: dict[str, int] = {}
        for entity, writes in online.items():
            if not await self._write(entity, writes):
                oldest_times(writes, failed)
        return failed

    async def settle(self, failed: Mapping[str, int], pending: Sequence[RepairEntry]) -> bool:
        """After a call's offline commit and its online write (``write_online``): standing
        entries for the features whose online write ``failed``, then the call's own entries are
        done. Never raises."""
        if failed:
            self.metrics.online_write_failures += 1
            if self.ledger is not None:
                try:
                    await self.ledger.add_online_repairs(failed)
                except Exception as exc:  # the call's own entries stay: repaired after pending_grace
                    log.warning("cannot record the online repair: %s", exc)
                    return False
        self._done.extend(pending)
        if len(self._done) >= DONE_BATCH or time.monotonic() >= self._next_flush:
            await self._flush_done()
        return not failed

    async def _flush_done(self) -> None:
        self._next_flush = time.monotonic() + self.cooldown
        if not self._done or self.ledger is None:
            return
        done, self._done = self._done, []
        try:
            await self.ledger.remove_online_repairs(done)
        except Exception as exc:  # left in the ledger: repaired (needlessly) after pending_grace
            log.warning("cannot clear the online repair ledger: %s", exc)

    # -- online calls ---------------------------------------------------------------------------

    async def cache(
        self, feature_id: str, meta: dict[str, Any], version: str, transformer: dict[str, Any] | None
    ) -> None:
        """Best effort: refresh the online store's copy of a feature's metadata and current
        transformer. Serving does not depend on it, so a failure only logs."""
        if not self.available:
            return
        try:
            await self._ensure_open()
            await self.online.put_feature_meta(feature_id, meta)
            if transformer is not None:
                await self.online.put_transformer(feature_id, version, transformer)
        except StoreUnavailableError as exc:
            self._failed(exc, "metadata cache")
        except Exception:
            log.exception("cannot cache the metadata of %s online", feature_id)

    async def delete_feature(self, entity: str, feature_id: str) -> None:
        """Delete a feature's online values. Never raises: the feature is gone from the
        registry and the offline store already; if the online store cannot do it now, the
        ledger records it for a repair."""
        try:
            if not self.available:
                raise StoreUnavailableError("the circuit is open", store="online")
            await self._ensure_open()
            await self.online.delete_feature(entity, feature_id)
            return
        except StoreUnavailableError as exc:
            self._failed(exc, "delete")
        except Exception:
            log.exception("cannot delete the online values of %s", feature_id)
        if self.ledger is not None:
            try:
                await self.ledger.add_online_repairs({feature_id: 0}, call=DELETED + entity)
            except Exception as exc:
                log.warning("cannot record the online deletion of %s: %s", feature_id, exc)

    async def read(
        self, entity: str, entity_ids: Sequence[str], feature_ids: Sequence[str]
    ) -> list[list[OnlineRecord | None]] | None:
        """The online records, or None when the online store cannot be used now."""
        now = time.monotonic()
        if now < self._open_until:
            self.metrics.online_read_fallbacks += 1
            return None
        try:
            if not self._opened:
                await self._ensure_open()
            if now >= self._next_check:
                await self._check_repairs()
            return await self.online.read(entity, entity_ids, feature_ids)
        except StoreUnavailableError as exc:
            self._failed(exc, "read")
            self.metrics.online_read_fallbacks += 1
            return None

    async def _write(self, entity: str, writes: Sequence[OnlineWrite]) -> bool:
        """Write online; False (never an exception) when that failed or was skipped."""
        now = time.monotonic()
        if now < self._open_until:
            return False
        try:
            if not self._opened:
                await self._ensure_open()
            if now >= self._next_check:
                await self._check_repairs()
            await self.online.write(entity, writes)
            return True
        except StoreUnavailableError as exc:
            self._failed(exc, "write")
        except Exception:
            log.exception("the online write failed")
        return False

    async def write(self, entity: str, writes: Sequence[OnlineWrite], *, remember: bool = True) -> bool:
        """Write online; False when that failed. ``remember`` records the features in the
        ledger then; repopulating reads pass False: nothing is lost there."""
        if await self._write(entity, writes):
            return True
        if remember:
            self.metrics.online_write_failures += 1
            if self.ledger is not None:
                try:
                    await self.ledger.add_online_repairs(oldest_times(writes))
                except Exception as exc:
                    log.warning("cannot record the online repair: %s", exc)
        return False
