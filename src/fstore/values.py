"""Turning user input into validated, columnar feature values.

Every entry point (SDK, CLI, REST, stream) funnels values through ``coerce_values``: a batch
is checked whole before anything is stored, and the first bad row is named in the error.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fstore.arguments import listed
from fstore.errors import InvalidValueError, TypeMismatchError, ValidationError
from fstore.frames import is_polars
from fstore.models import Feature, FeatureValue, ValueType

TS_TYPE = pa.timestamp("us", tz="UTC")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_ARROW_TYPES = {ValueType.FLOAT: pa.float64(), ValueType.INT: pa.int64(), ValueType.STRING: pa.string()}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def arrow_type(dtype: ValueType) -> pa.DataType:
    return _ARROW_TYPES[dtype]


@dataclass(slots=True)
class Values:
    """Validated values of one feature: parallel Arrow arrays, no nulls in ids or times."""

    entity_ids: pa.Array  # string
    event_ts: pa.Array  # timestamp[us, UTC]
    values: pa.Array  # the feature's dtype

    def __len__(self) -> int:
        return len(self.entity_ids)


def to_datetime(value: Any) -> datetime:
    """A timezone-aware UTC datetime from a datetime (naive = UTC), ISO string or numpy value."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, str):
        try:
            return to_datetime(datetime.fromisoformat(value.strip()))
        except ValueError:
            raise ValidationError(f"{value!r} is not an ISO-8601 timestamp") from None
    if isinstance(value, np.datetime64):
        return to_datetime(pd.Timestamp(value).to_pydatetime())
    raise ValidationError(f"{value!r} is not a timestamp (give a datetime or an ISO-8601 string)")


def to_micros(value: Any) -> int:
    dt = to_datetime(value)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, tz=UTC)


def entity_key_of(entity_id: Any, row: int | None = None) -> str:
    """Entity ids are stored as strings; ints are accepted and converted."""
    if isinstance(entity_id, bool) or entity_id is None:
        raise InvalidValueError(_where(row, entity_id) + "entity id is missing or not a string/int", row=row)
    if isinstance(entity_id, (int, np.integer)):
        return str(int(entity_id))
    if isinstance(entity_id, str) and entity_id != "":
        if "\x00" in entity_id:
            raise InvalidValueError(
                _where(row, entity_id) + "an entity id cannot hold a NUL character", row=row
            )
        return entity_id
    raise InvalidValueError(_where(row, entity_id) + f"bad entity id {entity_id!r}", row=row)


def entity_keys(entities: Any) -> list[str]:
    """The entity ids of a read: a list of strings or integers (a lone id is refused)."""
    ids = listed(entities, "entity ids")
    if set(map(type, ids)) <= {str} and "" not in ids and "\x00" not in "".join(ids):
        return ids  # the serving hot path: plain strings, checked in C
    return [entity_key_of(e, i) for i, e in enumerate(ids)]


def _where(row: int | None, entity_id: Any = None) -> str:
    if row is None:
        return ""
    return f"row {row}" + (f" (entity {entity_id!r})" if entity_id is not None else "") + ": "


def check_value(feature: Feature, value: Any, row: int | None = None, entity_id: Any = None) -> Any:
    """Validate one raw value against the feature's type; returns it in canonical form."""
    where = _where(row, entity_id)
    if value is None or (isinstance(value, float) and math.isnan(value) and feature.nullable):
        if not feature.nullable:
            raise InvalidValueError(f"{where}feature {feature.name!r} does not allow nulls", row=row)
        return None
    if feature.dtype is ValueType.STRING:
        if not isinstance(value, str):
            raise TypeMismatchError(
                f"{where}feature {feature.name!r} is categorical: expected a string, got {value!r}", row=row
            )
        if "\x00" in value:
            raise InvalidValueError(
                f"{where}feature {feature.name!r}: a value cannot hold a NUL character", row=row
            )
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeMismatchError(
            f"{where}feature {feature.name!r} is numerical: expected a number, got {value!r}", row=row
        )
    if feature.dtype is ValueType.INT:
        if isinstance(value, (float, np.floating)) and not float(value).is_integer():
            raise TypeMismatchError(f"{where}feature {feature.name!r} holds integers, got {value!r}", row=row)
        if not INT64_MIN <= int(value) <= INT64_MAX:
            raise InvalidValueError(
                f"{where}feature {feature.name!r}: {value!r} does not fit in a 64-bit integer", row=row
            )
        return int(value)
    try:
        number = float(value)
    except OverflowError:
        raise InvalidValueError(f"{where}feature {feature.name!r}: {value!r} is too large", row=row) from None
    if not math.isfinite(number):
        raise InvalidValueError(f"{where}feature {feature.name!r}: {value!r} is not a finite number", row=row)
    return number


def _rows_to_columns(rows: Sequence[Any]) -> tuple[list[Any], list[Any], list[Any]]:
    ids: list[Any]
    times: list[Any]
    vals: list[Any]
    if all(type(row) is dict for row in rows):
        # The common case (REST batches, SDK lists of dicts) column by column in C; a row
        # without a required key falls through to the loop below, which names it.
        try:
            ids = list(map(itemgetter("entity_id"), rows))
            vals = list(map(itemgetter("value"), rows))
        except KeyError:
            pass
        else:
            return ids, [row.get("event_timestamp") for row in rows], vals
    ids, times, vals = [], [], []
    for i, row in enumerate(rows):
        if isinstance(row, FeatureValue):
            ids.append(row.entity_id)
            times.append(row.event_timestamp)
            vals.append(row.value)
        elif isinstance(row, Mapping):
            missing = [k for k in ("entity_id", "value") if k not in row]
            if missing:
                raise ValidationError(f"row {i}: missing {', '.join(missing)}", row=i)
            ids.append(row["entity_id"])
            times.append(row.get("event_timestamp"))
            vals.append(row["value"])
        else:
            raise ValidationError(
                f"row {i}: expected a FeatureValue or a mapping with entity_id, value, event_timestamp",
                row=i,
            )
    return ids, times, vals


def _coerce_rows(feature: Feature, rows: Sequence[Any], now_us: int) -> Values:
    ids, times, vals = _rows_to_columns(rows)
    # Each column first takes a vectorised path that accepts only plainly valid input; any
    # doubt sends it through the row-by-row checks, which name the first bad row. Columns are
    # checked in the same order either way, so a bad batch gets the same error.
    keys = _plain_ids(ids)
    if keys is None:
        keys = pa.array([entity_key_of(eid, i) for i, eid in enumerate(ids)], pa.string())
    stamps = _plain_times(times, now_us)
    if stamps is None:
        micros: list[int] = []
        for i, t in enumerate(times):
            if t is None:
                micros.append(now_us)
                continue
            try:
                micros.append(to_micros(t))
            except ValidationError as exc:
                raise ValidationError(f"{_where(i, ids[i])}{exc.message}", row=i) from None
        stamps = pa.array(micros, pa.int64()).cast(TS_TYPE)
    clean = _plain_values(feature, vals)
    if clean is None:
        checked = [check_value(feature, v, i, ids[i]) for i, v in enumerate(vals)]
        clean = pa.array(checked, arrow_type(feature.dtype))  # type: ignore[arg-type]
    return Values(keys, stamps, clean)


_NONE = type(None)
_ARROW_ERRORS = (pa.ArrowException, OverflowError, TypeError, ValueError)


def _plain_ids(ids: list[Any]) -> pa.Array | None:
    """Non-empty strings (or ints, stored as strings) as an Arrow column, else None."""
    kinds = set(map(type, ids))
    if not kinds <= {str, int} or "" in ids:
        return None
    arr = pa.array(ids if int not in kinds else [str(e) for e in ids], pa.string())
    return None if _first_nul(arr) is not None else arr


def _plain_times(times: list[Any], now_us: int) -> pa.Array | None:
    """datetimes (naive = UTC), ISO strings with a zone, and Nones (= now) as UTC
    microseconds, else None."""
    kinds = set(map(type, times))
    try:
        if kinds <= {datetime, _NONE}:
            stamps = pa.array(times, TS_TYPE)  # converts aware datetimes to UTC like to_micros
        elif kinds <= {str, _NONE}:
            # Arrow's ISO-8601 parser; it refuses strings without a zone (and anything odd),
            # which then go row by row through to_micros, the reference.
            stamps = pa.array(times, pa.string()).cast(TS_TYPE)
        else:
            return None
    except _ARROW_ERRORS:
        return None
    return stamps.fill_null(pa.scalar(now_us, TS_TYPE)) if _NONE in kinds else stamps


def _plain_values(feature: Feature, vals: list[Any]) -> pa.Array | None:
    """Values that ``check_value`` would return unchanged (plain str, int, finite float, or
    None where allowed) as an Arrow column of the feature's type, else None."""
    kinds = set(map(type, vals))
    if _NONE in kinds:
        if not feature.nullable:
            return None
        kinds.discard(_NONE)
    if feature.dtype is ValueType.STRING:
        allowed: set[type] = {str}
    elif feature.dtype is ValueType.INT:
        allowed = {int}
    else:
        allowed = {float, int}
    if not kinds <= allowed:
        return None
    try:
        arr = pa.array(vals, arrow_type(feature.dtype))  # type: ignore[arg-type]
    except _ARROW_ERRORS:  # e.g. an int beyond what the type holds exactly
        return None
    if feature.dtype is ValueType.FLOAT and float in kinds and not pc.all(pc.is_finite(arr)).as_py():
        return None  # NaN or infinities: nulls or errors, decided row by row
    if feature.dtype is ValueType.STRING and _first_nul(arr) is not None:
        return None
    return arr


def _first_nul(arr: pa.Array) -> int | None:
    """The first string holding a NUL: PostgreSQL text cannot store one, so no backend does."""
    data = arr.buffers()[2]  # the strings' bytes end to end: one memchr says "none" at once
    if data is None or data.to_pybytes().find(b"\x00") < 0:
        return None
    return _first_true(pc.match_substring(arr, "\x00").fill_null(False))


def _first_true(mask: pa.Array | pa.ChunkedArray) -> int | None:
    if not pc.any(mask).as_py():
        return None
    return int(pc.index(mask, True).as_py())


def coerce_timestamps(column: Any, ids: Sequence[Any] | None = None) -> pa.Array:
    """A column of timestamps (datetimes, ISO strings, pandas/Arrow timestamps) as UTC µs."""
    arr = column if isinstance(column, (pa.Array, pa.ChunkedArray)) else pa.array(pd.Series(column))
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_timestamp(arr.type):
        if arr.type.unit == "ns":  # stored to the microsecond: finer digits are dropped (floor)
            arr = pc.floor_temporal(arr, unit="microsecond")
        out = arr.cast(pa.timestamp("us", tz=arr.type.tz or "UTC")).cast(TS_TYPE)
    elif pa.types.is_date(arr.type):
        out = arr.cast(pa.timestamp("us")).cast(TS_TYPE)
    elif pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        parsed = pd.to_datetime(pd.Series(arr.to_pandas()), utc=True, errors="coerce", format="ISO8601")
        bad = parsed.isna() & pd.Series(arr.is_valid().to_pandas())
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValidationError(
                f"{_where(i, ids[i] if ids is not None else None)}{arr[i].as_py()!r} is not an ISO-8601 "
                "timestamp",
                row=i,
            )
        out = pa.array(parsed.dt.floor("us"), TS_TYPE)
    else:
        raise ValidationError(f"timestamps must be datetimes or ISO-8601 strings, got a column of {arr.type}")
    missing = _first_true(out.is_null())
    if missing is not None:
        raise ValidationError(f"{_where(missing)}event timestamp is missing", row=missing)
    return out


def coerce_entity_ids(column: Any) -> pa.Array:
    arr = column if isinstance(column, (pa.Array, pa.ChunkedArray)) else pa.array(pd.Series(column))
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if (
        pa.types.is_integer(arr.type)
        or pa.types.is_large_string(arr.type)
        or pa.types.is_dictionary(arr.type)
    ):
        arr = arr.cast(pa.string())
    elif not pa.types.is_string(arr.type):
        raise ValidationError(f"entity ids must be strings or integers, got a column of {arr.type}")
    bad = _first_true(pc.or_kleene(arr.is_null(), pc.equal(pc.utf8_length(arr), 0)).fill_null(True))
    if bad is not None:
        raise InvalidValueError(f"{_where(bad)}entity id is missing", row=bad)
    bad = _first_nul(arr)
    if bad is not None:
        raise InvalidValueError(f"{_where(bad)}an entity id cannot hold a NUL character", row=bad)
    return arr


def coerce_column(feature: Feature, column: Any, ids: pa.Array | None = None) -> pa.Array:
    """Validate a whole column of raw values vectorised; the first bad row is named."""
    arr = column if isinstance(column, (pa.Array, pa.ChunkedArray)) else pa.array(pd.Series(column))
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    target = arrow_type(feature.dtype)  # type: ignore[arg-type]

    def fail(i: int, why: str, error: type[InvalidValueError] = InvalidValueError) -> None:
        eid = ids[i].as_py() if ids is not None else None
        raise error(f"{_where(i, eid)}feature {feature.name!r}: {why}", row=i, feature=feature.name)

    if pa.types.is_null(arr.type):
        arr = pa.nulls(len(arr), target)
    if feature.dtype is ValueType.STRING:
        if pa.types.is_dictionary(arr.type) or pa.types.is_large_string(arr.type):
            arr = arr.cast(pa.string())
        if not pa.types.is_string(arr.type):
            fail(0, f"is categorical: expected strings, got {arr.type}", TypeMismatchError)
        bad = _first_nul(arr)
        if bad is not None:
            fail(bad, "a value cannot hold a NUL character")
    else:
        if pa.types.is_boolean(arr.type) or not (
            pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)
        ):
            fail(0, f"is numerical: expected numbers, got {arr.type}", TypeMismatchError)
        if pa.types.is_floating(arr.type):
            floats = arr.cast(pa.float64())
            if feature.nullable:  # NaN is a null for nullable features
                floats = pc.if_else(pc.is_nan(floats), pa.scalar(None, pa.float64()), floats)
            bad = _first_true(pc.invert(pc.is_finite(floats)).fill_null(False))
            if bad is not None:
                fail(bad, f"{floats[bad].as_py()!r} is not a finite number")
            if feature.dtype is ValueType.INT:
                frac = pc.not_equal(pc.floor(floats), floats).fill_null(False)
                bad = _first_true(frac)
                if bad is not None:
                    fail(bad, f"holds integers, got {floats[bad].as_py()!r}", TypeMismatchError)
                big = pc.or_(pc.greater_equal(floats, 2.0**63), pc.less(floats, -(2.0**63)))
                bad = _first_true(big.fill_null(False))
                if bad is not None:
                    fail(bad, f"{floats[bad].as_py()!r} does not fit in a 64-bit integer")
            arr = floats
        elif feature.dtype is ValueType.INT and arr.type == pa.uint64():
            bad = _first_true(pc.greater(arr, pa.scalar(INT64_MAX, arr.type)).fill_null(False))
            if bad is not None:
                fail(bad, f"{arr[bad].as_py()!r} does not fit in a 64-bit integer")
        arr = arr.cast(target, safe=feature.dtype is not ValueType.FLOAT)  # a float takes any integer
    if not feature.nullable:
        bad = _first_true(arr.is_null())
        if bad is not None:
            fail(bad, "does not allow nulls")
    return arr


def coerce_values(
    feature: Feature,
    batch: Any,
    *,
    entity_column: str | None = None,
    timestamp_column: str = "event_timestamp",
    value_column: str | None = None,
    now: datetime | None = None,
) -> Values:
    """Validate a batch of one feature's values.

    ``batch`` is a pandas or Polars DataFrame or an Arrow table (columns ``entity_id`` or the
    entity's join key, ``value`` or the feature name, ``event_timestamp``), or an iterable of
    ``FeatureValue`` objects or dicts with the same keys. A missing timestamp means now.
    """
    now_us = to_micros(now or datetime.now(UTC))
    if isinstance(batch, pd.DataFrame) or is_polars(batch):
        batch = table_of(batch)
    if isinstance(batch, pa.Table):
        batch = table_of(batch)
        names = set(batch.column_names)
        id_col = _pick(names, [entity_column, "entity_id"], "entity id")
        val_col = _pick(names, [value_column, "value", feature.name], "value")
        ids = coerce_entity_ids(batch.column(id_col))
        if timestamp_column in names:
            ts = coerce_timestamps(batch.column(timestamp_column), ids.to_pylist())
        else:
            ts = pa.array(np.full(len(ids), now_us, dtype=np.int64)).cast(TS_TYPE)
        return Values(ids, ts, coerce_column(feature, batch.column(val_col), ids))
    if isinstance(batch, (FeatureValue, Mapping)):
        batch = [batch]
    if not isinstance(batch, Iterable) or isinstance(batch, (str, bytes)):
        raise ValidationError("a batch is a DataFrame, an Arrow table, or a list of values")
    return _coerce_rows(feature, list(batch), now_us)


def table_of(data: Any) -> pa.Table:
    """A DataFrame (pandas or Polars) as an Arrow table, with typed errors: duplicated column
    names, and object columns that mix kinds (strings and numbers, booleans and numbers) or
    hold integers beyond 64 bits name the column and the first offending row."""
    if is_polars(data):
        return data.to_arrow()  # typed columns with unique names: nothing to check
    names = [str(c) for c in data.columns] if isinstance(data, pd.DataFrame) else data.column_names
    dup = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if dup is not None:
        raise ValidationError(f"column {dup!r} appears more than once")
    if isinstance(data, pa.Table):
        return data
    try:
        table = pa.Table.from_pandas(data, preserve_index=False)
    except _ARROW_ERRORS as exc:
        for name, column in data.items():
            try:
                pa.array(column, from_pandas=True)
            except _ARROW_ERRORS:
                raise _column_error(str(name), column.tolist()) from None
        raise ValidationError(f"the DataFrame cannot be read: {exc}") from None
    for i, (name, column) in enumerate(data.items()):
        # Arrow reads [1.0, True] in an object column as [1.0, 1.0]: find the boolean.
        kind = table.schema.field(i).type
        if column.dtype == object and (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
            kinds = set(map(type, column.tolist()))
            if bool in kinds or np.bool_ in kinds:
                raise _column_error(str(name), column.tolist())
    return table


def _kind(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return "boolean"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return "number"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def _column_error(name: str, values: list[Any]) -> ValidationError:
    """Why a column would not convert, naming its first offending row (the slow path)."""
    kinds = [_kind(v) for v in values]
    for i, v in enumerate(values):
        if isinstance(v, int) and not isinstance(v, bool) and not INT64_MIN <= v <= INT64_MAX:
            return InvalidValueError(
                f"row {i}: column {name!r}: {v!r} does not fit in a 64-bit integer", row=i
            )
    if "boolean" in kinds and "number" in kinds:
        i = kinds.index("boolean")
        return TypeMismatchError(f"row {i}: column {name!r}: {values[i]!r} is a boolean, not a number", row=i)
    first = next((k for k in kinds if k is not None), None)
    i = next((i for i, k in enumerate(kinds) if k is not None and k != first), 0)
    return TypeMismatchError(
        f"row {i}: column {name!r} mixes {first} and {kinds[i]} values ({values[i]!r})", row=i
    )


def _pick(names: set[str], candidates: list[str | None], what: str) -> str:
    for name in candidates:
        if name and name in names:
            return name
    wanted = " or ".join(repr(c) for c in candidates if c)
    raise ValidationError(f"the batch has no {what} column ({wanted})")
