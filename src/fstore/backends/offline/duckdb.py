"""Embedded offline store: a Parquet dataset, one directory per feature, queried in process.

The store is spread over modules with one job each:

* ``segments``: the segment files (layout, atomic writes, listing, compaction under flock,
  garbage collection) — any number of processes append and read at the same time;
* ``schema``: the history columns' stored types (normalising appends, unifying segments);
* ``scan``: reading rows out of segments, sorted by (entity, event time, ingestion time);
* ``pit``: the vectorised point-in-time join;
* this module: the ``OfflineStore`` protocol over them, and statistics.

Latest per entity is the last row of each sorted run: ~5 ms for 10,000 entities (DuckDB:
~21 ms with a window, ~8 ms for arg_max of one column). Statistics run in an in-memory
DuckDB connection over the Arrow rows (quantiles, top-k, SQL in ``duckdb_sql``); it is
connected on first use.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from fstore.backends import url_path
from fstore.backends.offline import duckdb_sql as sql
from fstore.backends.offline.audit_sqlite import SqliteAuditLog
from fstore.backends.offline.base import (
    HISTORY_COLUMNS,
    LATEST_COLUMNS,
    PitRequest,
    validate_limit,
    validate_pit,
)
from fstore.backends.offline.pit import PIT_THREADS, point_in_time_join
from fstore.backends.offline.repairs_sqlite import SqliteRepairs
from fstore.backends.offline.scan import decode, entity_codes, load
from fstore.backends.offline.schema import from_micros, normalise
from fstore.backends.offline.segments import MAX_SEGMENTS, Segment, SegmentCatalog, retrying
from fstore.errors import StoreUnavailableError, ValidationError

if TYPE_CHECKING:
    import duckdb


class DuckDBOfflineStore(SqliteRepairs):
    """The offline history as a Parquet dataset (see the module docstring)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = url_path(url)
        self._catalog = SegmentCatalog(self.path)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._con_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._audit = SqliteAuditLog(self.path / "audit.db")

    # -- lifecycle ------------------------------------------------------------------------------

    async def open(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailableError(f"cannot create {self.path}: {exc}", store="offline") from exc

    async def close(self) -> None:
        self._audit.close()
        self._close_repairs()
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

    # -- audit log ------------------------------------------------------------------------------

    async def append_audit(self, records: Sequence[dict[str, Any]]) -> None:
        await self._audit.append(records)

    async def list_audit(
        self, limit: int = 100, actor: str | None = None, since: datetime | None = None
    ) -> list[dict[str, Any]]:
        return await self._audit.list_records(limit, actor, since)

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
        """The feature's directory; raises ValidationError for an id that is not a name."""
        return self._catalog.directory(feature_id)

    def _segments(self, feature_id: str) -> list[Segment]:
        """The live segments: those no other segment present says it replaces."""
        return self._catalog.live_segments(feature_id)

    def _load(
        self,
        feature_id: str,
        columns: Sequence[str] = HISTORY_COLUMNS,
        entity_ids: Sequence[str] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        sort: bool = False,
    ) -> pa.Table:
        """The feature's rows in range, string columns dictionary-encoded (see ``scan.load``)."""
        return load(partial(self._segments, feature_id), columns, entity_ids, start, end, sort)

    # -- writing --------------------------------------------------------------------------------

    async def append(self, feature_id: str, table: pa.Table) -> int:
        self._dir(feature_id)
        if not isinstance(table, pa.Table):
            raise ValidationError("append takes an Arrow table with the history columns")
        if table.num_rows == 0:
            normalise(table)  # still reject a table without the history columns
            return 0
        return await asyncio.to_thread(self._append, feature_id, table)

    def _append(self, feature_id: str, table: pa.Table) -> int:
        data = normalise(table)
        self._catalog.append(feature_id, data)
        if len(retrying(partial(self._segments, feature_id))) > MAX_SEGMENTS:
            self._catalog.compact(feature_id)
        return data.num_rows

    def compact(self, feature_id: str, everything: bool = False) -> bool:
        """Merge segments now (all of them with ``everything``); False if another process is
        compacting this feature. Blocking: call it from a worker thread."""
        return self._catalog.compact(feature_id, everything)

    async def delete_feature(self, feature_id: str) -> None:
        directory = self._dir(feature_id)
        self._catalog.forget(feature_id)
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
        validate_limit(limit)
        self._dir(feature_id)

        def run() -> pa.Table:
            table = self._load(feature_id, HISTORY_COLUMNS, entity_ids, start, end, sort=True)
            return decode(table if limit is None else table.slice(0, limit))

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
            table = self._load(feature_id, LATEST_COLUMNS, entity_ids, start, end, sort=True)
            if table.num_rows > 1:  # the last row of each entity's run
                _, codes = entity_codes(table.column("entity_id"))
                last = np.ones(table.num_rows, dtype=bool)
                np.not_equal(codes[1:], codes[:-1], out=last[:-1])
                table = table.filter(pa.array(last))
            return decode(table)

        return await asyncio.to_thread(run)

    async def values(self, feature_id: str, as_of: datetime | None = None) -> pa.Array:
        self._dir(feature_id)

        def run() -> pa.Array:
            column = decode(self._load(feature_id, ["value"], end=as_of)).column("value")
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
        h = decode(self._load(feature_id, ["value", "event_timestamp"], start=start, end=end))
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
                "first_event": from_micros(first_us),
                "last_event": from_micros(last_us),
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
        validate_pit(entity_rows, timestamp_column, requests)
        for req in requests:
            self._dir(req.feature_id)
        return await asyncio.to_thread(
            point_in_time_join, entity_rows, timestamp_column, requests, self._segments, self._pool
        )
