"""Keeping serving correct when the online store is down.

The offline store is the source of truth. ``OnlineGuard`` stands between the service and the
online store: when the online store fails (``StoreUnavailableError``), reads fall back to the
offline store and writes land offline only; a circuit breaker then skips the online store for
``cooldown`` seconds instead of paying a connection timeout per request. Features written
while the online store was unreachable are remembered (with the oldest event time written);
on the first successful contact afterwards they are re-materialised from the offline store, so
no stale value is served once the online store is back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fstore.backends.online.base import OnlineRecord, OnlineStore, OnlineWrite
from fstore.errors import StoreUnavailableError
from fstore.instrumentation import OperationStats

log = logging.getLogger(__name__)

Repair = Callable[[dict[str, int]], Awaitable[None]]


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


class OnlineGuard:
    def __init__(self, online: OnlineStore, metrics: Metrics, cooldown: float = 5.0) -> None:
        self.online = online
        self.metrics = metrics
        self.cooldown = cooldown
        self.repair: Repair | None = None
        self.dirty: dict[str, int] = {}  # feature id -> oldest event time (µs) written offline only
        self._open_until = 0.0
        self._repairing = False
        self._opened = False

    async def open(self) -> None:
        """Connect the online store; if it is unreachable, start with the circuit open."""
        try:
            await self.online.open()
            self._opened = True
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

    async def _repair_if_needed(self) -> None:
        if not self.dirty or self._repairing or self.repair is None:
            return
        self._repairing = True
        pending = dict(self.dirty)
        try:
            await self.repair(pending)
        except StoreUnavailableError as exc:
            self._failed(exc, "repair")
            raise
        finally:
            self._repairing = False
        for feature_id, ts in pending.items():
            if self.dirty.get(feature_id) == ts:
                del self.dirty[feature_id]
        self.metrics.online_repairs += 1
        log.info("online store repaired: re-materialised %s", ", ".join(sorted(pending)))

    async def cache(
        self, feature_id: str, meta: dict[str, Any], version: str, transformer: dict[str, Any] | None
    ) -> None:
        """Best effort: refresh the online store's copy of a feature's metadata and current
        transformer. Serving does not depend on it, so an outage only logs."""
        if not self.available:
            return
        try:
            await self._ensure_open()
            await self.online.put_feature_meta(feature_id, meta)
            if transformer is not None:
                await self.online.put_transformer(feature_id, version, transformer)
        except StoreUnavailableError as exc:
            self._failed(exc, "metadata cache")

    async def read(
        self, entity: str, entity_ids: Sequence[str], feature_ids: Sequence[str]
    ) -> list[list[OnlineRecord | None]] | None:
        """The online records, or None when the online store cannot be used now."""
        if not self.available:
            self.metrics.online_read_fallbacks += 1
            return None
        try:
            await self._ensure_open()
            if self.dirty:
                await self._repair_if_needed()
            return await self.online.read(entity, entity_ids, feature_ids)
        except StoreUnavailableError as exc:
            self._failed(exc, "read")
            self.metrics.online_read_fallbacks += 1
            return None

    async def write(self, entity: str, writes: Sequence[OnlineWrite], *, remember: bool = True) -> bool:
        """Write online; on failure remember the features for repair (``remember``) and
        return False. Repopulating reads pass ``remember=False``: nothing is lost there."""
        if self.available and not self._repairing:
            try:
                await self._ensure_open()
                if self.dirty:
                    await self._repair_if_needed()
                await self.online.write(entity, writes)
                return True
            except StoreUnavailableError as exc:
                self._failed(exc, "write")
        elif self._repairing:
            await self.online.write(entity, writes)  # the repair's own writes: errors propagate
            return True
        if remember:
            self.metrics.online_write_failures += 1
            for w in writes:
                if len(w.event_ts):
                    oldest = min(w.event_ts)
                    self.dirty[w.feature_id] = min(self.dirty.get(w.feature_id, oldest), oldest)
        return False
