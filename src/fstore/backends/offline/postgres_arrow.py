"""Arrow columns to and from PostgreSQL, without a Python loop per row where it matters.

Writing: ``COPY … FROM STDIN (FORMAT binary)`` takes a signature, then per row a 16-bit
field count and per field a 32-bit length (-1 for null) followed by the value in network
byte order. Each field is made an Arrow binary array (fixed-width values from numpy, strings
with their length prefixed) and the fields of a row are concatenated with Arrow's
``binary_join_element_wise``: the data buffer of the result is the COPY payload. 200,000
rows of 7 columns encode in ~20 ms; psycopg's ``write_row`` took ~1 s, and ``pyarrow.csv``
plus ``FORMAT csv`` ~0.4 s for the text alone (the server then parses text, slower too).

Reading: rows are fetched in binary (timestamptz as int8, see the store's ``_configure``)
and turned into Arrow columns; ``COPY … TO STDOUT`` was slower here, as psycopg hands it
over one row per message.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fstore.backends.offline.base import PitRequest
from fstore.backends.offline.schema import TS_TYPE, as_string, cast, from_micros, micros, string_like, unify
from fstore.errors import ValidationError

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8
TRAILER = b"\xff\xff"
PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in Unix microseconds: PostgreSQL's epoch
FLOAT8_OID = 701
BATCH_ROWS = 65_536  # rows per encoded chunk: bounds memory, keeps offsets in int32

_NULL = pa.scalar(b"\xff\xff\xff\xff", pa.binary())
_EMPTY = pa.scalar(b"", pa.binary())


def _fixed(matrix: np.ndarray) -> pa.Array:
    """A (rows × width) uint8 matrix as a binary array, one row per value."""
    rows, width = matrix.shape
    data = pa.py_buffer(np.ascontiguousarray(matrix))
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), rows, [None, data]).cast(pa.binary())


def _be(values: np.ndarray, dtype: str) -> np.ndarray:
    """Values in network byte order as a (rows × size) uint8 matrix."""
    out = np.ascontiguousarray(values.astype(dtype, copy=False))
    return out.view(np.uint8).reshape(len(values), -1)


def _length_prefixed(size: int, payload: np.ndarray) -> np.ndarray:
    prefix = np.broadcast_to(np.array([size], ">i4").view(np.uint8), (len(payload), 4))
    return np.concatenate([prefix, payload], axis=1)


def _with_nulls(field: pa.Array, valid: pa.Array | None) -> pa.Array:
    return field if valid is None else pc.if_else(valid, field, _NULL)


def _validity(arr: pa.Array) -> pa.Array | None:
    return arr.is_valid() if arr.null_count else None


def _numbers(arr: pa.Array, dtype: str, size: int) -> pa.Array:
    values = arr.fill_null(0).to_numpy(zero_copy_only=False) if arr.null_count else arr.to_numpy()
    return _with_nulls(_fixed(_length_prefixed(size, _be(values, dtype))), _validity(arr))


def _timestamps(arr: pa.Array) -> pa.Array:
    """timestamp[us] (any zone: stored as UTC) as timestamptz."""
    micros = arr.cast(pa.int64())
    values = micros.fill_null(0).to_numpy(zero_copy_only=False) - PG_EPOCH_US
    return _with_nulls(_fixed(_length_prefixed(8, _be(values, ">i8"))), _validity(arr))


def _text(arr: pa.Array) -> pa.Array:
    data = arr.cast(pa.binary())
    lengths = pc.binary_length(data).fill_null(0).to_numpy(zero_copy_only=False)
    prefix = _fixed(_be(lengths, ">i4"))
    joined = pc.binary_join_element_wise(prefix, data.fill_null(_EMPTY), _EMPTY)
    return _with_nulls(joined, _validity(arr))


def _float_lists(arr: pa.Array) -> pa.Array:
    """list<float64> as float8[] (one dimension, lower bound 1; an empty list has none)."""
    arr = arr.cast(pa.list_(pa.float64()))
    n = len(arr)
    offsets = arr.offsets.to_numpy().astype(np.int64)
    start, stop = int(offsets[0]), int(offsets[-1])
    flat = arr.values.slice(start, stop - start)
    counts = np.diff(offsets)
    owner = np.repeat(np.arange(n), counts)  # the row of each element
    valid = flat.is_valid().to_numpy(zero_copy_only=False)
    body = np.bincount(owner, weights=np.where(valid, 12, 4), minlength=n).astype(np.int64)
    has_null = np.bincount(owner[~valid], minlength=n) > 0
    empty = counts == 0
    header = np.column_stack(
        [
            np.where(empty, 12, 20 + body),  # the field's length
            np.where(empty, 0, 1),  # dimensions
            has_null.astype(np.int64),
            np.full(n, FLOAT8_OID),
            counts,  # the dimension's length
            np.ones(n, np.int64),  # its lower bound
        ]
    )
    head = _be(header.ravel(), ">i4").reshape(n, 24)
    heads = pc.if_else(pa.array(empty), _fixed(head[:, :16]), _fixed(head))
    elements = _numbers(flat, ">f8", 8)
    lists = pa.ListArray.from_arrays(pa.array(offsets - start, pa.int32()), elements)
    field = pc.binary_join_element_wise(heads, pc.binary_join(lists, _EMPTY), _EMPTY)
    return _with_nulls(field, _validity(arr))


ENCODERS = {
    "int4": lambda a: _numbers(a, ">i4", 4),
    "int8": lambda a: _numbers(a, ">i8", 8),
    "float8": lambda a: _numbers(a, ">f8", 8),
    "timestamptz": _timestamps,
    "text": _text,
    "float8[]": _float_lists,
}


def history_columns(
    data: pa.Table, fid: int, value: tuple[str, Any, str] | None, transformed: tuple[str, Any, str] | None
) -> tuple[list[str], list[tuple[str, pa.Array]]]:
    """The columns to copy into a feature's partition from a normalised history table: names,
    and (PostgreSQL type, values) pairs; ``value``/``transformed`` are the (column, Arrow type,
    PostgreSQL type) of their kinds, None for the null type (the column stays null)."""
    names = ["fid", "entity_id", "event_timestamp", "ingested_at", "version"]
    arrays = [("int4", pa.array(np.full(data.num_rows, fid, np.int32)))]
    for column, pg_type in zip(names[1:], ("text", "timestamptz", "timestamptz", "text"), strict=True):
        arrays.append((pg_type, data.column(column).combine_chunks()))
    for source, kind in (("value", value), ("transformed", transformed)):
        if kind is not None:
            names.append(kind[0])
            arrays.append((kind[2], data.column(source).combine_chunks()))
    return names, arrays


def _encode_batch(columns: Sequence[tuple[str, pa.Array]], rows: int) -> memoryview:
    count = _fixed(np.tile(np.array([len(columns)], ">i2").view(np.uint8), (rows, 1)))
    fields = [count, *(ENCODERS[kind](arr) for kind, arr in columns)]
    joined = pc.binary_join_element_wise(*fields, _EMPTY)
    offsets = np.frombuffer(joined.buffers()[1], np.int32, count=rows + 1, offset=joined.offset * 4)
    return memoryview(joined.buffers()[2])[int(offsets[0]) : int(offsets[-1])]  # type: ignore[index]


def encode(columns: Sequence[tuple[str, pa.Array]], rows: int) -> Iterator[bytes | memoryview]:
    """The binary COPY payload for ``rows`` rows of ``columns`` ((pg type, Arrow array) pairs),
    in chunks: signature, batches of rows, trailer."""
    yield SIGNATURE
    for lo in range(0, rows, BATCH_ROWS):
        n = min(BATCH_ROWS, rows - lo)
        batch = [(kind, arr.slice(lo, n)) for kind, arr in columns]
        yield _encode_batch(batch, n)
    yield TRAILER


def utc(value: datetime) -> datetime:
    """A query parameter in UTC (a naive datetime is taken as UTC, as everywhere in FStore)."""
    return from_micros(micros(value))  # type: ignore[return-value]


# -- fetched rows to Arrow --------------------------------------------------------------------


def arrow_column(values: Sequence[Any], arrow_type: pa.DataType) -> pa.Array:
    return pa.array(values, arrow_type)


def timestamps(values: Sequence[int]) -> pa.Array:
    """timestamptz fetched as µs since 2000-01-01 (never null) as timestamp[us, UTC]."""
    micros = np.fromiter(values, dtype=np.int64, count=len(values)) + PG_EPOCH_US
    return pa.array(micros).cast(TS_TYPE)


def unified(
    columns: Sequence[Sequence[Any]], kinds: Sequence[tuple[str, pa.DataType]], rows: int
) -> pa.Array:
    """One column from the typed columns of a feature's kinds (each row fills one of them),
    in the type the embedded store gives mixed segments (``schema.unify``)."""
    if not kinds:
        return pa.nulls(rows)
    arrays = [pa.array(values, t) for values, (_, t) in zip(columns, kinds, strict=True)]
    if len(arrays) == 1:
        return arrays[0]
    target = unify([t for _, t in kinds])
    return pc.coalesce(*(cast(a, target) for a in arrays))


# -- entity rows of a point-in-time join ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PitRows:
    """The entity rows to copy into the temporary table: those with a time and a key,
    sorted by (first join key, time) so that index probes walk the index in order."""

    key_index: dict[str, int]  # join key column -> its number in the table (k0, k1, …)
    copy_columns: list[tuple[str, pa.Array]]  # rn, ts, k0, k1, … as (PostgreSQL type, values)
    count: int

    @property
    def keys(self) -> list[str]:
        return list(self.key_index)


def _row_micros(column: pa.ChunkedArray) -> pa.Array:
    """The entity rows' times as int64 UTC µs (a zone-less time is taken as UTC)."""
    arr = column.combine_chunks()
    t = arr.type
    if pa.types.is_timestamp(t):
        arr = pc.cast(arr, pa.timestamp("us", tz=t.tz), safe=False)
    elif pa.types.is_date(t):
        arr = arr.cast(pa.timestamp("us"))
    else:
        raise ValidationError(f"the entity rows' timestamp column must hold timestamps, got {t}")
    return arr.cast(pa.int64())


def _key_strings(column: pa.ChunkedArray) -> pa.Array:
    arr = column.combine_chunks()
    t = arr.value_type if pa.types.is_dictionary(arr.type) else arr.type
    if not (string_like(t) or pa.types.is_integer(t) or pa.types.is_null(t)):
        raise ValidationError(f"join keys must be strings or integers, got {t}")
    return as_string(arr, "join key")


def pit_input(entity_rows: pa.Table, timestamp_column: str, requests: Sequence[PitRequest]) -> PitRows:
    ts = _row_micros(entity_rows.column(timestamp_column))
    key_index = {k: i for i, k in enumerate(dict.fromkeys(r.join_key for r in requests))}
    keys = [_key_strings(entity_rows.column(k)) for k in key_index]
    usable = ts.is_valid()
    if keys:
        any_key = keys[0].is_valid()
        for k in keys[1:]:
            any_key = pc.or_(any_key, k.is_valid())
        usable = pc.and_(usable, any_key)
    selected = pc.indices_nonzero(usable)
    if keys and len(selected):
        order = pc.sort_indices(
            pa.table({"k": keys[0].take(selected), "ts": ts.take(selected)}),
            sort_keys=[("k", "ascending"), ("ts", "ascending")],
        )
        selected = selected.take(order)
    rn = selected.cast(pa.int32())
    columns = [("int4", rn), ("timestamptz", ts.take(selected))]
    columns += [("text", k.take(selected)) for k in keys]
    return PitRows(key_index, columns, len(rn))
