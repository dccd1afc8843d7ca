"""FeatureStore: the service layer that the SDK, the CLI and the REST API all call.

It ties the registry (metadata), the online store and the offline store together:

* write path: validate → transform with the current version → append to the offline
  history (source of truth) → update the online copy (last write wins by event time);
* read path: online first; on a miss, the offline store, transformed, repopulating online;
* training sets: point-in-time joins in the offline store, transformed like serving.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Self

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fstore.backends import create_metadata_store, create_offline_store, create_online_store, mask_url
from fstore.backends.offline.base import WriteCount
from fstore.backends.online.base import OnlineWrite
from fstore.catalog import Catalog, ResolvedFeature
from fstore.columns import expiry_cutoff, history_table, now_us, online_write, transform_arrow
from fstore.config import Settings
from fstore.errors import FStoreError, NotFittedError, ValidationError
from fstore.instrumentation import timed
from fstore.models import (
    Feature,
    FeatureStatistics,
    FeatureValue,
    FeatureVersion,
    ValueStatus,
)
from fstore.registry import Registry, check_transformer_fits
from fstore.resilience import Metrics, OnlineGuard
from fstore.serving import FeatureVector, read_records, served, served_column, status_of
from fstore.store_registry import RegistryMethods
from fstore.streaming.outbox import EventOutbox
from fstore.training import historical_features
from fstore.transformers import create_transformer
from fstore.transformers.specs import TransformerLike, transformer_parts
from fstore.values import (
    Values,
    coerce_column,
    coerce_entity_ids,
    coerce_timestamps,
    coerce_values,
    entity_key_of,
    entity_keys,
    feature_names,
    table_of,
    to_datetime,
)
from fstore.write_result import IngestResult, StoreResult

log = logging.getLogger(__name__)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


class FeatureStore(RegistryMethods):
    """The feature store. Async; ``FeatureStore.sync()`` gives the blocking twin.

    With no arguments it runs embedded on files under ``./.fstore/``. Pass ``Settings`` (or
    keyword overrides such as ``home=…``, ``online_url=…``) to point it elsewhere.
    """

    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        self.settings = settings or Settings(**overrides)
        if settings is not None and overrides:
            self.settings = settings.model_copy(update=overrides)
        s = self.settings
        self.metrics = Metrics()
        ops = self.metrics.operations
        self.metadata = timed(create_metadata_store(s.resolved_metadata_url()), "metadata", ops)
        self.online = timed(create_online_store(s.resolved_online_url()), "online", ops)
        self.offline = timed(create_offline_store(s.resolved_offline_url()), "offline", ops)
        self.registry = Registry(self.metadata, actor=s.actor)
        self.catalog = Catalog(self.registry, self.metadata, s.metadata_cache_seconds)
        self.guard = OnlineGuard(self.online, self.metrics, s.online_retry_seconds, ledger=self.offline)
        self.guard.repair = self._repair_online
        self.events = EventOutbox(s, self.offline)  # value-change events to Kafka, when configured
        self._opened = False
        self._open_lock = asyncio.Lock()

    # -- lifecycle ----------------------------------------------------------------------------

    async def open(self) -> Self:
        """Connect to the stores. An unreachable online store is not fatal: serving falls
        back to the offline store until it answers."""
        async with self._open_lock:
            if not self._opened:
                await self.metadata.open()
                await self.offline.open()
                await self.guard.open()
                self.events.start()
                self._opened = True
        return self

    async def close(self) -> None:
        if self._opened:
            self._opened = False
            await self.events.close()
            await self.guard.close()
            for store in (self.online, self.offline, self.metadata):
                await store.close()

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @classmethod
    def sync(cls, settings: Settings | None = None, **overrides: Any) -> Any:
        from fstore.sync import SyncFeatureStore

        return SyncFeatureStore(cls(settings, **overrides))

    async def _ready(self) -> None:
        if not self._opened:
            await self.open()

    async def _changed(self, *features: Feature) -> None:
        """After a metadata write: drop cached metadata and refresh the online store's copy of
        each feature's definition and current fitted transformer (the specification's
        ``feature:{id}`` and ``transformer:{id}:{version}`` keys)."""
        self.catalog.invalidate()
        for feature in features:
            fv = await self.registry.get_version(feature.name)
            state = None
            if fv.transformer is not None and fv.transformer_state is not None:
                state = {**fv.transformer.model_dump(mode="json"), "state": fv.transformer_state}
            await self.guard.cache(feature.id, feature.model_dump(mode="json"), fv.version, state)

    async def health(self) -> dict[str, Any]:
        """Each store: reachable or not, its version and the round-trip latency."""
        report: dict[str, Any] = {}
        for name, store in (("metadata", self.metadata), ("online", self.online), ("offline", self.offline)):
            started = time.perf_counter()
            try:
                await store.open()
                info = await store.ping()
                report[name] = {
                    "ok": True,
                    **info,
                    "latency_ms": round((time.perf_counter() - started) * 1e3, 3),
                }
            except FStoreError as exc:
                report[name] = {"ok": False, "error": exc.message, "url": mask_url(store.url)}
        return report

    # -- transformers -------------------------------------------------------------------------

    async def fit_transformer(
        self,
        name: str,
        *,
        as_of: datetime | str | None = None,
        transformer: TransformerLike | None = None,
        version: str | None = None,
    ) -> FeatureVersion:
        """Fit the feature's transformer (or a new one) on its offline history up to ``as_of``;
        registers the fitted state as a new version (minor bump; major if the kind changes)."""
        await self._ready()
        current = await self.registry.get_version(name)
        spec = transformer_parts(transformer)[0] if transformer is not None else current.transformer
        if spec is None:
            raise ValidationError(f"feature {name!r} has no transformer to fit; give one")
        check_transformer_fits(await self.registry.get_feature(name), spec)
        cutoff = to_datetime(as_of) if as_of is not None else None
        values = await self.offline.values(name, cutoff)
        fitted = create_transformer(spec).fit(values)
        return await self.register_fit(
            name, spec, fitted.get_state()["state"], len(values) - values.null_count, cutoff, version
        )

    async def transform(self, name: str, values: Any, version: str | None = None) -> Any:
        """Transform raw values with the feature's current (or given) fitted transformer."""
        await self._ready()
        from fstore.catalog import build_transformer

        fv = await self.registry.get_version(name, version)
        transformer = build_transformer(fv.transformer, fv.transformer_state)
        if transformer is None:
            raise NotFittedError(f"feature {name!r} version {fv.version} has no fitted transformer")
        return transformer.transform(values)

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
        """Store a wide table: an entity id column, a timestamp column and one column per
        feature. Every column is validated and transformed before anything is stored, and
        the offline write of the whole call is atomic; ``validate_only`` stops after the
        validation (a dry run). Returns the values received per feature (a dict) with
        ``stored``/``unchanged``/``duplicates`` per feature (see ``fstore.write_result``)."""
        await self._ready()
        if not isinstance(data, (pd.DataFrame, pa.Table)):
            raise ValidationError("ingest takes a pandas DataFrame or an Arrow table")
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
        self.events.written(outbox, counts, tables)
        self.metrics.count_ingested(sum(len(values) for _, values in batches))
        return counts

    # -- reading values -------------------------------------------------------------------------

    async def get_feature_value(self, feature_id: str, entity_id: str | int) -> FeatureValue | None:
        """The latest value of a feature for an entity (transformed by the current version);
        None when it has none. Its ``status`` says ``expired`` (value and transformed None)
        when it is older than the feature's TTL, ``not_fitted`` when the feature's transformer
        is not fitted (transformed None)."""
        await self._ready()
        eid = entity_key_of(entity_id)
        (resolved,) = await self.catalog.resolve([feature_id])
        record = (await read_records(self.guard, self.offline, resolved.entity.name, [eid], [resolved]))[0][0]
        if record is None:
            return None
        state = status_of(resolved, record, expiry_cutoff(resolved.feature.ttl_seconds))
        return FeatureValue(
            feature_id=resolved.feature.id,
            entity_id=eid,
            value=None if state is ValueStatus.EXPIRED else record[1],
            transformed=served(resolved, record) if state is ValueStatus.PRESENT else None,
            version=resolved.version,
            event_timestamp=datetime.fromtimestamp(record[0] / 1e6, tz=UTC),
            status=state,
        )

    async def get_feature_vector(
        self,
        features: Sequence[str],
        entities: Sequence[str | int],
        *,
        transformed: bool = True,
        read_through: bool = True,
    ) -> FeatureVector:
        """Latest values of many features (all of one entity) for many entity ids; a cell that
        is not present (missing, expired, not fitted) is None, its status in ``statuses``."""
        await self._ready()
        features, ids = feature_names(features), entity_keys(entities)
        resolved = await self.catalog.resolve(features)
        entity = resolved[0].entity
        for r in resolved:
            if r.entity.name != entity.name:
                raise ValidationError("a feature vector holds features of one entity")
        rows = await read_records(self.guard, self.offline, entity.name, ids, resolved, read_through)
        columns: dict[str, list[Any]] = {}
        statuses: dict[str, list[ValueStatus]] = {}
        at: int | None = None
        for j, r in enumerate(resolved):
            if r.feature.ttl_seconds is None and (
                r.spec is None or r.transformer is not None or not transformed
            ):
                # no TTL and nothing unfitted: a column without a None holds only present cells
                if transformed:
                    column = [None if row[j] is None else served(r, row[j]) for row in rows]
                else:
                    column = [None if row[j] is None else row[j][1] for row in rows]
                if None not in column:
                    columns[r.name] = column
                    continue
            cells = [row[j] for row in rows]
            if at is None:
                at = now_us()  # one serving time for the whole vector
            columns[r.name], status = served_column(r, cells, transformed, at)
            if status is not None:
                statuses[r.name] = status
        given = [entities] if isinstance(entities, (str, int)) else list(entities)
        return FeatureVector(entity.join_key, given, columns, statuses)

    async def get_feature_history(
        self,
        feature_id: str,
        entity_id: str | int | None = None,
        *,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        limit: int | None = None,
        include_superseded: bool = False,
    ) -> pa.Table:
        """The stored values, ordered by entity, event time and ingestion time: the current
        value of each (entity, event time), or with ``include_superseded`` (for audit) every
        stored row — an identity's superseded rows come before its current (last) one."""
        await self._ready()
        (resolved,) = await self.catalog.resolve([feature_id])
        return await self.offline.history(
            resolved.feature.id,
            entity_ids=None if entity_id is None else [str(entity_id)],
            start=to_datetime(start) if start is not None else None,
            end=to_datetime(end) if end is not None else None,
            limit=limit,
            include_superseded=include_superseded,
        )

    async def get_historical_features(
        self,
        entity_rows: Any,
        features: Sequence[str],
        *,
        timestamp_column: str = "event_timestamp",
        transformed: bool = True,
    ) -> Any:
        """A point-in-time-correct training set (pandas in → pandas out; Arrow → Arrow)."""
        await self._ready()
        resolved = await self.catalog.resolve(feature_names(features))
        return await historical_features(self.offline, entity_rows, resolved, timestamp_column, transformed)

    async def materialize(
        self,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        features: Sequence[str] | None = None,
    ) -> dict[str, int]:
        """Copy each entity's latest value in [start, end] from offline to online (values
        newer online are kept); returns how many values each feature sent."""
        await self._ready()
        names = (
            list(features) if features is not None else [f.name for f in await self.registry.list_features()]
        )
        lo = to_datetime(start) if start is not None else None
        hi = to_datetime(end) if end is not None else None
        resolved = await self.catalog.resolve(names)
        online, counts = await self._latest_writes(resolved, [lo] * len(resolved), hi)
        for entity, writes in online.items():
            await self.guard.write(entity, writes)
        return counts

    async def _latest_writes(
        self, resolved: Sequence[ResolvedFeature], starts: Sequence[datetime | None], end: datetime | None
    ) -> tuple[dict[str, list[OnlineWrite]], dict[str, int]]:
        """The online writes of each feature's latest value per entity in [start, end], by
        entity, and how many values each feature sends."""
        tables = await asyncio.gather(
            *(
                self.offline.latest(r.feature.id, start=lo, end=end)
                for r, lo in zip(resolved, starts, strict=True)
            )
        )
        online: dict[str, list[OnlineWrite]] = {}
        for r, table in zip(resolved, tables, strict=True):
            if table.num_rows:
                raw = table.column("value").combine_chunks()
                ids = table.column("entity_id").combine_chunks()
                ts = table.column("event_timestamp").combine_chunks()
                write = online_write(r, ids, ts, raw, transform_arrow(r, raw), one_per_entity=True)
                online.setdefault(r.entity.name, []).append(write)
        return online, {r.name: table.num_rows for r, table in zip(resolved, tables, strict=True)}

    async def _repair_online(self, oldest: dict[str, int | None]) -> dict[str, list[OnlineWrite]]:
        """The online writes that re-materialise features from their oldest event time that
        the online copy may lack (last write wins keeps anything newer online). Features
        deleted since need nothing."""
        names = {f.id: f.name for f in await self.registry.list_features()}
        ids = [fid for fid in oldest if fid in names]
        if not ids:
            return {}
        resolved = await self.catalog.resolve([names[fid] for fid in ids])
        # exact (float seconds could round past the oldest value); None: from the beginning
        starts = [None if (us := oldest[fid]) is None else EPOCH + timedelta(microseconds=us) for fid in ids]
        return (await self._latest_writes(resolved, starts, None))[0]

    async def statistics(
        self, feature_id: str, *, start: datetime | str | None = None, end: datetime | str | None = None
    ) -> FeatureStatistics:
        await self._ready()
        (resolved,) = await self.catalog.resolve([feature_id])
        stats = await self.offline.statistics(
            resolved.feature.id,
            numerical=resolved.feature.type.value == "numerical",
            start=to_datetime(start) if start is not None else None,
            end=to_datetime(end) if end is not None else None,
        )
        return FeatureStatistics(feature_id=resolved.feature.id, **stats)

    # -- streaming ------------------------------------------------------------------------------

    async def store_many(self, batches: Sequence[tuple[ResolvedFeature, Values]]) -> dict[str, WriteCount]:
        """Store already validated values of many features (resolved through ``catalog``) as
        one write: one atomic offline write, then the online copy. The Feature Processor's
        entry point; returns the offline counts by feature id."""
        await self._ready()
        return await self._write(batches)
