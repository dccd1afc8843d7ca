"""The write half of ``FeatureStore``: storing values (one feature, several, a wide table) and
the one write path they all take (validate → transform → offline history, the acknowledgement
point → online copy, with the repair ledger and the event outbox alongside)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from fstore.arguments import feature_names
from fstore.backends.offline.base import INGESTION_RETENTION_SECONDS, WriteCount
from fstore.backends.online.base import OnlineWrite
from fstore.catalog import Catalog, ResolvedFeature
from fstore.columns import history_table, now_us, online_write, transform_arrow
from fstore.errors import ValidationError
from fstore.frames import kind_of
from fstore.ingestion_activity import IngestionRecorder
from fstore.registry import Registry
from fstore.resilience import Metrics, OnlineGuard
from fstore.streaming.outbox import EventOutbox
from fstore.values import (
    Values,
    coerce_column,
    coerce_entity_ids,
    coerce_timestamps,
    coerce_values,
    table_of,
)
from fstore.write_result import IngestResult, StoreResult


def oldest_event_times(batches: Sequence[tuple[ResolvedFeature, Values]]) -> dict[str, int]:
    """Feature id -> the oldest event time (µs) of its values in ``batches``."""
    out: dict[str, int] = {}
    for resolved, values in batches:
        if len(values):
            oldest = pc.min(values.event_ts.cast(pa.int64())).as_py()
            fid = resolved.feature.id
            out[fid] = min(out.get(fid, oldest), oldest)
    return out


def _results(
    batches: Sequence[tuple[ResolvedFeature, Values]], counts: dict[str, WriteCount]
) -> dict[str, StoreResult]:
    """What became of each feature's values (by name), from the offline counts by id."""
    out = {}
    for r, v in batches:
        c = counts.get(r.feature.id, WriteCount())
        out[r.name] = StoreResult(len(v), c.stored, c.unchanged, c.duplicates)
    return out


class WriteMethods:
    registry: Registry
    catalog: Catalog
    offline: Any
    guard: OnlineGuard
    events: EventOutbox
    metrics: Metrics
    activity: IngestionRecorder

    async def _ready(self) -> None: ...

    # -- writing values -------------------------------------------------------------------------

    async def store_feature_values(self, feature_id: str, batch: Any) -> StoreResult:
        """Validate and store a batch of one feature's values (nothing is stored if a row is
        bad); returns the number of values received, an int whose ``stored``, ``unchanged``
        and ``duplicates`` say what became of them (see ``fstore.write_result``)."""
        (result,) = (await self.store_values_of_features({feature_id: batch})).values()
        return result

    async def store_values_of_features(
        self, batches: dict[str, Any], *, online_alongside: bool = False
    ) -> dict[str, StoreResult]:
        """``store_feature_values`` for several features (feature → batch) in one call: one
        atomic offline write, and one online write per entity for all of them.
        ``online_alongside``: write online while the offline write runs, not after it — for a
        writer that repeats a failed call until it succeeds (the aggregation processor): when
        the offline write fails, online may hold the call's values until the repeat stores them
        offline too (the repair ledger cannot undo them: it restores newer values, not older)."""
        await self._ready()
        names = list(batches)
        resolved = await self.catalog.resolve(names)
        values = [
            (r, coerce_values(r.feature, batches[n], entity_column=r.entity.join_key))
            for n, r in zip(names, resolved, strict=True)
        ]
        return _results(values, await self._write(values, online_alongside))

    async def store_feature_value(
        self, feature_id: str, entity_id: str | int, value: Any, event_timestamp: datetime | str | None = None
    ) -> StoreResult:
        """Store one value of a feature for an entity (at ``event_timestamp``, default now)."""
        row = {"entity_id": entity_id, "value": value, "event_timestamp": event_timestamp}
        return await self.store_feature_values(feature_id, [row])

    async def ingest(
        self,
        data: Any,
        *,
        features: Sequence[str] | None = None,
        timestamp_column: str = "event_timestamp",
        entity_column: str | None = None,
        validate_only: bool = False,
    ) -> IngestResult:
        """Store a wide table (a pandas or Polars DataFrame or an Arrow table): an entity id
        column, a timestamp column and one column per feature. Every column is validated and
        transformed before anything is stored, and the offline write of the whole call is
        atomic; ``validate_only`` stops after the validation (a dry run). Returns the values
        received per feature (a dict) with ``stored``/``unchanged``/``duplicates`` per feature
        (see ``fstore.write_result``)."""
        await self._ready()
        if kind_of(data) is None:
            raise ValidationError("ingest takes a pandas or Polars DataFrame or an Arrow table")
        data = table_of(data)
        if features is not None:
            features = feature_names(features)
        columns = set(data.column_names)
        if timestamp_column not in columns:
            raise ValidationError(f"the data has no timestamp column {timestamp_column!r}")
        if features is None:
            registered = {f.name for f in await self.registry.list_features()}
            features = [c for c in data.column_names if c in registered]
            unknown = [c for c in data.column_names if c not in registered and c != timestamp_column]
            entity_cols = {e.join_key for e in await self.registry.list_entities()}
            unknown = [c for c in unknown if c not in entity_cols and c != entity_column]
            if unknown:
                raise ValidationError(f"columns are not registered features: {', '.join(unknown)}")
        if not features:
            raise ValidationError("the data holds no feature columns")
        resolved = await self.catalog.resolve(list(features))
        key = entity_column or resolved[0].entity.join_key
        for r in resolved:
            if r.name not in columns:
                raise ValidationError(f"the data has no column for feature {r.name!r}")
            if entity_column is None and r.entity.join_key != key:
                raise ValidationError("ingest one entity at a time: features describe different entities")
        if key not in columns:
            raise ValidationError(f"the data has no entity id column {key!r}")
        ids = coerce_entity_ids(data.column(key))
        ts = coerce_timestamps(data.column(timestamp_column), None)
        batches = [(r, Values(ids, ts, coerce_column(r.feature, data.column(r.name), ids))) for r in resolved]
        if validate_only:
            return IngestResult.of({r.name: len(v) for r, v in batches}, {}, {}, {})
        return IngestResult.of_results(_results(batches, await self._write(batches)))

    async def _write(
        self, batches: Sequence[tuple[ResolvedFeature, Values]], online_alongside: bool = False
    ) -> dict[str, WriteCount]:
        """Transform every batch first, then write them to the offline history as one atomic
        unit (per identity: unchanged values are not rewritten, see ``OfflineStore.write``),
        then update the online copy with one write per entity (the online store merges all
        features of an entity in one pass). Returns the offline counts by feature id.

        The offline write is the acknowledgement point: the online write never fails the call.
        The repair ledger holds the call's features from before its offline write until its
        online write succeeded (see ``resilience``)."""
        ingested_us = now_us()
        tables: dict[str, pa.Table] = {}
        online: dict[str, list[OnlineWrite]] = {}
        for resolved, values in batches:
            if len(values) == 0:
                continue
            transformed = transform_arrow(resolved, values.values)
            tables[resolved.feature.id] = history_table(
                values.entity_ids, values.event_ts, values.values, transformed, resolved.version, ingested_us
            )
            write = online_write(resolved, values.entity_ids, values.event_ts, values.values, transformed)
            online.setdefault(resolved.entity.name, []).append(write)
        if not tables:
            return {}
        # both durable before the offline write; concurrently: one round trip's wait, not two
        pending, outbox = await self.events.alongside(
            self.guard.begin(oldest_event_times(batches)), batches, ingested_us
        )
        if online_alongside:
            online_write_task = asyncio.ensure_future(self.guard.write_online(online))
            try:
                counts = await self.offline.write(tables)
            finally:
                failed = await online_write_task  # never raises
            await self.guard.settle(failed, pending)
        else:
            counts = await self.offline.write(tables)
            await self.guard.publish(online, pending)
        self.activity.add({f: c.stored for f, c in counts.items()}, ingested_us)  # written soon
        self.events.written(outbox, counts, tables)
        self.metrics.count_ingested(sum(len(values) for _, values in batches))
        return counts

    async def ingestion_activity(
        self, feature: str | None = None, *, minutes: int = 60, bucket_minutes: int = 1
    ) -> list[tuple[datetime, int]]:
        """Values stored per ``bucket_minutes`` over the last ``minutes`` minutes (buckets
        aligned to the epoch, the current one last, empty ones 0), by every writer of the
        offline store; of one feature (by name) or of all. Kept for 30 days."""
        await self._ready()
        if not 1 <= minutes <= INGESTION_RETENTION_SECONDS // 60:
            raise ValidationError("minutes must be between 1 and 43200 (30 days)")
        if not 1 <= bucket_minutes <= minutes:
            raise ValidationError("bucket_minutes must be between 1 and minutes")
        feature_id = None if feature is None else (await self.registry.get_feature(feature)).id
        await self.activity.flush()  # this process's latest calls included
        size = bucket_minutes * 60
        last = int(time.time()) // size
        first = last - math.ceil(minutes / bucket_minutes) + 1
        totals = dict.fromkeys(range(first, last + 1), 0)
        for minute, n in await self.offline.ingestion(first * size * 1_000_000, feature_id):
            if minute // size in totals:
                totals[minute // size] += n
        return [(datetime.fromtimestamp(b * size, UTC), n) for b, n in totals.items()]

    # -- streaming ------------------------------------------------------------------------------

    async def store_many(self, batches: Sequence[tuple[ResolvedFeature, Values]]) -> dict[str, WriteCount]:
        """Store already validated values of many features (resolved through ``catalog``) as
        one write: one atomic offline write, then the online copy. The Feature Processor's
        entry point; returns the offline counts by feature id."""
        await self._ready()
        return await self._write(batches)
