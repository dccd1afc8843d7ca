"""Recording the ingestion activity (values stored per feature and minute, kept by the offline
store: ``OfflineStore.record_ingestion``) off a write call's path.

``IngestionRecorder.add`` (after a call's offline write) merges the call's counts into a
buffer and makes sure one flush is running; the flush writes everything buffered, one
``record_ingestion`` per minute, while the calls go on, then anything that arrived meanwhile.
A single write does not wait for the extra round trip (PostgreSQL: ~0.3 ms on loopback), and
a burst of calls shares one. ``flush`` (before this process reads the activity) and ``close``
(before the offline store closes) wait for it. What a killed process had not flushed — the
counts of its last round trip — is lost; never a value.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from fstore.backends.offline.base import ingestion_minute
from fstore.errors import FStoreError

if TYPE_CHECKING:
    from fstore.backends.offline.base import OfflineStore

log = logging.getLogger(__name__)


async def record_ingestion(offline: OfflineStore, stored: Mapping[str, int], at_us: int) -> None:
    """Add what a write stored (feature id -> new rows) to the offline store's ingestion
    activity now. Never raises a store error: the values are stored already, only the
    dashboard's count of them would be short."""
    try:
        await offline.record_ingestion({f: n for f, n in stored.items() if n}, at_us)
    except FStoreError as exc:
        log.warning("could not record the ingestion activity of a write: %s", exc)


class IngestionRecorder:
    def __init__(self, offline: OfflineStore) -> None:
        self.offline = offline
        self._buffer: dict[int, dict[str, int]] = {}  # minute (µs) -> feature id -> values
        self._flushing: asyncio.Task[None] | None = None

    def add(self, stored: Mapping[str, int], at_us: int) -> None:
        """Count ``stored`` (feature id -> new rows) in the minute of ``at_us``; written soon."""
        counts = self._buffer.setdefault(ingestion_minute(at_us) * 1_000_000, {})
        for feature_id, n in stored.items():
            if n:
                counts[feature_id] = counts.get(feature_id, 0) + n
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        while self._buffer:
            buffer, self._buffer = self._buffer, {}
            for minute_us, counts in buffer.items():
                if counts:
                    await record_ingestion(self.offline, counts, minute_us)

    async def flush(self) -> None:
        """Wait until everything added so far is written."""
        while self._flushing is not None and not self._flushing.done():
            await asyncio.shield(self._flushing)
        if self._buffer:  # added on a loop that has since gone (a closed sync twin's)
            await self._drain()

    async def close(self) -> None:
        await self.flush()
        self._flushing = None
