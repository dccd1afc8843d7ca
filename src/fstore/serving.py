"""The online read path: online store first; on a miss read the offline store, transform
with the current version, and repopulate the online copy (read-through)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from fstore.backends.offline.base import OfflineStore
from fstore.backends.online.base import OnlineRecord
from fstore.catalog import ResolvedFeature
from fstore.columns import online_write, transform_arrow
from fstore.resilience import OnlineGuard


def served(resolved: ResolvedFeature, record: OnlineRecord) -> Any:
    """The value to serve from a stored record: its transformed value when it was transformed
    by the current version, otherwise the raw value transformed now (no train/serve skew)."""
    if resolved.transformer is None:
        return record[1] if resolved.spec is None else None
    if record[3] == resolved.version:
        return record[2]
    return resolved.transform_one(record[1])


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
    table = await offline.latest(resolved.feature.id, entity_ids=entity_ids)
    if table.num_rows == 0:
        return {}
    ids = table.column("entity_id").combine_chunks()
    ts = table.column("event_timestamp").combine_chunks()
    raw = table.column("value").combine_chunks()
    write = online_write(resolved, ids, ts, raw, transform_arrow(resolved, raw), one_per_entity=True)
    await guard.write(entity, [write], remember=False)  # repopulate; a failure loses nothing
    return {
        eid: [t, v, x, write.version]
        for eid, t, v, x in zip(
            write.entity_ids, write.event_ts, write.values, write.transformed, strict=True
        )
    }


@dataclass(slots=True)
class FeatureVector:
    """Feature values for a list of entities, column by column (like Feast's response)."""

    join_key: str
    entity_ids: list[Any]
    values: dict[str, list[Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, list[Any]]:
        return {self.join_key: list(self.entity_ids), **self.values}

    def rows(self) -> list[dict[str, Any]]:
        names = list(self.values)
        return [
            {self.join_key: eid, **{n: self.values[n][i] for n in names}}
            for i, eid in enumerate(self.entity_ids)
        ]

    def to_arrow(self) -> pa.Table:
        return pa.table(self.to_dict())

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.to_dict())
