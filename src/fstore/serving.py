"""The online read path: online store first; on a miss read the offline store, transform
with the current version, and repopulate the online copy (read-through).

Freshness is decided here, on every backend alike: a record whose event time is older than
its feature's ``ttl_seconds`` (``now - event_time > ttl``, the training sets' rule) is served
as missing with the status ``expired``, and the read-through never writes it back online.
A feature whose transformer is not fitted serves its transformed cells as ``not_fitted``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from fstore.backends.offline.base import OfflineStore
from fstore.backends.online.base import OnlineRecord
from fstore.catalog import ResolvedFeature
from fstore.columns import expiry_cutoff, online_write, transform_arrow
from fstore.frames import polars
from fstore.models import ValueStatus
from fstore.reprs import vector_table
from fstore.resilience import OnlineGuard

# Names are identifiers ([A-Za-z_][A-Za-z0-9_]*), so this key never clashes with a column.
STATUS_KEY = "$status"

PRESENT, MISSING, EXPIRED, NOT_FITTED = (
    ValueStatus.PRESENT,
    ValueStatus.MISSING,
    ValueStatus.EXPIRED,
    ValueStatus.NOT_FITTED,
)


def served(resolved: ResolvedFeature, record: OnlineRecord) -> Any:
    """The value to serve from a stored record: its transformed value when it was transformed
    by the current version, otherwise the raw value transformed now (no train/serve skew)."""
    if resolved.transformer is None:
        return record[1] if resolved.spec is None else None
    if record[3] == resolved.version:
        return record[2]
    return resolved.transform_one(record[1])


def status_of(
    resolved: ResolvedFeature, record: OnlineRecord | None, cutoff: int | None, transformed: bool = True
) -> ValueStatus:
    """The status of a stored record (``cutoff``: ``expiry_cutoff`` of the feature now)."""
    if record is None:
        return MISSING
    if cutoff is not None and record[0] < cutoff:
        return EXPIRED
    if transformed and resolved.unfitted:
        return NOT_FITTED
    return PRESENT


def served_column(
    resolved: ResolvedFeature, cells: list[OnlineRecord | None], transformed: bool, at_us: int | None = None
) -> tuple[list[Any], list[ValueStatus] | None]:
    """A vector's column and, when a cell is not present, every cell's status (else None).
    ``at_us``: the serving time (default: now). The caller skips this for a column with no
    TTL, nothing unfitted and no missing cell (the common case costs no per-cell check)."""
    cutoff = expiry_cutoff(resolved.feature.ttl_seconds, at_us)
    statuses = [status_of(resolved, c, cutoff, transformed) for c in cells]
    values = [
        None if s is not PRESENT else served(resolved, c) if transformed else c[1]  # type: ignore[index,arg-type]
        for s, c in zip(statuses, cells, strict=True)
    ]
    return values, None if all(s is PRESENT for s in statuses) else statuses


async def read_records(
    guard: OnlineGuard,
    offline: OfflineStore,
    entity: str,
    entity_ids: Sequence[str],
    features: Sequence[ResolvedFeature],
    read_through: bool = True,
) -> list[list[OnlineRecord | None]]:
    """``rows[i][j]``: the stored record of ``features[j]`` for ``entity_ids[i]``.

    When the online store is unavailable every record comes from the offline store (the
    online store's absence never changes the answer, only its speed)."""
    rows = await guard.read(entity, entity_ids, [f.feature.id for f in features])
    if rows is None:
        rows = [[None] * len(features) for _ in entity_ids]
        read_through = True
    if not read_through:
        return rows
    for j, resolved in enumerate(features):
        missing = [i for i, row in enumerate(rows) if row[j] is None]
        guard.metrics.online_misses += len(missing)
        guard.metrics.online_hits += len(rows) - len(missing)
        if missing:
            found = await _read_offline(guard, offline, entity, resolved, [entity_ids[i] for i in missing])
            for i in missing:
                rows[i][j] = found.get(entity_ids[i])
    return rows


async def _read_offline(
    guard: OnlineGuard, offline: OfflineStore, entity: str, resolved: ResolvedFeature, entity_ids: list[str]
) -> dict[str, OnlineRecord]:
    """Each entity's newest offline record, expired ones included (their status is
    ``expired``); only the fresh ones are written back online."""
    table = await offline.latest(resolved.feature.id, entity_ids=entity_ids)
    if table.num_rows == 0:
        return {}
    ids = table.column("entity_id").combine_chunks()
    ts = table.column("event_timestamp").combine_chunks()
    raw = table.column("value").combine_chunks()
    transformed = transform_arrow(resolved, raw)
    write = online_write(resolved, ids, ts, raw, transformed, one_per_entity=True)
    if write.entity_ids:
        await guard.write(entity, [write], remember=False)  # repopulate; a failure loses nothing
    micros = ts.cast(pa.int64()).to_pylist()
    served_values = transformed.to_pylist() if resolved.transformer is not None else [None] * len(micros)
    version = resolved.version
    return {
        eid: [t, v, x, version]
        for eid, t, v, x in zip(ids.to_pylist(), micros, raw.to_pylist(), served_values, strict=True)
    }


@dataclass(slots=True)
class FeatureVector:
    """Feature values for a list of entities, column by column (like Feast's response).

    ``statuses`` holds the per-cell ``ValueStatus`` of the columns that have a cell which is
    not present (missing, expired, not fitted); a column absent from it is all present, so
    the common case carries nothing extra. ``status(name)`` gives any column's statuses."""

    join_key: str
    entity_ids: list[Any]
    values: dict[str, list[Any]] = field(default_factory=dict)
    statuses: dict[str, list[ValueStatus]] = field(default_factory=dict)

    def status(self, name: str) -> list[ValueStatus]:
        """The status of each cell of column ``name`` (``present`` when not in ``statuses``)."""
        if name not in self.values:
            raise KeyError(name)
        found = self.statuses.get(name)
        return list(found) if found is not None else [PRESENT] * len(self.entity_ids)

    def to_dict(self) -> dict[str, list[Any]]:
        """The join key's column, then one column per feature."""
        return {self.join_key: list(self.entity_ids), **self.values}

    def to_json(self) -> dict[str, Any]:
        """The API's body: ``to_dict()`` plus, when a cell is not present, ``STATUS_KEY``
        mapping those columns to their statuses (a key no feature or join key can have)."""
        body: dict[str, Any] = self.to_dict()
        if self.statuses:
            body[STATUS_KEY] = {n: [s.value for s in column] for n, column in self.statuses.items()}
        return body

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FeatureVector:
        """The inverse of ``to_json`` (the join key comes first)."""
        raw = data.get(STATUS_KEY) or {}
        join_key, *names = (k for k in data if k != STATUS_KEY)
        statuses = {n: [ValueStatus(s) for s in column] for n, column in raw.items()}
        return cls(join_key, data[join_key], {n: data[n] for n in names}, statuses)

    def rows(self) -> list[dict[str, Any]]:
        """One dict per entity: its id under the join key, then each feature's value."""
        names = list(self.values)
        return [
            {self.join_key: eid, **{n: self.values[n][i] for n in names}}
            for i, eid in enumerate(self.entity_ids)
        ]

    def to_arrow(self) -> pa.Table:
        """The vector as an Arrow table (the join key column first)."""
        return pa.table(self.to_dict())

    def to_pandas(self) -> Any:
        """The vector as a pandas DataFrame (the join key column first)."""
        import pandas as pd

        return pd.DataFrame(self.to_dict())

    def to_polars(self) -> Any:
        """The vector as a Polars DataFrame (``pip install 'fstore[polars]'``)."""
        return polars().from_dict(self.to_dict())

    def __repr__(self) -> str:
        return vector_table(self.to_dict(), self.statuses, len(self.entity_ids))
