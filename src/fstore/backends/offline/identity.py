"""The identity of a stored value, (feature, entity_id, event_timestamp), on Arrow tables.

Both offline backends apply the same rules: within one write the newest ``ingested_at``,
then the last row, wins for an identity; a row equal to its identity's current stored value
(the one ingested last) is not written; a different value is a correction. Readers keep the
last row of each identity in (entity, event time, ingestion time) order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fstore.backends.offline.base import WriteCount
from fstore.backends.offline.scan import current_rows
from fstore.backends.offline.schema import cast, normalise, unify
from fstore.errors import ValidationError


def dedupe(table: pa.Table) -> tuple[pa.Table, int]:
    """A normalised (sorted) batch with one row per identity, and how many rows it dropped."""
    out = current_rows(table)
    return out, table.num_rows - out.num_rows


@dataclass(frozen=True, slots=True)
class PreparedWrite:
    """A write's tables checked, normalised and deduplicated: ``rows`` holds each feature's
    rows left to write (features with none left out), ``duplicates`` the rows each feature's
    table repeated within the call."""

    rows: dict[str, pa.Table]
    duplicates: dict[str, int]

    def counts(self, written: Mapping[str, WriteCount]) -> dict[str, WriteCount]:
        """The backend's counts per feature, with the duplicates, for every feature of the call."""
        return {f: replace(written.get(f, WriteCount()), duplicates=d) for f, d in self.duplicates.items()}


def prepare_write(tables: Mapping[str, pa.Table], check_feature: Callable[[str], object]) -> PreparedWrite:
    """What every backend's ``write`` starts with (nothing is written when this raises)."""
    for feature_id, table in tables.items():
        check_feature(feature_id)
        if not isinstance(table, pa.Table):
            raise ValidationError("write takes Arrow tables with the history columns")
    rows: dict[str, pa.Table] = {}
    duplicates: dict[str, int] = {}
    for feature_id, table in tables.items():
        kept, duplicates[feature_id] = dedupe(normalise(table))
        if kept.num_rows:
            rows[feature_id] = kept
    return PreparedWrite(rows, duplicates)


def _equal(new: pa.Array, old: pa.Array) -> np.ndarray:
    """Element-wise: equal values, or both null."""
    both_null = pc.and_(new.is_null(), old.is_null())
    if pa.types.is_null(new.type) or pa.types.is_null(old.type):
        return both_null.to_numpy(zero_copy_only=False)
    if new.type != old.type:
        target = unify([new.type, old.type])
        new, old = cast(new, target), cast(old, target)
    eq = pc.fill_null(pc.equal(new, old), False)
    return pc.or_(eq, both_null).to_numpy(zero_copy_only=False)


def changed(batch: pa.Table, stored: pa.Table) -> tuple[pa.Table, int, int]:
    """The rows of a deduplicated batch to write, given ``stored``: the current value of
    the batch's identities already stored (``entity_id``, ``event_timestamp``, ``value``,
    one row per identity). Returns (rows to write in batch order, unchanged, corrections)."""
    n = batch.num_rows
    if n == 0 or stored.num_rows == 0:
        return batch, 0, 0
    left = pa.table(
        {
            "entity_id": batch.column("entity_id"),
            "event_timestamp": batch.column("event_timestamp"),
            "__row": pa.array(np.arange(n, dtype=np.int64)),
        }
    )
    right = pa.table(
        {
            "entity_id": cast(stored.column("entity_id"), pa.string()),
            "event_timestamp": stored.column("event_timestamp"),
            "__old": stored.column("value"),
            "__seen": pa.array(np.ones(stored.num_rows, dtype=bool)),
        }
    )
    joined = left.join(right, ["entity_id", "event_timestamp"], join_type="left outer", use_threads=False)
    rows = joined.column("__row").to_numpy()
    seen = joined.column("__seen").is_valid().to_numpy(zero_copy_only=False)
    if not seen.any():
        return batch, 0, 0
    new = batch.column("value").combine_chunks().take(pa.array(rows))
    same = seen & _equal(new, joined.column("__old").combine_chunks())
    unchanged = int(same.sum())
    corrections = int(seen.sum()) - unchanged
    if unchanged == 0:
        return batch, 0, corrections
    keep = np.sort(rows[~same])
    return batch.take(pa.array(keep)), unchanged, corrections
