"""Embedded offline store: a Parquet dataset, one directory per feature, queried in process.

Layout of ``duckdb:///dir``::

    dir/<feature_id>/<time_ns>-<random>.parquet   append-only segments (history schema)
    dir/<feature_id>/.lock                        compaction lock (fcntl.flock)

Every segment is written once, atomically (``*.tmp`` then ``os.replace``), under a unique
name, so any number of processes can append and read at the same time without a server. A
segment is sorted by (entity_id, event_timestamp, ingested_at) and records in its footer
(key ``fstore``) that it is sorted, the entity/time range of each row group, and — for a
merged segment — the names of the segments it replaces. A reader lists the directory, drops
every segment named as replaced by a segment it sees, and reads the rest; if a listed file
has meanwhile been deleted by a compaction, it lists again.

When a feature holds more than ``MAX_SEGMENTS`` segments, an append merges the smallest ones
(under an exclusive ``flock`` so two processes never compact the same feature at once): the
merged segment is written first, then the old ones are deleted.

Queries read with pyarrow (string columns dictionary-encoded until the result is cut down)
and compute with Arrow/numpy on the sorted layout, which beats SQL here. Measured on 2 cores,
100,000 entity rows against 200,000 history rows of one feature: DuckDB's ASOF join took
~32 ms, the sorted search join below ~10 ms including the read, and features are joined on
``PIT_THREADS`` threads. Latest per entity is the last row of each sorted run: ~5 ms for
10,000 entities (DuckDB: ~21 ms with a window, ~8 ms for arg_max of one column).
Statistics run in an in-memory DuckDB connection over the Arrow rows (quantiles, top-k);
it is connected on first use.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import ctypes
import fcntl
import json
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fstore.backends import url_path
from fstore.backends.offline import duckdb_sql as sql
from fstore.backends.offline.base import HISTORY_COLUMNS, PitRequest
from fstore.errors import StoreUnavailableError, ValidationError
from fstore.models import NAME_PATTERN

if TYPE_CHECKING:
    import duckdb

T = TypeVar("T")

TS_TYPE = pa.timestamp("us", tz="UTC")
MAX_SEGMENTS = 32  # more than this many segments in a feature directory triggers a compaction
TARGET_SEGMENTS = 16  # a compaction merges the smallest segments down to about this many
ROW_GROUP_ROWS = 65_536  # row groups small enough that a lookup of a few entities skips most
COMPRESSION = "snappy"  # reads ~2x faster than zstd here, files ~10% larger
# threads joining features in parallel (each costs ~25 MB of peak RSS in a 100,000-row join)
PIT_THREADS = int(os.environ.get("FSTORE_PIT_THREADS", min(2, os.cpu_count() or 1)))
READ_ATTEMPTS = 8  # listings tried when files vanish under a reader (compactions)
STALE_TMP_SECONDS = 3600  # a *.tmp this old is left over from a crashed writer
META_KEY = b"fstore"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SORT_KEYS = [("entity_id", "ascending"), ("event_timestamp", "ascending"), ("ingested_at", "ascending")]


def _history_schema(value: pa.DataType, transformed: pa.DataType) -> pa.Schema:
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


# -- types ----------------------------------------------------------------------------------


def _unify(types: Sequence[pa.DataType]) -> pa.DataType:
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


def _cast(arr: pa.Array | pa.ChunkedArray, target: pa.DataType) -> pa.Array | pa.ChunkedArray:
    if arr.type == target:
        return arr
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), target)
    if pa.types.is_string(target) and pa.types.is_list(arr.type):
        return pa.array([None if v is None else json.dumps(v) for v in arr.to_pylist()], pa.string())
    return pc.cast(arr, target)


def _string_like(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _as_string(arr: pa.Array, what: str) -> pa.Array:
    t = arr.type
    if pa.types.is_dictionary(t):
        arr, t = arr.cast(t.value_type), t.value_type
    if _string_like(t) or pa.types.is_integer(t) or pa.types.is_null(t):
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
    if _string_like(t):
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


def _normalise(table: pa.Table) -> pa.Table:
    """The table with exactly the history columns in canonical types, sorted for storage."""
    missing = [c for c in HISTORY_COLUMNS if c not in table.column_names]
    if missing:
        raise ValidationError(f"the history table lacks the columns {', '.join(missing)}")
    cols = {c: table.column(c).combine_chunks() for c in HISTORY_COLUMNS}
    out = pa.table(
        {
            "entity_id": _as_string(cols["entity_id"], "entity_id"),
            "event_timestamp": _as_timestamp(cols["event_timestamp"], "event_timestamp"),
            "value": _as_value(cols["value"]),
            "transformed": _as_transformed(cols["transformed"]),
            "version": _as_string(cols["version"], "version"),
            "ingested_at": _as_timestamp(cols["ingested_at"], "ingested_at"),
        }
    )
    for c in ("entity_id", "event_timestamp", "ingested_at"):
        if out.column(c).null_count:
            raise ValidationError(f"history column {c!r} has nulls")
    return out.sort_by(SORT_KEYS) if out.num_rows > 1 else out


def _micros(value: datetime) -> int:
    dt = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _from_micros(micros: int | None) -> datetime | None:
    return None if micros is None else _EPOCH + timedelta(microseconds=micros)


# -- segments -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Group:
    rows: int
    id_min: str
    id_max: str
    ts_min: int
    ts_max: int


@dataclass(frozen=True, slots=True)
class _Segment:
    """What a segment's footer says; files are immutable, so this is cached by name."""

    name: str
    path: Path
    rows: int
    value_type: pa.DataType
    transformed_type: pa.DataType
    sorted: bool
    sources: tuple[str, ...]
    groups: tuple[_Group, ...] | None

    def row_groups(self, ids: list[str] | None, lo: int | None, hi: int | None) -> list[int] | None:
        """Row groups that may hold matching rows (None: all)."""
        if self.groups is None or (ids is None and lo is None and hi is None):
            return None
        keep = []
        for i, g in enumerate(self.groups):
            if lo is not None and g.ts_max < lo:
                continue
            if hi is not None and g.ts_min > hi:
                continue
            if ids is not None:
                j = bisect.bisect_left(ids, g.id_min)
                if j == len(ids) or ids[j] > g.id_max:
                    continue
            keep.append(i)
        return keep


def _read_segment(path: Path) -> _Segment:
    md = pq.read_metadata(path)
    schema = md.schema.to_arrow_schema()
    info = json.loads((md.metadata or {}).get(META_KEY, b"{}"))
    groups = info.get("groups")
    if groups is not None and len(groups) != md.num_row_groups:
        groups = None
    return _Segment(
        name=path.name,
        path=path,
        rows=md.num_rows,
        value_type=schema.field("value").type,
        transformed_type=schema.field("transformed").type,
        sorted=bool(info.get("sorted")),
        sources=tuple(info.get("sources", ())),
        groups=None if groups is None else tuple(_Group(*g) for g in groups),
    )


def _new_name() -> str:
    return f"{time.time_ns():020d}-{secrets.token_hex(6)}.parquet"


def _write_segment(directory: Path, table: pa.Table, sources: Sequence[str] = ()) -> _Segment:
    """Write a normalised, sorted table as a new segment (atomically)."""
    groups = []
    for off in range(0, table.num_rows, ROW_GROUP_ROWS):
        part = table.slice(off, ROW_GROUP_ROWS)
        ids = part.column("entity_id")
        ts = pc.min_max(part.column("event_timestamp").cast(pa.int64()))
        groups.append([part.num_rows, ids[0].as_py(), ids[-1].as_py(), ts["min"].as_py(), ts["max"].as_py()])
    info = {"sorted": True, "groups": groups, "sources": list(sources)}
    value = table.schema.field("value").type
    schema = table.schema.with_metadata({META_KEY: json.dumps(info).encode()})
    table = table.replace_schema_metadata(schema.metadata)
    name = _new_name()
    tmp = directory / f"{name}.tmp"
    try:
        with tmp.open("wb") as f:
            writer = pq.ParquetWriter(
                f,
                schema,
                compression=COMPRESSION,
                # dictionaries where values repeat; delta encoding for the (sorted) times
                use_dictionary=["entity_id", "version"] + (["value"] if pa.types.is_string(value) else []),
                column_encoding={
                    "event_timestamp": "DELTA_BINARY_PACKED",
                    "ingested_at": "DELTA_BINARY_PACKED",
                },
            )
            for off in range(0, table.num_rows, ROW_GROUP_ROWS):
                writer.write_table(table.slice(off, ROW_GROUP_ROWS), row_group_size=ROW_GROUP_ROWS)
            writer.close()
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(directory / name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return _Segment(
        name=name,
        path=directory / name,
        rows=table.num_rows,
        value_type=table.schema.field("value").type,
        transformed_type=table.schema.field("transformed").type,
        sorted=True,
        sources=tuple(sources),
        groups=tuple(_Group(*g) for g in groups),
    )


def _retrying(read: Callable[[], T]) -> T:
    """Run ``read`` (which lists the segments itself) again when a listed file vanished."""
    for _ in range(READ_ATTEMPTS - 1):
        try:
            return read()
        except FileNotFoundError:
            time.sleep(0.001)
    try:
        return read()
    except FileNotFoundError as exc:
        raise StoreUnavailableError(f"offline segments keep vanishing: {exc}", store="offline") from exc


class DuckDBOfflineStore:
    """The offline history as a Parquet dataset (see the module docstring)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = url_path(url)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._meta: dict[str, dict[str, _Segment]] = {}
        self._con_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def open(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailableError(f"cannot create {self.path}: {exc}", store="offline") from exc

    async def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    def _pool(self) -> ThreadPoolExecutor:
        # kept for the store's life: new threads per join would each grow new allocator heaps
        with self._con_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(PIT_THREADS, thread_name_prefix="fstore-pit")
            return self._executor

    async def ping(self) -> dict[str, Any]:
        if not self.path.is_dir():
            raise StoreUnavailableError(f"offline store directory {self.path} is missing", store="offline")
        import duckdb

        return {"backend": "duckdb", "version": duckdb.__version__, "path": str(self.path)}

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        # connected on first use: only statistics need it, and DuckDB costs ~40 MB of RSS
        if self._con is None:
            import duckdb

            with self._con_lock:
                if self._con is None:
                    self._con = duckdb.connect()
        return self._con.cursor()

    # -- segments -------------------------------------------------------------------------------

    def _dir(self, feature_id: str) -> Path:
        if not isinstance(feature_id, str) or not NAME_PATTERN.match(feature_id):
            raise ValidationError(f"feature id {feature_id!r} is not a valid identifier")
        return self.path / feature_id

    def _all_segments(self, feature_id: str) -> list[_Segment]:
        """Every segment file in the feature's directory (replaced ones included)."""
        directory = self._dir(feature_id)
        try:
            names = sorted(e.name for e in os.scandir(directory) if e.name.endswith(".parquet"))
        except FileNotFoundError:
            return []
        cache = self._meta.setdefault(feature_id, {})
        out = []
        for name in names:
            seg = cache.get(name)
            if seg is None:
                # FileNotFoundError: compacted away since the listing, and the merged segment
                # may be missing from it: callers list again (_retrying)
                seg = cache[name] = _read_segment(directory / name)
            out.append(seg)
        if len(cache) > len(out) + 64:
            for name in set(cache) - set(names):
                cache.pop(name, None)
        return out

    def _segments(self, feature_id: str) -> list[_Segment]:
        """The live segments: those no other segment present says it replaces."""
        segs = self._all_segments(feature_id)
        replaced = {s for seg in segs for s in seg.sources}
        return [s for s in segs if s.name not in replaced] if replaced else segs

    def _load(
        self,
        feature_id: str,
        columns: Sequence[str] = HISTORY_COLUMNS,
        entity_ids: Sequence[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        sort: bool = False,
    ) -> pa.Table:
        """The rows in range (``columns`` only, in unified types), sorted by entity, event
        time, ingestion time when ``sort``; an empty table when the feature has no rows.

        String columns stay dictionary-encoded (cheap to read, filter and take): ``_decode``
        the result once it is cut down."""
        ids = None if entity_ids is None else sorted({str(e) for e in entity_ids})
        lo = None if start is None else _micros(start)
        hi = None if end is None else _micros(end)
        need = list(columns)
        if sort:
            need += [c for c in ("entity_id", "event_timestamp", "ingested_at") if c not in need]
        if ids is not None:
            need += [] if "entity_id" in need else ["entity_id"]
        if lo is not None or hi is not None:
            need += [] if "event_timestamp" in need else ["event_timestamp"]

        def read() -> pa.Table:
            segs = self._segments(feature_id)
            full = _history_schema(
                _unify([s.value_type for s in segs]), _unify([s.transformed_type for s in segs])
            )
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
            if sort and (len(pieces) > 1 or unsorted):
                dictionary, codes = _entity_codes(table.column("entity_id"))
                order = _group_time_order(
                    _string_ranks(dictionary)[codes],
                    _micros_of(table.column("event_timestamp")),
                    len(dictionary),
                    _micros_of(table.column("ingested_at")),
                )
                table = table.take(order)
            return table

        table = _retrying(read)
        return table.select(list(columns))

    # -- writing --------------------------------------------------------------------------------

    async def append(self, feature_id: str, table: pa.Table) -> int:
        directory = self._dir(feature_id)
        if not isinstance(table, pa.Table):
            raise ValidationError("append takes an Arrow table with the history columns")
        if table.num_rows == 0:
            _normalise(table)  # still reject a table without the history columns
            return 0
        return await asyncio.to_thread(self._append, directory, feature_id, table)

    def _append(self, directory: Path, feature_id: str, table: pa.Table) -> int:
        data = _normalise(table)
        directory.mkdir(parents=True, exist_ok=True)
        seg = _write_segment(directory, data)
        self._meta.setdefault(feature_id, {})[seg.name] = seg
        if len(_retrying(partial(self._segments, feature_id))) > MAX_SEGMENTS:
            self._compact(feature_id)
        return data.num_rows

    def compact(self, feature_id: str, everything: bool = False) -> bool:
        """Merge segments now (all of them with ``everything``); False if another process is
        compacting this feature. Blocking: call it from a worker thread."""
        return self._compact(feature_id, everything)

    def _compact(self, feature_id: str, everything: bool = False) -> bool:
        directory = self._dir(feature_id)
        try:
            lock = (directory / ".lock").open("a")
        except FileNotFoundError:
            return False
        with lock:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # another process is at it
            try:
                self._collect_garbage(feature_id, directory)
                segs = _retrying(partial(self._segments, feature_id))
                chosen = segs if everything else _choose(segs)
                if len(chosen) < 2:
                    return True
                names = [s.name for s in chosen]
                table = _retrying(lambda: _read_whole(chosen))
                merged = _write_segment(directory, table.sort_by(SORT_KEYS), sources=names)
                self._meta.setdefault(feature_id, {})[merged.name] = merged
                for name in names:
                    (directory / name).unlink(missing_ok=True)
                return True
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _collect_garbage(self, feature_id: str, directory: Path) -> None:
        """Delete segments a present segment replaces (left by a crashed compaction) and old
        temporary files (left by a crashed writer). Runs under the compaction lock."""
        segs = _retrying(partial(self._all_segments, feature_id))
        present = {s.name for s in segs}
        for name in {s for seg in segs for s in seg.sources} & present:
            (directory / name).unlink(missing_ok=True)
        cutoff = time.time() - STALE_TMP_SECONDS
        for entry in os.scandir(directory):
            if entry.name.endswith(".tmp"):
                with contextlib.suppress(FileNotFoundError):
                    if entry.stat().st_mtime < cutoff:
                        Path(entry.path).unlink(missing_ok=True)

    async def delete_feature(self, feature_id: str) -> None:
        directory = self._dir(feature_id)
        self._meta.pop(feature_id, None)
        await asyncio.to_thread(shutil.rmtree, directory, True)

    # -- reading --------------------------------------------------------------------------------

    async def history(
        self,
        feature_id: str,
        entity_ids: Sequence[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int | None = None,
    ) -> pa.Table:
        if limit is not None and limit < 0:
            raise ValidationError("limit must not be negative")
        self._dir(feature_id)

        def run() -> pa.Table:
            table = self._load(feature_id, HISTORY_COLUMNS, entity_ids, start, end, sort=True)
            return _decode(table if limit is None else table.slice(0, limit))

        return await asyncio.to_thread(run)

    async def latest(
        self,
        feature_id: str,
        entity_ids: Sequence[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pa.Table:
        self._dir(feature_id)

        def run() -> pa.Table:
            table = self._load(feature_id, HISTORY_COLUMNS, entity_ids, start, end, sort=True)
            if table.num_rows > 1:  # the last row of each entity's run
                _, codes = _entity_codes(table.column("entity_id"))
                last = np.ones(table.num_rows, dtype=bool)
                np.not_equal(codes[1:], codes[:-1], out=last[:-1])
                table = table.filter(pa.array(last))
            return _decode(table)

        return await asyncio.to_thread(run)

    async def values(self, feature_id: str, as_of: datetime | None = None) -> pa.Array:
        self._dir(feature_id)

        def run() -> pa.Array:
            column = _decode(self._load(feature_id, ["value"], end=as_of)).column("value")
            return column.combine_chunks()

        return await asyncio.to_thread(run)

    async def statistics(
        self, feature_id: str, numerical: bool, start: datetime | None = None, end: datetime | None = None
    ) -> dict[str, Any]:
        self._dir(feature_id)
        return await asyncio.to_thread(self._statistics, feature_id, numerical, start, end)

    def _statistics(
        self, feature_id: str, numerical: bool, start: datetime | None, end: datetime | None
    ) -> dict[str, Any]:
        h = _decode(self._load(feature_id, ["value", "event_timestamp"], start=start, end=end))
        if pa.types.is_null(h.schema.field("value").type):
            h = h.set_column(0, "value", pa.nulls(h.num_rows, pa.float64() if numerical else pa.string()))
        cur = self._cursor()
        try:
            cur.register("h", h)
            count, nulls, distinct, first_us, last_us = cur.execute(sql.COUNTS).fetchone()  # type: ignore[misc]
            out: dict[str, Any] = {
                "count": int(count),
                "nulls": int(nulls),
                "distinct": int(distinct),
                "first_event": _from_micros(first_us),
                "last_event": _from_micros(last_us),
            }
            if numerical:
                if pa.types.is_string(h.schema.field("value").type):
                    raise ValidationError(f"feature {feature_id!r} holds strings: no numerical statistics")
                mean, std, lo, hi, qs = cur.execute(sql.NUMERICAL).fetchone()  # type: ignore[misc]
                out.update(
                    mean=mean,
                    std=std,
                    min=lo,
                    max=hi,
                    quantiles={} if qs is None else dict(zip(sql.QUANTILES, map(float, qs), strict=True)),
                )
            else:
                rows = cur.execute(sql.TOP_CATEGORIES).fetchall()
                out["top_categories"] = [{"value": v, "count": int(c)} for v, c in rows]
            return out
        finally:
            cur.close()

    # -- point-in-time join -----------------------------------------------------------------------

    async def point_in_time(
        self, entity_rows: pa.Table, timestamp_column: str, requests: Sequence[PitRequest]
    ) -> pa.Table:
        if not isinstance(entity_rows, pa.Table):
            raise ValidationError("entity rows must be an Arrow table")
        names = set(entity_rows.column_names)
        if timestamp_column not in names:
            raise ValidationError(f"the entity rows have no timestamp column {timestamp_column!r}")
        outputs: set[str] = set()
        for req in requests:
            self._dir(req.feature_id)
            if req.join_key not in names:
                raise ValidationError(f"the entity rows have no join key column {req.join_key!r}")
            if req.output in names or req.output in outputs:
                raise ValidationError(f"output column {req.output!r} would appear twice")
            if req.ttl_seconds is not None and req.ttl_seconds < 0:
                raise ValidationError("ttl_seconds must not be negative")
            outputs.add(req.output)
        return await asyncio.to_thread(self._point_in_time, entity_rows, timestamp_column, requests)

    def _point_in_time(
        self, entity_rows: pa.Table, timestamp_column: str, requests: Sequence[PitRequest]
    ) -> pa.Table:
        rts, rts_valid = _row_micros(entity_rows.column(timestamp_column))
        keys = {
            k: _sorted_rows(entity_rows.column(k), rts, rts_valid)
            for k in dict.fromkeys(r.join_key for r in requests)
        }

        def join(req: PitRequest) -> pa.Array:
            ttl_us = None if req.ttl_seconds is None else req.ttl_seconds * 1_000_000
            column = _retrying(partial(self._join_one, req.feature_id, keys[req.join_key], ttl_us))
            pa.default_memory_pool().release_unused()  # keeps peak RSS down (mimalloc holds on)
            return column

        if len(requests) > 1 and PIT_THREADS > 1:
            columns = list(self._pool().map(join, requests))
        else:
            columns = [join(r) for r in requests]
        out = entity_rows
        for req, column in zip(requests, columns, strict=True):
            out = out.append_column(req.output, column)
        _trim_heap()
        return out

    def _join_one(self, feature_id: str, rows: _Rows, ttl_us: int | None) -> pa.Array:
        """One feature's column: per row, the newest value at or before the row's time.

        History and entity rows are both sorted by (entity id, time), so one int64 key
        ``run * span + time`` orders both and a binary search finds each row's newest
        value at or before its time; the value belongs to the row's entity when its position
        is not before the entity's first history row.
        """
        n = len(rows.order)
        segs = [s for s in self._segments(feature_id) if s.rows]
        value_type = _unify([s.value_type for s in segs])
        hist = _pit_history(segs, value_type) if segs else None
        if hist is None:
            return pa.nulls(n, value_type)
        dictionary, hcodes, hts, values, order = hist
        # runs of one entity each, in entity id order; times ascending within a run
        m = len(hcodes)
        change = np.empty(m, dtype=bool)
        change[0] = True
        np.not_equal(hcodes[1:], hcodes[:-1], out=change[1:])
        starts = np.flatnonzero(change)
        code_to_run = np.full(len(dictionary), -1, dtype=np.int64)
        code_to_run[hcodes[starts]] = np.arange(len(starts), dtype=np.int64)
        in_dict = pc.index_in(rows.uniq, value_set=dictionary).fill_null(-1).to_numpy().astype(np.int64)
        uniq_run = np.append(np.where(in_dict >= 0, code_to_run[in_dict], -1), -1)  # last: null keys
        row_run = uniq_run[rows.codes]
        sel = np.flatnonzero((row_run >= 0) & rows.valid)  # sorted positions with a candidate
        indices = np.zeros(n, dtype=np.int64)
        matched = np.zeros(n, dtype=bool)
        if len(sel):
            q_run, q_ts = row_run[sel], rows.ts[sel]
            key = np.repeat(np.arange(len(starts), dtype=np.int64), np.diff(starts, append=m))
            tmin, tmax = int(hts.min()), int(hts.max())
            span = tmax - tmin + 2
            if len(starts) * span < 2**62:
                key *= span
                key += hts
                key -= tmin - 1
                qkey = np.clip(q_ts, tmin - 1, tmax)
                qkey -= tmin - 1
            else:  # times too spread for one int64 key: rank them
                uts = np.unique(hts)
                span = len(uts) + 2
                key *= span
                key += np.searchsorted(uts, hts) + 1
                qkey = np.searchsorted(uts, q_ts, side="right")
            qkey += q_run * span
            if np.all(qkey[1:] >= qkey[:-1]):  # always, as both sides sort by entity id, time
                pos = np.searchsorted(key, qkey, side="right")
            else:
                sort = np.argsort(qkey)
                pos = np.empty(len(sel), dtype=np.int64)
                pos[sort] = np.searchsorted(key, qkey[sort], side="right")
            pos -= 1
            ok = pos >= starts[q_run]  # else the newest row at or before is another entity's
            if ttl_us is not None:
                pos[~ok] = 0
                ok &= q_ts - hts[pos] <= ttl_us
            hit = rows.order[sel[ok]]
            indices[hit] = pos[ok] if order is None else order[pos[ok]]
            matched[hit] = True
        if values.null_count == 0 and values.type in (pa.float64(), pa.int64()):
            return pa.array(values.to_numpy()[indices], mask=~matched)  # faster than Arrow's take
        taken = values.take(pa.array(indices, mask=~matched))
        return taken.dictionary_decode() if pa.types.is_dictionary(taken.type) else taken


@dataclass(frozen=True, slots=True)
class _Rows:
    """The entity rows for one join key, sorted by (key, time)."""

    uniq: pa.Array  # the distinct keys, as strings
    codes: np.ndarray  # per sorted row: its key's position in ``uniq`` (len(uniq) if null)
    ts: np.ndarray  # per sorted row: its time in µs
    valid: np.ndarray  # per sorted row: has a time
    order: np.ndarray  # per sorted row: its position in the input


def _trim_heap() -> None:
    """Give the C heap's free memory back to the OS after a join: its many short-lived
    arrays otherwise leave each call's peak RSS above the last one's (glibc only)."""
    global _MALLOC_TRIM
    if _MALLOC_TRIM is None:
        try:
            _MALLOC_TRIM = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _MALLOC_TRIM = False
    if _MALLOC_TRIM:
        _MALLOC_TRIM(0)


_MALLOC_TRIM: Any = None


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
        encoded = _cast(column, pa.string()).dictionary_encode()
        return encoded if isinstance(encoded, pa.ChunkedArray) else pa.chunked_array([encoded])
    out = _cast(column, target)
    return out if isinstance(out, pa.ChunkedArray) else pa.chunked_array([out])


def _decode(table: pa.Table) -> pa.Table:
    """Dictionary-encoded columns back to their value types."""
    for i, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(field.type.value_type))
    return table


def _entity_codes(column: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
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


def _string_ranks(dictionary: pa.Array) -> np.ndarray:
    """Each dictionary entry's position in sorted order."""
    rank = np.empty(len(dictionary), dtype=np.int64)
    rank[pc.sort_indices(dictionary).to_numpy()] = np.arange(len(dictionary), dtype=np.int64)
    return rank


def _micros_of(column: pa.ChunkedArray) -> np.ndarray:
    return column.cast(pa.int64()).to_numpy()


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


def _read_whole(segs: Sequence[_Segment]) -> pa.Table:
    schema = _history_schema(_unify([s.value_type for s in segs]), _unify([s.transformed_type for s in segs]))
    pieces = []
    for seg in segs:
        t = pq.ParquetFile(seg.path).read(columns=list(HISTORY_COLUMNS))
        pieces.append(pa.table([_cast(t.column(c), schema.field(c).type) for c in HISTORY_COLUMNS], schema))
    return pa.concat_tables(pieces)


def _choose(segs: Sequence[_Segment]) -> list[_Segment]:
    """The segments to merge: the smallest ones, enough to get down to TARGET_SEGMENTS, plus
    each next-smallest one no bigger than those chosen so far (so rows are rewritten about
    log(n) times, and a big segment is not rewritten for a few small ones)."""
    if len(segs) <= MAX_SEGMENTS:
        return []
    by_size = sorted(segs, key=lambda s: (s.rows, s.name))
    k = len(segs) - TARGET_SEGMENTS + 1
    chosen = by_size[:k]
    total = sum(s.rows for s in chosen)
    for seg in by_size[k:]:
        if seg.rows > total:
            break
        chosen.append(seg)
        total += seg.rows
    return chosen


def _row_micros(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """The entity rows' times as UTC microseconds (a zone-less time is taken as UTC)."""
    arr = column.combine_chunks()
    t = arr.type
    if pa.types.is_timestamp(t):
        arr = pc.cast(arr, pa.timestamp("us", tz=t.tz), safe=False)
    elif pa.types.is_date(t):
        arr = arr.cast(pa.timestamp("us"))
    else:
        raise ValidationError(f"the entity rows' timestamp column must hold timestamps, got {t}")
    micros = arr.cast(pa.int64())
    valid = micros.is_valid().to_numpy(zero_copy_only=False)
    return micros.fill_null(0).to_numpy(zero_copy_only=False), valid


def _sorted_rows(column: pa.ChunkedArray, rts: np.ndarray, rts_valid: np.ndarray) -> _Rows:
    arr = column.combine_chunks()
    if not pa.types.is_dictionary(arr.type):
        if not (_string_like(arr.type) or pa.types.is_integer(arr.type) or pa.types.is_null(arr.type)):
            raise ValidationError(f"join keys must be strings or integers, got {arr.type}")
        arr = arr.dictionary_encode()
    uniq = _as_string(arr.dictionary, "join key")
    codes = arr.indices.fill_null(len(uniq)).to_numpy(zero_copy_only=False).astype(np.int64)
    rank = np.append(_string_ranks(uniq), len(uniq))  # null keys last
    order = _group_time_order(rank[codes], rts, len(uniq) + 1, None)
    return _Rows(uniq, codes[order], rts[order], rts_valid[order], order)


def _group_time_order(
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


def _pit_history(
    segs: Sequence[_Segment], value_type: pa.DataType
) -> tuple[pa.Array, np.ndarray, np.ndarray, pa.Array, np.ndarray | None] | None:
    """A feature's rows for the join: entity codes into ``dictionary``, event times (µs) and
    values (dictionary-encoded when strings), sorted by entity id (as strings), time and
    ingestion time, and the permutation ``order`` from storage to that order (None when
    storage is already so: one segment, which is written sorted)."""
    multi = len(segs) > 1 or not segs[0].sorted
    columns = ["entity_id", "event_timestamp", "value"] + (["ingested_at"] if multi else [])
    strings = pa.types.is_string(value_type)
    dictionary_columns = ["entity_id", "value"] if strings else ["entity_id"]
    ids, ts, vals, ing = [], [], [], []
    for seg in segs:
        pf = pq.ParquetFile(seg.path, read_dictionary=dictionary_columns)
        t = pf.read(columns=columns, use_threads=False)
        if not t.num_rows:
            continue
        ids.append(t.column("entity_id"))
        ts.append(t.column("event_timestamp").cast(pa.int64()).to_numpy())
        value = t.column("value")
        if not strings:
            value = _cast(value, value_type)
        elif not pa.types.is_dictionary(value.type):
            value = _cast(value, pa.string()).dictionary_encode()
        vals.append(value if isinstance(value, pa.ChunkedArray) else pa.chunked_array([value]))
        if multi:
            ing.append(t.column("ingested_at").cast(pa.int64()).to_numpy())
    if not ids:
        return None
    dictionary, codes = _entity_codes(pa.chunked_array([c for col in ids for c in col.chunks]))
    hts = np.concatenate(ts) if len(ts) > 1 else ts[0]
    chunks = [c for col in vals for c in col.chunks]
    values = pa.chunked_array(chunks)
    if strings:
        values = values.unify_dictionaries()
    values = values.combine_chunks()
    order = None
    if multi:  # sort by (entity id, time, ingestion time), entity ids in string order
        order = _group_time_order(_string_ranks(dictionary)[codes], hts, len(dictionary), np.concatenate(ing))
        codes, hts = codes[order], hts[order]
    return dictionary, codes, hts, values, order
