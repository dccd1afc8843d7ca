"""The embedded online store: SQLite, one row per entity holding all its features.

Schema (version 1, ``PRAGMA user_version``):

* ``online_values(key TEXT PRIMARY KEY, doc BLOB) WITHOUT ROWID``: ``key`` is
  ``"{entity}:{entity_id}"``, ``doc`` is ``orjson.dumps({feature_id: [event_ts_us, value,
  transformed, version], ...})``;
* ``online_meta(key TEXT PRIMARY KEY, doc BLOB) WITHOUT ROWID``: cached feature metadata
  (``feature:{feature_id}``) and fitted transformers (``transformer:{feature_id}:{version}``).

A row per entity because reads ask for several features of a few or many entities: 100
entities × 6 features is one query and 100 small JSON parses, where a row per
(feature, entity) costs 600 index seeks and 600 Python rows (~1 ms).

Reading many keys is one statement whatever their number: the keys go in as one JSON array
joined through ``json_each`` (faster than an ``IN`` list of 100 parameters, and it returns
the rows in the order asked). A SQLite built without JSON falls back to ``IN`` lists of at
most ``CHUNK`` parameters.

Writing one feature for many entities (an ingested batch) merges inside SQLite: one UPSERT
per entity whose ``DO UPDATE`` replaces the feature's record with ``json_set`` only where the
stored one is older, so no document crosses into Python (~40 % faster than parsing and
re-serialising 10,000 documents). Writes of several features per entity (materialisation) merge in Python.

Values are stored as JSON: NaN and infinities become ``null``; numpy scalars and arrays are
converted to plain numbers and lists.
"""

from __future__ import annotations

import gc
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import repeat
from operator import itemgetter
from typing import Any

import orjson

from fstore.backends.online.base import OnlineRecord, OnlineWrite
from fstore.backends.online.encoding import ORJSON_OPTIONS, to_plain
from fstore.backends.sqlite_common import (
    connect,
    migrate,
    not_open,
    ping_info,
    sqlite_path,
    unavailable,
    write_transaction,
)

STORE = "sqlite online"
CHUNK = 500  # keys per IN-list when SQLite has no json_each
CACHE_KIB = 65_536

_READ_ONE = "SELECT doc FROM online_values WHERE key = ?"
_READ_IDS = "SELECT o.doc FROM json_each(?1) AS j LEFT JOIN online_values AS o ON o.key = ?2 || j.value"
_READ_JSON = "SELECT o.doc FROM json_each(?) AS j LEFT JOIN online_values AS o ON o.key = j.value"
_UPSERT = (
    "INSERT INTO online_values (key, doc) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET doc = excluded.doc"
)
# One feature's record into an entity's document, last write wins by event time (?4 the
# record's path, ?5 its event time's path, ?6 the event time); an equal time replaces the
# stored record unless it is the same record.
_UPSERT_FEATURE = """
INSERT INTO online_values (key, doc) VALUES (?1, CAST(json_object(?2, json(?3)) AS BLOB))
ON CONFLICT (key) DO UPDATE SET doc = CAST(json_set(CAST(doc AS TEXT), ?4, json(?3)) AS BLOB)
WHERE json_extract(CAST(doc AS TEXT), ?5) IS NULL
   OR json_extract(CAST(doc AS TEXT), ?5) < ?6
   OR (json_extract(CAST(doc AS TEXT), ?5) = ?6 AND json_extract(CAST(doc AS TEXT), ?4) != json(?3))
"""
_DELETE_KEY = "DELETE FROM online_values WHERE key = ?"
_RANGE = "SELECT key, doc FROM online_values WHERE key >= ? AND key < ?"
_META_GET = "SELECT doc FROM online_meta WHERE key = ?"
_META_PUT = (
    "INSERT INTO online_meta (key, doc) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET doc = excluded.doc"
)
_META_DELETE_RANGE = "DELETE FROM online_meta WHERE key >= ? AND key < ?"


def _schema_v1(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS online_values (key TEXT PRIMARY KEY, doc BLOB NOT NULL) WITHOUT ROWID"
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS online_meta (key TEXT PRIMARY KEY, doc BLOB NOT NULL) WITHOUT ROWID"
    )


MIGRATIONS = [_schema_v1]


# Writes of at least this many values run with the cyclic GC paused: building tens of
# thousands of short-lived records otherwise triggers collections that cost more than the
# write itself. The records are freed by reference counting when the write returns.
_GC_PAUSE_VALUES = 2_000


@contextmanager
def _gc_paused(pause: bool) -> Iterator[None]:
    if not pause or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _dumps(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc, default=to_plain, option=ORJSON_OPTIONS)


def _records(w: OnlineWrite) -> Iterator[tuple[Any, ...]]:
    return zip(w.event_ts, w.values, w.transformed, repeat(w.version, len(w.entity_ids)), strict=True)


def _newest_per_entity(writes: Sequence[OnlineWrite]) -> dict[Any, dict[str, tuple[Any, ...]]]:
    """``{entity id: {feature id: record}}`` keeping the newest record of each pair."""
    if writes:
        ids = list(writes[0].entity_ids)
        # Fast path (materialisation): every write covers the same distinct ids in the same
        # order, so the docs are built column-wise with no per-value comparisons.
        if all(list(w.entity_ids) == ids for w in writes[1:]) and len(set(ids)) == len(ids):
            if len(writes) == 1:  # one feature (an API batch): no per-entity zip of records
                fid = writes[0].feature_id
                return {eid: {fid: rec} for eid, rec in zip(ids, _records(writes[0]), strict=True)}
            fids = [w.feature_id for w in writes]
            rows = zip(*map(_records, writes), strict=True)
            return {eid: dict(zip(fids, recs, strict=True)) for eid, recs in zip(ids, rows, strict=True)}
    batch: dict[Any, dict[str, tuple[Any, ...]]] = {}
    for w in writes:
        fid = w.feature_id
        for eid, record in zip(w.entity_ids, _records(w), strict=True):
            doc = batch.get(eid)
            if doc is None:
                batch[eid] = {fid: record}
            else:
                current = doc.get(fid)
                if current is None or record[0] >= current[0]:
                    doc[fid] = record
    return batch


class SQLiteOnlineStore:
    """``OnlineStore`` on a SQLite file (``sqlite:///relative.db`` or ``sqlite:////abs.db``).

    Several processes may share the file (WAL, ``BEGIN IMMEDIATE`` writes, busy timeout);
    last-write-wins by event time is decided inside the write transaction, so concurrent
    writers cannot overwrite a newer value with an older one.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._in_sql: dict[int, str] = {}
        self._json_each = True  # probed on open(); chunked IN-lists without it

    async def open(self) -> None:
        if self._conn is not None:
            return
        conn = connect(self.path, STORE)
        try:
            migrate(conn, STORE, MIGRATIONS)
            # A larger page cache keeps a 10,000-entity write from spilling mid-transaction
            # (the cache grows only as pages are used).
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        except BaseException:
            conn.close()
            raise
        try:
            conn.execute("SELECT json_each.value FROM json_each('[]')").fetchall()
        except sqlite3.OperationalError:  # SQLite built without JSON
            self._json_each = False
        self._conn = conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _select_in(self, n: int) -> str:
        sql = self._in_sql.get(n)
        if sql is None:
            marks = ",".join("?" * n)
            sql = self._in_sql[n] = f"SELECT key, doc FROM online_values WHERE key IN ({marks})"
        return sql

    # -- values -------------------------------------------------------------------------------

    async def read(
        self, entity: str, entity_ids: Sequence[str], feature_ids: Sequence[str]
    ) -> list[list[OnlineRecord | None]]:
        conn = self._conn
        if conn is None:
            raise not_open(STORE)
        loads = orjson.loads
        nf = len(feature_ids)
        try:
            if len(entity_ids) == 1:
                row = conn.execute(_READ_ONE, (f"{entity}:{entity_ids[0]}",)).fetchone()
                if row is None:
                    return [[None] * nf]
                return [list(map(loads(row[0]).get, feature_ids))]
            if not entity_ids:
                return []
            if self._json_each:
                # One statement for any number of ids; the key is built in SQL. The LEFT JOIN
                # keeps json_each as the outer loop: one row per id, in the order given.
                ids = orjson.dumps(entity_ids, default=to_plain, option=ORJSON_OPTIONS)
                docs = [doc for (doc,) in conn.execute(_READ_IDS, (ids, f"{entity}:")).fetchall()]
            else:
                docs = self._docs(conn, [f"{entity}:{eid}" for eid in entity_ids])
        except sqlite3.OperationalError as exc:
            raise unavailable(STORE, exc) from exc
        return [[None] * nf if raw is None else list(map(loads(raw).get, feature_ids)) for raw in docs]

    def _docs(self, conn: sqlite3.Connection, keys: list[str]) -> list[bytes | None]:
        """The stored doc of each key, in the order of ``keys`` (None where missing)."""
        if self._json_each:
            # One statement for any number of keys. The LEFT JOIN keeps json_each as the
            # outer loop, so rows come back in array order, one per key.
            rows = conn.execute(_READ_JSON, (orjson.dumps(keys),)).fetchall()
            return [doc for (doc,) in rows]
        found: dict[str, bytes] = {}
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start : start + CHUNK]
            found.update(conn.execute(self._select_in(len(chunk)), chunk).fetchall())
        return [found.get(key) for key in keys]

    async def write(self, entity: str, writes: Sequence[OnlineWrite]) -> int:
        if (
            self._json_each
            and len(writes) == 1
            and len(set(writes[0].entity_ids)) == len(writes[0].entity_ids)
        ):
            return self._write_feature(entity, writes[0])
        with _gc_paused(sum(len(w.entity_ids) for w in writes) >= _GC_PAUSE_VALUES):
            # 1. The newest record per (entity id, feature) within the batch; equal event
            #    times: the later position wins. Records are tuples (orjson writes arrays).
            batch = _newest_per_entity(writes)
            if not batch:
                return 0
            conn = self._conn
            if conn is None:
                raise not_open(STORE)
            # Sorted keys: the B-tree is updated in order (fewer page splits, hotter cache).
            keyed = sorted(((f"{entity}:{eid}", doc) for eid, doc in batch.items()), key=itemgetter(0))
            keys = [key for key, _ in keyed]
            loads, dumps = orjson.loads, orjson.dumps
            applied = 0
            with write_transaction(conn, STORE, self._lock):
                # 2. Merge with what is stored, inside the transaction: last write wins by
                #    event time; a stored newer value is kept; equal times: the new one wins.
                rows: list[tuple[str, bytes]] = []
                append = rows.append
                for (key, new), raw in zip(keyed, self._docs(conn, keys), strict=True):
                    if raw is None:
                        applied += len(new)
                        append((key, dumps(new, default=to_plain, option=ORJSON_OPTIONS)))
                        continue
                    doc = loads(raw)
                    changed = 0
                    for fid, record in new.items():
                        current = doc.get(fid)
                        # An identical stored record (a re-materialisation) needs no write.
                        if (
                            current is None
                            or record[0] > current[0]
                            or (record[0] == current[0] and list(record) != current)
                        ):
                            doc[fid] = record
                            changed += 1
                    if changed:
                        applied += changed
                        append((key, dumps(doc, default=to_plain, option=ORJSON_OPTIONS)))
                # 3. Write back the changed docs.
                if rows:
                    conn.executemany(_UPSERT, rows)
            return applied

    def _write_feature(self, entity: str, w: OnlineWrite) -> int:
        """One feature for distinct entities, merged by SQLite (see the module docstring)."""
        conn = self._conn
        if conn is None:
            raise not_open(STORE)
        fid = w.feature_id
        path, ts_path = f'$."{fid}"', f'$."{fid}"[0]'
        dumps = orjson.dumps
        params = sorted(
            (
                f"{entity}:{eid}",
                fid,
                dumps(record, default=to_plain, option=ORJSON_OPTIONS).decode(),
                path,
                ts_path,
                record[0],
            )
            for eid, record in zip(w.entity_ids, _records(w), strict=True)
        )
        with write_transaction(conn, STORE, self._lock):
            before = conn.total_changes
            conn.executemany(_UPSERT_FEATURE, params)
            return conn.total_changes - before

    async def delete_feature(self, entity: str, feature_id: str) -> None:
        conn = self._conn
        if conn is None:
            raise not_open(STORE)
        # Keys of an entity are the range ["{entity}:", "{entity};") (';' follows ':'); entity
        # names are identifiers, so no other entity's keys fall in it.
        needle = orjson.dumps(feature_id) + b":"
        with write_transaction(conn, STORE, self._lock):
            rows = conn.execute(_RANGE, (f"{entity}:", f"{entity};")).fetchall()
            updates: list[tuple[str, bytes]] = []
            deletes: list[tuple[str]] = []
            for key, raw in rows:
                if needle not in raw:  # cheap filter before parsing
                    continue
                doc = orjson.loads(raw)
                if doc.pop(feature_id, None) is None:
                    continue
                if doc:
                    updates.append((key, _dumps(doc)))
                else:
                    deletes.append((key,))
            if updates:
                conn.executemany(_UPSERT, updates)
            if deletes:
                conn.executemany(_DELETE_KEY, deletes)
            conn.execute("DELETE FROM online_meta WHERE key = ?", (f"feature:{feature_id}",))
            conn.execute(_META_DELETE_RANGE, (f"transformer:{feature_id}:", f"transformer:{feature_id};"))

    # -- cached metadata and transformers -----------------------------------------------------

    def _meta_get(self, key: str) -> dict[str, Any] | None:
        conn = self._conn
        if conn is None:
            raise not_open(STORE)
        try:
            row = conn.execute(_META_GET, (key,)).fetchone()
        except sqlite3.OperationalError as exc:
            raise unavailable(STORE, exc) from exc
        return None if row is None else orjson.loads(row[0])

    def _meta_put(self, key: str, doc: dict[str, Any]) -> None:
        conn = self._conn
        if conn is None:
            raise not_open(STORE)
        data = _dumps(doc)
        with write_transaction(conn, STORE, self._lock):
            conn.execute(_META_PUT, (key, data))

    async def put_feature_meta(self, feature_id: str, doc: dict[str, Any]) -> None:
        self._meta_put(f"feature:{feature_id}", doc)

    async def get_feature_meta(self, feature_id: str) -> dict[str, Any] | None:
        return self._meta_get(f"feature:{feature_id}")

    async def put_transformer(self, feature_id: str, version: str, state: dict[str, Any]) -> None:
        self._meta_put(f"transformer:{feature_id}:{version}", state)

    async def get_transformer(self, feature_id: str, version: str) -> dict[str, Any] | None:
        return self._meta_get(f"transformer:{feature_id}:{version}")

    async def ping(self) -> dict[str, Any]:
        return ping_info(self._conn, self.path, STORE)
