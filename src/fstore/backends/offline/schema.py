"""The history columns in the types they are stored in (see ``base.HISTORY_COLUMNS``).

Appended tables are normalised to the canonical types (and sorted for storage). Segments
written at different times may disagree on the types of ``value`` and ``transformed``, so a
reader unifies them across segments and casts each segment to the unified type. Times are
``timestamp[us, UTC]``; query bounds cross as UTC microseconds.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from fstore.backends.offline.base import HISTORY_COLUMNS
from fstore.errors import ValidationError

TS_TYPE = pa.timestamp("us", tz="UTC")
SORT_KEYS = [("entity_id", "ascending"), ("event_timestamp", "ascending"), ("ingested_at", "ascending")]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def history_schema(value: pa.DataType, transformed: pa.DataType) -> pa.Schema:
    return pa.schema(
        [
            ("entity_id", pa.string()),
            ("event_timestamp", TS_TYPE),
            ("value", value),
            ("transformed", transformed),
            ("version", pa.string()),
            ("ingested_at", TS_TYPE),
        ]
    )


# -- types across segments --------------------------------------------------------------------


def unify(types: Sequence[pa.DataType]) -> pa.DataType:
    """One type for a column across segments: nulls give way; int and float make float;
    anything else mixed (numbers and strings, scalars and lists) becomes string."""
    kinds = []
    for t in types:
        if not pa.types.is_null(t) and t not in kinds:
            kinds.append(t)
    if not kinds:
        return pa.null()
    if len(kinds) == 1:
        return kinds[0]
    if all(t in (pa.int64(), pa.float64()) for t in kinds):
        return pa.float64()
    return pa.string()


def cast(arr: pa.Array | pa.ChunkedArray, target: pa.DataType) -> pa.Array | pa.ChunkedArray:
    if arr.type == target:
        return arr
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), target)
    if pa.types.is_string(target) and pa.types.is_list(arr.type):
        return pa.array([None if v is None else json.dumps(v) for v in arr.to_pylist()], pa.string())
    return pc.cast(arr, target)


# -- normalising appended tables --------------------------------------------------------------


def string_like(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def as_string(arr: pa.Array, what: str) -> pa.Array:
    t = arr.type
    if pa.types.is_dictionary(t):
        arr, t = arr.cast(t.value_type), t.value_type
    if string_like(t) or pa.types.is_integer(t) or pa.types.is_null(t):
        return arr.cast(pa.string())
    raise ValidationError(f"history column {what!r} must hold strings, got {t}")


def _as_timestamp(arr: pa.Array, what: str) -> pa.Array:
    """timestamp[us, UTC]; a timestamp without a zone is taken as UTC."""
    t = arr.type
    if pa.types.is_timestamp(t):
        return pc.cast(arr, pa.timestamp("us", tz=t.tz), safe=False).cast(TS_TYPE)
    if pa.types.is_date(t):
        return arr.cast(pa.timestamp("us")).cast(TS_TYPE)
    raise ValidationError(f"history column {what!r} must hold timestamps, got {t}")


def _as_value(arr: pa.Array) -> pa.Array:
    t = arr.type
    if pa.types.is_dictionary(t):
        arr, t = arr.cast(t.value_type), t.value_type
    if pa.types.is_null(t) or t in (pa.float64(), pa.int64(), pa.string()):
        return arr
    if pa.types.is_integer(t):
        return arr.cast(pa.int64())
    if pa.types.is_floating(t):
        return arr.cast(pa.float64())
    if string_like(t):
        return arr.cast(pa.string())
    raise ValidationError(f"history column 'value' must hold float64, int64 or strings, got {t}")


def _as_transformed(arr: pa.Array) -> pa.Array:
    t = arr.type
    if pa.types.is_null(t) or t in (pa.float64(), pa.int64(), pa.list_(pa.float64())):
        return arr
    if pa.types.is_integer(t):
        return arr.cast(pa.int64())
    if pa.types.is_floating(t):
        return arr.cast(pa.float64())
    is_list = pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)
    if is_list and (pa.types.is_floating(t.value_type) or pa.types.is_integer(t.value_type)):
        return arr.cast(pa.list_(pa.float64()))
    raise ValidationError(f"history column 'transformed' must hold numbers or lists of numbers, got {t}")


def normalise(table: pa.Table) -> pa.Table:
    """The table with exactly the history columns in canonical types, sorted for storage."""
    missing = [c for c in HISTORY_COLUMNS if c not in table.column_names]
    if missing:
        raise ValidationError(f"the history table lacks the columns {', '.join(missing)}")
    cols = {c: table.column(c).combine_chunks() for c in HISTORY_COLUMNS}
    out = pa.table(
        {
            "entity_id": as_string(cols["entity_id"], "entity_id"),
            "event_timestamp": _as_timestamp(cols["event_timestamp"], "event_timestamp"),
            "value": _as_value(cols["value"]),
            "transformed": _as_transformed(cols["transformed"]),
            "version": as_string(cols["version"], "version"),
            "ingested_at": _as_timestamp(cols["ingested_at"], "ingested_at"),
        }
    )
    for c in ("entity_id", "event_timestamp", "ingested_at"):
        if out.column(c).null_count:
            raise ValidationError(f"history column {c!r} has nulls")
    return out.sort_by(SORT_KEYS) if out.num_rows > 1 else out


# -- times ------------------------------------------------------------------------------------


def micros(value: datetime) -> int:
    dt = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int | None) -> datetime | None:
    return None if micros is None else _EPOCH + timedelta(microseconds=micros)
