"""The embedded metadata store: one SQLite table per ``Kind``, documents as orjson text.

Schema (version 1, ``PRAGMA user_version``): for each kind a table named after it with
``key TEXT PRIMARY KEY, ref TEXT, doc TEXT`` and an index on ``ref``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

import orjson

from fstore.backends.metadata.base import KIND_NOUNS, Delete, Kind, Put, Query, Write
from fstore.backends.sqlite_common import (
    connect,
    migrate,
    not_open,
    ping_info,
    sqlite_path,
    unavailable,
    write_transaction,
)
from fstore.errors import AlreadyExistsError, NotFoundError

STORE = "sqlite metadata"


def _schema_v1(conn: sqlite3.Connection) -> None:
    for kind in Kind:
        conn.execute(
            f'CREATE TABLE IF NOT EXISTS "{kind}" (key TEXT PRIMARY KEY, ref TEXT, doc TEXT NOT NULL)'
        )
        conn.execute(f'CREATE INDEX IF NOT EXISTS "{kind}_ref" ON "{kind}" (ref)')


MIGRATIONS = [_schema_v1]

# SQL per kind, built once (kind values are fixed identifiers, never user input).
_GET = {k: f'SELECT doc FROM "{k}" WHERE key = ?' for k in Kind}
_LIST = {k: f'SELECT doc FROM "{k}" ORDER BY key' for k in Kind}
_LIST_REF = {k: f'SELECT doc FROM "{k}" WHERE ref = ? ORDER BY key' for k in Kind}
_INSERT = {
    k: f'INSERT INTO "{k}" (key, ref, doc) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING' for k in Kind
}
_UPSERT = {
    k: f'INSERT INTO "{k}" (key, ref, doc) VALUES (?, ?, ?) '
    "ON CONFLICT (key) DO UPDATE SET ref = excluded.ref, doc = excluded.doc"
    for k in Kind
}
_DELETE = {k: f'DELETE FROM "{k}" WHERE key = ?' for k in Kind}


def _where(query: Query) -> tuple[str, list[Any]]:
    """``query`` as a WHERE clause on the JSON documents, and its parameters (field names
    are checked identifiers; every value is a parameter)."""
    terms: list[str] = []
    params: list[Any] = []
    for name, value in query.equals.items():
        terms.append(f"json_extract(doc, '$.{name}') = ?")
        params.append(value)
    for name, value in query.contains.items():
        terms.append(f"EXISTS (SELECT 1 FROM json_each(doc, '$.{name}') WHERE value = ?)")
        params.append(value)
    if query.key_contains is not None:
        terms.append("instr(lower(key), ?) > 0")
        params.append(query.key_contains.lower())
    return (" WHERE " + " AND ".join(terms)) if terms else "", params


class SQLiteMetadataStore:
    """``MetadataStore`` on a SQLite file (``sqlite:///relative.db`` or ``sqlite:////abs.db``).

    Several processes may share the file: writes are ``BEGIN IMMEDIATE`` transactions in WAL
    mode, so concurrent writers wait for each other (up to the busy timeout) and lose nothing.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    async def open(self) -> None:
        if self._conn is not None:
            return
        conn = connect(self.path, STORE)
        try:
            migrate(conn, STORE, MIGRATIONS)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _db(self) -> sqlite3.Connection:
        conn = self._conn
        if conn is None:
            raise not_open(STORE)
        return conn

    async def get(self, kind: Kind, key: str) -> dict[str, Any] | None:
        try:
            row = self._db().execute(_GET[kind], (key,)).fetchone()
        except sqlite3.OperationalError as exc:
            raise unavailable(STORE, exc) from exc
        return None if row is None else orjson.loads(row[0])

    async def list(self, kind: Kind, ref: str | None = None) -> list[dict[str, Any]]:
        conn = self._db()
        try:
            if ref is None:
                rows = conn.execute(_LIST[kind]).fetchall()
            else:
                rows = conn.execute(_LIST_REF[kind], (ref,)).fetchall()
        except sqlite3.OperationalError as exc:
            raise unavailable(STORE, exc) from exc
        loads = orjson.loads
        return [loads(doc) for (doc,) in rows]

    async def find(
        self, kind: Kind, query: Query, *, limit: int | None = None, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        where, params = _where(query)
        table = Kind(kind).value
        conn = self._db()
        try:
            total = conn.execute(f'SELECT count(*) FROM "{table}"{where}', params).fetchone()[0]
            rows = []
            if limit != 0 and offset < total:
                page = f'SELECT doc FROM "{table}"{where} ORDER BY key LIMIT ? OFFSET ?'
                rows = conn.execute(page, [*params, -1 if limit is None else limit, offset]).fetchall()
        except sqlite3.OperationalError as exc:
            raise unavailable(STORE, exc) from exc
        loads = orjson.loads
        return [loads(doc) for (doc,) in rows], total

    async def write(self, ops: Sequence[Write]) -> None:
        if not ops:
            return
        # Serialise before the transaction: a document that cannot be encoded fails the
        # write without holding the lock.
        encoded = [orjson.dumps(op.doc).decode() if isinstance(op, Put) else None for op in ops]
        conn = self._db()
        with write_transaction(conn, STORE, self._lock):
            for op, doc in zip(ops, encoded, strict=True):
                kind = Kind(op.kind)
                if isinstance(op, Put):
                    if op.create_only:
                        if conn.execute(_INSERT[kind], (op.key, op.ref, doc)).rowcount == 0:
                            raise AlreadyExistsError(
                                f"{KIND_NOUNS[kind]} {op.key!r} already exists", kind=kind.value, key=op.key
                            )
                    else:
                        conn.execute(_UPSERT[kind], (op.key, op.ref, doc))
                elif isinstance(op, Delete):
                    deleted = conn.execute(_DELETE[kind], (op.key,)).rowcount
                    if op.must_exist and deleted == 0:
                        raise NotFoundError(
                            f"{KIND_NOUNS[kind]} {op.key!r} does not exist", kind=kind.value, key=op.key
                        )
                else:
                    raise TypeError(f"not a metadata write: {op!r}")

    async def generation(self) -> int:
        """``PRAGMA data_version``: changes when *another* connection (this or another
        process) commits; this instance's own writes do not change it, so a caller caching
        metadata invalidates its cache on its own writes. Costs a few microseconds."""
        try:
            return self._db().execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.OperationalError as exc:
            raise unavailable(STORE, exc) from exc

    async def ping(self) -> dict[str, Any]:
        return ping_info(self._conn, self.path, STORE)
