"""Offline store protocol: the append-only history of every feature value.

Tables crossing this boundary are Arrow tables with the history schema below. Timestamps
are ``timestamp[us, tz=UTC]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from fstore.errors import ValidationError

if TYPE_CHECKING:
    import pyarrow as pa

# History columns, in order:
#   entity_id        string
#   event_timestamp  timestamp[us, UTC]
#   value            float64 | int64 | string  (the feature's dtype; null allowed)
#   transformed      float64 | int64 | list<float64> | null  (null type when no transformer)
#   version          string (the feature version that transformed the value)
#   ingested_at      timestamp[us, UTC]
# The quantiles every statistics computation reports (embedded, PostgreSQL, Spark), by name.
QUANTILES = {"p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99}
HISTORY_COLUMNS = ("entity_id", "event_timestamp", "value", "transformed", "version", "ingested_at")
# ``latest`` returns only these: its callers re-transform with the current version.
LATEST_COLUMNS = ("entity_id", "event_timestamp", "value")
# Audit / access log records: ``action`` is required; ``at`` defaults to now; ``details`` is
# any JSON-able dict. ``list_audit`` returns them with an ``id`` too, newest first.
AUDIT_FIELDS = ("at", "actor", "action", "resource", "outcome", "details")


@dataclass(frozen=True, slots=True)
class WriteCount:
    """What a write did with one feature's rows.

    The identity of a stored value is (feature, entity_id, event_timestamp). ``stored``: rows
    written (new identities, or corrections: a value different from the identity's current
    one, which they supersede); ``unchanged``: rows whose identity already holds that value
    (not written); ``duplicates``: rows dropped because a later row of the same call has the
    same identity (within a call the newest ``ingested_at``, then the last row, wins)."""

    stored: int = 0
    unchanged: int = 0
    duplicates: int = 0


@dataclass(frozen=True, slots=True)
class PitRequest:
    """One feature to join onto the entity rows of a training set.

    ``join_key`` is the entity-row column holding the entity id; ``output`` the column name
    the raw value lands in; with ``ttl_seconds`` values older than that (relative to the row's
    timestamp) count as missing.
    """

    feature_id: str
    join_key: str
    output: str
    ttl_seconds: int | None = None


def validate_pit(entity_rows: pa.Table, timestamp_column: str, requests: Sequence[PitRequest]) -> None:
    """The checks every backend's ``point_in_time`` starts with."""
    import pyarrow as pa

    if not isinstance(entity_rows, pa.Table):
        raise ValidationError("entity rows must be an Arrow table")
    names = set(entity_rows.column_names)
    if timestamp_column not in names:
        raise ValidationError(f"the entity rows have no timestamp column {timestamp_column!r}")
    outputs: set[str] = set()
    for req in requests:
        if req.join_key not in names:
            raise ValidationError(f"the entity rows have no join key column {req.join_key!r}")
        if req.output in names or req.output in outputs:
            raise ValidationError(f"output column {req.output!r} would appear twice")
        if req.ttl_seconds is not None and req.ttl_seconds < 0:
            raise ValidationError("ttl_seconds must not be negative")
        outputs.add(req.output)


@dataclass(frozen=True, slots=True)
class RepairEntry:
    """An entry of the online repair ledger: the online copy of ``feature_id`` may lack values
    with event times at or after ``oldest_us`` (µs since the epoch).

    ``call`` is ``""`` for the feature's standing entry (an online write failed; entries merge,
    the older time kept), ``"deleted:<entity>"`` when the feature was deleted but its online
    values could not be, or the id of one write call in progress (recorded before its offline
    write, removed once its online write succeeded: one left behind means its writer died).
    ``stamp`` changes whenever the entry does, so a removal takes out exactly what its caller
    saw; ``created_us`` is when the entry was first recorded (µs, the store's clock).
    """

    feature_id: str
    oldest_us: int
    call: str = ""
    stamp: int = 0
    created_us: int = 0


def validate_repairs(oldest: Mapping[str, int], call: str) -> None:
    for feature_id, ts in oldest.items():
        if not isinstance(feature_id, str) or not feature_id or "\x00" in feature_id:
            raise ValidationError(f"not a feature id: {feature_id!r}")
        if not isinstance(ts, int) or isinstance(ts, bool):
            raise ValidationError(f"the oldest event time of {feature_id!r} must be integer microseconds")
    if not isinstance(call, str) or "\x00" in call:
        raise ValidationError(f"not a call id: {call!r}")


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """An entry of the event outbox: one write call stored rows of ``feature_id`` with the
    ingestion time ``ingested_us`` and event times in [``start_us``, ``end_us``] (µs); their
    value-change events are still to be published (``fstore.streaming.outbox``).

    ``feature``/``entity`` are the names the events carry, ``source`` what wrote them. An entry
    is taken by one publisher at a time: ``claimed_until_us`` (a lease; 0: free) and ``stamp``
    (changes whenever the entry does, so a removal or release takes out exactly what its
    caller claimed). ``created_us`` orders the entries (oldest first).
    """

    call: str
    feature_id: str
    feature: str
    entity: str
    ingested_us: int
    start_us: int
    end_us: int
    source: str
    claimed_until_us: int = 0
    stamp: int = 0
    created_us: int = 0


def validate_outbox(entries: Sequence[OutboxEntry]) -> None:
    for e in entries:
        for text in (e.call, e.feature_id, e.feature, e.entity, e.source):
            if not isinstance(text, str) or not text or "\x00" in text:
                raise ValidationError(f"not a valid outbox field: {text!r}")
        if e.start_us > e.end_us:
            raise ValidationError("an outbox entry's event time range is reversed")


# Ingestion activity (``record_ingestion``): values stored per feature and minute, kept this
# long; a store prunes older minutes at most every ``INGESTION_PRUNE_EVERY_SECONDS`` (per
# process), on a write.
INGESTION_RETENTION_SECONDS = 30 * 86_400
INGESTION_PRUNE_EVERY_SECONDS = 3_600


def ingestion_minute(at_us: int) -> int:
    """The start (epoch seconds) of the minute holding ``at_us`` (µs since the epoch)."""
    return at_us // 60_000_000 * 60


def validate_ingestion(stored: Mapping[str, int]) -> dict[str, int]:
    """The counts worth recording (non-zero), sorted by feature id: writers of the same
    features then take their rows in the same order."""
    for feature_id, n in stored.items():
        if not isinstance(feature_id, str) or not feature_id or "\x00" in feature_id:
            raise ValidationError(f"not a feature id: {feature_id!r}")
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValidationError(f"the count of {feature_id!r} must be a non-negative integer")
    return {f: stored[f] for f in sorted(stored) if stored[f]}


class IngestionPruner:
    """When a store's next pruning of old ingestion minutes is due (at most every
    ``INGESTION_PRUNE_EVERY_SECONDS`` per store object, the first on its first write)."""

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next = 0

    def due(self, now_us: int) -> int | None:
        """The minute (epoch seconds) before which to prune now, or None."""
        if now_us < self._next:
            return None
        self._next = now_us + INGESTION_PRUNE_EVERY_SECONDS * 1_000_000
        return ingestion_minute(now_us) - INGESTION_RETENTION_SECONDS


def validate_audit_records(records: Sequence[dict[str, Any]]) -> None:
    for record in records:
        unknown = set(record) - set(AUDIT_FIELDS)
        if unknown:
            raise ValidationError(f"audit records have no fields {', '.join(sorted(unknown))}")
        if not record.get("action"):
            raise ValidationError("an audit record needs an action")


def validate_limit(limit: int | None) -> None:
    if limit is not None and limit < 0:
        raise ValidationError("limit must not be negative")


@runtime_checkable
class OfflineStore(Protocol):
    url: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def append(self, feature_id: str, table: pa.Table) -> int:
        """``write({feature_id: table})``; returns the number of rows stored."""

    async def write(self, tables: Mapping[str, pa.Table]) -> dict[str, WriteCount]:
        """Store the rows (history schema) of several features as one atomic unit: after a
        crash or an error either all of them are stored or none. Per identity, a row equal
        to the stored current value is not written (see ``WriteCount``)."""

    async def history(
        self,
        feature_id: str,
        entity_ids: Sequence[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
        include_superseded: bool = False,
    ) -> pa.Table:
        """Rows with ``start <= event_timestamp <= end``, ordered by entity, event time and
        ingestion time: one row per identity (its current value), or with
        ``include_superseded`` every stored row — the superseded ones of an identity come
        before its current one (older ``ingested_at``)."""

    async def latest(
        self,
        feature_id: str,
        entity_ids: Sequence[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pa.Table:
        """One row per entity: its newest event in the range (ties: newest ``ingested_at``),
        with the ``LATEST_COLUMNS``."""

    async def point_in_time(
        self, entity_rows: pa.Table, timestamp_column: str, requests: Sequence[PitRequest]
    ) -> pa.Table:
        """``entity_rows`` plus one raw-value column per request, rows in input order.

        Each row gets, per feature, the newest value with ``event_timestamp <=`` the row's
        timestamp (ties: newest ``ingested_at``), or null if none (or older than the TTL).
        """

    async def values(self, feature_id: str, as_of: datetime | None = None) -> pa.Array:
        """The current raw value of every identity with ``event_timestamp <= as_of`` (all if
        None), nulls included."""

    async def statistics(
        self, feature_id: str, numerical: bool, start: datetime | None = None, end: datetime | None = None
    ) -> dict[str, Any]:
        """Over the current value of each identity: count, nulls, distinct, first_event,
        last_event, and for numerical features mean, std (population), min, max, quantiles
        {"p01","p05","p25","p50","p75","p95","p99"}; for categorical ones top_categories
        [{"value", "count"}] (10 most frequent)."""

    async def delete_feature(self, feature_id: str) -> None:
        """Delete the feature's history and its ingestion activity."""

    async def append_audit(self, records: Sequence[dict[str, Any]]) -> None:
        """Append audit records (``AUDIT_FIELDS``), all or none."""

    async def list_audit(
        self, limit: int = 100, actor: str | None = None, since: datetime | None = None
    ) -> list[dict[str, Any]]:
        """The newest records first, at most ``limit``; by ``actor``; ``at`` at or after ``since``."""

    async def add_online_repairs(self, oldest: Mapping[str, int], call: str = "") -> list[RepairEntry]:
        """Record durably that the online copy of each feature may lack values from
        ``oldest[feature_id]`` (event time, µs) on. With ``call=""`` merged into each feature's
        standing entry (the older time kept, a new stamp); otherwise entries of that write call.
        Returns the entries as recorded by this call (before any merge)."""

    async def online_repairs(self) -> list[RepairEntry]:
        """Every entry of the online repair ledger."""

    async def remove_online_repairs(self, entries: Sequence[RepairEntry]) -> None:
        """Remove these entries, each only if its stamp is unchanged: an entry recorded or
        merged since it was read survives."""

    async def add_outbox(self, entries: Sequence[OutboxEntry]) -> None:
        """Record durably the event outbox entries of one write call (before its offline
        write), claimed by their writer as each entry's ``claimed_until_us`` says."""

    async def claim_outbox(self, limit: int, lease_us: int) -> list[OutboxEntry]:
        """Claim up to ``limit`` entries that no one holds (free or lease expired), oldest
        first, for ``lease_us``: they get a new stamp and are returned as claimed."""

    async def release_outbox(self, entries: Sequence[OutboxEntry], after_us: int = 0) -> None:
        """Let these entries be claimed again ``after_us`` from now (each only if its stamp is
        unchanged)."""

    async def remove_outbox(self, entries: Sequence[OutboxEntry]) -> None:
        """Remove these entries (published), each only if its stamp is unchanged."""

    async def outbox_backlog(self) -> int:
        """How many entries the outbox holds."""

    async def record_ingestion(self, stored: Mapping[str, int], at_us: int | None = None) -> None:
        """Add ``stored[feature_id]`` (values a write stored) to the feature's count of the
        minute holding ``at_us`` (µs, default now); zero counts are skipped. Commits on its
        own, after the history write (no lock held with it); now and then also drops minutes
        older than ``INGESTION_RETENTION_SECONDS``."""

    async def ingestion(self, since_us: int, feature_id: str | None = None) -> list[tuple[int, int]]:
        """(minute start in epoch seconds, values stored) of each minute from the one holding
        ``since_us`` on that has any, oldest first: of one feature, or summed over all."""

    async def ping(self) -> dict[str, Any]: ...
