"""Reading a feature's rows out of its segments, in (entity, event time, ingestion time)
order when asked.

Queries read with pyarrow and compute with Arrow/numpy on the sorted layout, which beats SQL
here. A read skips the row groups whose footer range (``Segment.row_groups``) cannot match,
and keeps string columns dictionary-encoded (cheap to read, filter and take) until the
result is cut down: ``decode`` it then.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fstore.backends.offline.base import HISTORY_COLUMNS
from fstore.backends.offline.schema import TS_TYPE, cast, history_schema, micros, unify
from fstore.backends.offline.segments import Segment, retrying


def load(
    segments: Callable[[], Sequence[Segment]],
    columns: Sequence[str] = HISTORY_COLUMNS,
    entity_ids: Sequence[str] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    sort: bool = False,
    current: bool = False,
) -> pa.Table:
    """The rows in range (``columns`` only, in unified types), sorted by entity, event
    time, ingestion time when ``sort``; an empty table when the feature has no rows. With
    ``current``, only the row holding each identity's current value (the last one of its
    (entity, event time) run), sorting when a segment may hold corrections.

    ``segments`` lists the live segments; it is called again when a listed file vanished.
    String columns stay dictionary-encoded (cheap to read, filter and take): ``decode``
    the result once it is cut down."""
    ids = None if entity_ids is None else sorted({str(e) for e in entity_ids})
    lo = None if start is None else micros(start)
    hi = None if end is None else micros(end)

    def read() -> pa.Table:
        segs = segments()
        dedupe = current and any(s.corrects for s in segs)
        ordered = sort or dedupe
        need = list(columns)
        if ordered:
            need += [c for c in ("entity_id", "event_timestamp", "ingested_at") if c not in need]
        if ids is not None:
            need += [] if "entity_id" in need else ["entity_id"]
        if lo is not None or hi is not None:
            need += [] if "event_timestamp" in need else ["event_timestamp"]
        full = history_schema(unify([s.value_type for s in segs]), unify([s.transformed_type for s in segs]))
        target = pa.schema([_encoded_field(full.field(c)) for c in need])
        if ids is not None and not ids:
            return target.empty_table()
        pieces = []
        unsorted = False
        for seg in segs:
            groups = seg.row_groups(ids, lo, hi)
            if groups == []:
                continue
            as_dict = [c for c in ("entity_id", "version") if c in need]
            if "value" in need and pa.types.is_string(seg.value_type):
                as_dict.append("value")
            pf = pq.ParquetFile(seg.path, read_dictionary=as_dict)
            t = pf.read(columns=need) if groups is None else pf.read_row_groups(groups, columns=need)
            t = _filter(t, ids, lo, hi)
            if t.num_rows:
                pieces.append(pa.table([_conform(t.column(f.name), f.type) for f in target], target))
                unsorted |= not seg.sorted
        if not pieces:
            return target.empty_table()
        table = pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]
        if ordered and (len(pieces) > 1 or unsorted):
            dictionary, codes = entity_codes(table.column("entity_id"))
            order = group_time_order(
                string_ranks(dictionary)[codes],
                _micros_of(table.column("event_timestamp")),
                len(dictionary),
                _micros_of(table.column("ingested_at")),
            )
            table = table.take(order)
        if dedupe:
            table = current_rows(table)
        return table

    table = retrying(read)
    return table.select(list(columns))


def _filter(t: pa.Table, ids: list[str] | None, lo: int | None, hi: int | None) -> pa.Table:
    mask = None
    if ids is not None:
        mask = pc.is_in(t.column("entity_id"), value_set=pa.array(ids, pa.string()))
    if lo is not None or hi is not None:
        ts = t.column("event_timestamp")
        for bound, op in ((lo, pc.greater_equal), (hi, pc.less_equal)):
            if bound is not None:
                cond = op(ts, pa.scalar(bound, TS_TYPE))
                mask = cond if mask is None else pc.and_(mask, cond)
    return t if mask is None else t.filter(mask)


# -- dictionary-encoded columns ---------------------------------------------------------------


def _encoded_field(field: pa.Field) -> pa.Field:
    """String columns are read dictionary-encoded."""
    if pa.types.is_string(field.type):
        return pa.field(field.name, pa.dictionary(pa.int32(), pa.string()))
    return field


def _conform(column: pa.ChunkedArray, target: pa.DataType) -> pa.ChunkedArray:
    if column.type == target:
        return column
    if pa.types.is_dictionary(target):
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        encoded = cast(column, pa.string()).dictionary_encode()
        return encoded if isinstance(encoded, pa.ChunkedArray) else pa.chunked_array([encoded])
    out = cast(column, target)
    return out if isinstance(out, pa.ChunkedArray) else pa.chunked_array([out])


def decode(table: pa.Table) -> pa.Table:
    """Dictionary-encoded columns back to their value types."""
    for i, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(field.type.value_type))
    return table


def entity_codes(column: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """A dictionary-encoded column as one dictionary (distinct values) and int codes."""
    unified = column.unify_dictionaries()
    if unified.num_chunks == 0:
        return pa.array([], pa.string()), np.empty(0, dtype=np.int32)
    dictionary = unified.chunk(0).dictionary
    codes = np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in unified.chunks])
    if pc.count_distinct(dictionary).as_py() != len(dictionary):  # defensive: codes must be unique
        encoded = unified.cast(pa.string()).combine_chunks().dictionary_encode()
        dictionary, codes = encoded.dictionary, encoded.indices.to_numpy(zero_copy_only=False)
    return dictionary, codes


def string_ranks(dictionary: pa.Array) -> np.ndarray:
    """Each dictionary entry's position in sorted order."""
    rank = np.empty(len(dictionary), dtype=np.int64)
    rank[pc.sort_indices(dictionary).to_numpy()] = np.arange(len(dictionary), dtype=np.int64)
    return rank


# -- identities -------------------------------------------------------------------------------


def current_mask(entity_ids: pa.ChunkedArray | pa.Array, event_ts: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """For rows sorted by (entity, event time, ingestion time): True on the last row of each
    identity, the one that holds its current value."""
    n = len(entity_ids)
    keep = np.ones(n, dtype=bool)
    if n < 2:
        return keep
    if pa.types.is_dictionary(entity_ids.type):
        chunked = entity_ids if isinstance(entity_ids, pa.ChunkedArray) else pa.chunked_array([entity_ids])
        codes = entity_codes(chunked)[1]
        same = codes[1:] == codes[:-1]
    else:
        ids = entity_ids.combine_chunks() if isinstance(entity_ids, pa.ChunkedArray) else entity_ids
        same = pc.equal(ids.slice(1), ids.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    ts = event_ts.cast(pa.int64())
    ts = (ts.combine_chunks() if isinstance(ts, pa.ChunkedArray) else ts).to_numpy(zero_copy_only=False)
    np.logical_not(same & (ts[1:] == ts[:-1]), out=keep[:-1])
    return keep


def current_rows(table: pa.Table) -> pa.Table:
    """The rows of a sorted table that hold each identity's current value."""
    keep = current_mask(table.column("entity_id"), table.column("event_timestamp"))
    return table if keep.all() else table.filter(pa.array(keep))


# -- ordering ---------------------------------------------------------------------------------


def _micros_of(column: pa.ChunkedArray) -> np.ndarray:
    return column.cast(pa.int64()).to_numpy()


def group_time_order(
    group: np.ndarray, ts: np.ndarray, groups: int, ingested: np.ndarray | None
) -> np.ndarray:
    """The permutation sorting by (group, ts) — and ``ingested`` on ties when given. Sorts one
    int64 key when it fits (a stable sort, fast on concatenated sorted segments)."""
    if not len(ts):
        return np.empty(0, dtype=np.int64)
    tmin, tmax = int(ts.min()), int(ts.max())
    span = tmax - tmin + 1
    if groups * span >= 2**62:
        return np.lexsort((ts, group) if ingested is None else (ingested, ts, group))
    key = group * span
    key += ts
    key -= tmin
    if ingested is None:
        return np.argsort(key)
    order = np.argsort(key, kind="stable")
    sk = key[order]
    dup = sk[1:] == sk[:-1]
    if dup.any():  # same entity and time: order those rows by ingestion time
        tied = np.zeros(len(sk), dtype=bool)
        tied[1:] |= dup
        tied[:-1] |= dup
        at = np.flatnonzero(tied)
        sub = order[at]
        order[at] = sub[np.lexsort((ingested[sub], key[sub]))]
    return order
