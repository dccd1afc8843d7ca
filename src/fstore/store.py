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
from typing import TYPE_CHECKING, Any, Self

import pyarrow as pa

from fstore.arguments import feature_names
from fstore.backends import create_metadata_store, create_offline_store, create_online_store, mask_url
from fstore.backends.online.base import OnlineWrite
from fstore.catalog import Catalog, ResolvedFeature
from fstore.columns import expiry_cutoff, now_us, online_write, transform_arrow
from fstore.config import Settings
from fstore.errors import FStoreError, NotFittedError, ValidationError
from fstore.frames import Output, check_output
from fstore.ingestion_activity import IngestionRecorder
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
from fstore.store_writes import WriteMethods
from fstore.streaming.outbox import EventOutbox
from fstore.training import historical_features
from fstore.transformers import create_transformer
from fstore.transformers.specs import TransformerLike, transformer_parts
from fstore.values import (
    entity_key_of,
    entity_keys,
    to_datetime,
)

if TYPE_CHECKING:
    from fstore.sync import SyncFeatureStore

log = logging.getLogger(__name__)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class FeatureStore(RegistryMethods, WriteMethods):
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
        self.activity = IngestionRecorder(self.offline)  # the dashboard's ingestion activity
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
        """Close the stores' connections (the store opens again on its next call)."""
        if self._opened:
            self._opened = False
            await self.events.close()
            await self.guard.close()
            await self.activity.close()
            for store in (self.online, self.offline, self.metadata):
                await store.close()

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @classmethod
    def sync(cls, settings: Settings | None = None, **overrides: Any) -> SyncFeatureStore:
        """The blocking twin (``SyncFeatureStore``) of a store made with these arguments: the
        same methods, returning results instead of coroutines; for scripts and notebooks."""
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
                    column = [None if (cell := row[j]) is None else served(r, cell) for row in rows]
                else:
                    column = [None if (cell := row[j]) is None else cell[1] for row in rows]
                if None not in column:
                    columns[r.name] = column
                    continue
            cells = [row[j] for row in rows]
            if at is None:
                at = now_us()  # one serving time for the whole vector
            columns[r.name], status = served_column(r, cells, transformed, at)
            if status is not None:
                statuses[r.name] = status
        return FeatureVector(entity.join_key, list(entities), columns, statuses)

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
        output: Output | None = None,
    ) -> Any:
        """A point-in-time-correct training set: each entity row (an entity id column and a
        timestamp column) gets, per feature, the newest value at or before its timestamp.

        ``entity_rows`` is a pandas or Polars DataFrame, an Arrow table or a list of dicts; the
        result is the same kind of table (a list gives Arrow), or the kind ``output`` names
        (``"pandas"``, ``"polars"``, ``"arrow"``). ``transformed=False`` gives raw values."""
        await self._ready()
        check_output(output)
        resolved = await self.catalog.resolve(feature_names(features))
        return await historical_features(
            self.offline, entity_rows, resolved, timestamp_column, transformed, output
        )

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
            feature_names(features)
            if features is not None
            else [f.name for f in await self.registry.list_features()]
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
        """Statistics of a feature's stored values (count, nulls, mean, quantiles, top
        categories, ...), optionally of those with an event time in [start, end]."""
        await self._ready()
        (resolved,) = await self.catalog.resolve([feature_id])
        stats = await self.offline.statistics(
            resolved.feature.id,
            numerical=resolved.feature.type.value == "numerical",
            start=to_datetime(start) if start is not None else None,
            end=to_datetime(end) if end is not None else None,
        )
        return FeatureStatistics(feature_id=resolved.feature.id, **stats)
