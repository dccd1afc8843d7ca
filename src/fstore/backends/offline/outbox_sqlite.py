"""The embedded offline store's event outbox: a SQLite file (``outbox.db``) beside the Parquet
dataset, as the online repair ledger is (see ``repairs_sqlite`` for why SQLite and why commits
are not fsynced: an entry committed before the call's Parquet segments survives a killed
process).

A claim is one ``UPDATE … RETURNING`` in a ``BEGIN IMMEDIATE`` transaction, so two processes
never claim the same free entry. ``SqliteOutbox`` is mixed into the embedded offline store to
give it the outbox methods of the ``OfflineStore`` protocol.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import astuple
from pathlib import Path

from fstore.backends.offline.base import OutboxEntry, validate_outbox
from fstore.backends.offline.repairs_sqlite import new_stamp
from fstore.backends.sqlite_common import SqliteFile, unavailable, write_transaction

STORE = "offline"
FILE_NAME = "outbox.db"
COLUMNS = (
    "call, feature_id, feature, entity, ingested_us, start_us, end_us, source, "
    "claimed_until_us, stamp, created_us"
)


def _create(conn: sqlite3.Connection) -> None:
    conn.execute(
        """CREATE TABLE outbox (
               call TEXT NOT NULL,
               feature_id TEXT NOT NULL,
               feature TEXT NOT NULL,
               entity TEXT NOT NULL,
               ingested_us INTEGER NOT NULL,
               start_us INTEGER NOT NULL,
               end_us INTEGER NOT NULL,
               source TEXT NOT NULL,
               claimed_until_us INTEGER NOT NULL,
               stamp INTEGER NOT NULL,
               created_us INTEGER NOT NULL,
               PRIMARY KEY (call, feature_id)
           ) WITHOUT ROWID"""
    )
    conn.execute("CREATE INDEX outbox_created ON outbox (created_us)")


_INSERT = f"INSERT OR REPLACE INTO outbox ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_CLAIM = f"""UPDATE outbox SET claimed_until_us = ?, stamp = ?
             WHERE (call, feature_id) IN (
                 SELECT call, feature_id FROM outbox WHERE claimed_until_us <= ?
                 ORDER BY created_us LIMIT ?)
             RETURNING {COLUMNS}"""
_RELEASE = "UPDATE outbox SET claimed_until_us = ? WHERE call = ? AND feature_id = ? AND stamp = ?"
_DELETE = "DELETE FROM outbox WHERE call = ? AND feature_id = ? AND stamp = ?"


def now_us() -> int:
    return time.time_ns() // 1000


class SqliteOutboxFile(SqliteFile):
    def __init__(self, path: Path) -> None:
        super().__init__(path, STORE, [_create])

    def add(self, entries: Sequence[OutboxEntry]) -> None:
        validate_outbox(entries)
        if entries:
            with write_transaction(self._db.get(), STORE, self._db.lock) as conn:
                conn.executemany(_INSERT, [astuple(e) for e in entries])

    def claim(self, limit: int, lease_us: int) -> list[OutboxEntry]:
        if not self._db.opened and not self.path.exists():
            return []  # nothing was ever recorded; a read-only store stays untouched
        now = now_us()
        with write_transaction(self._db.get(), STORE, self._db.lock) as conn:
            rows = conn.execute(_CLAIM, (now + lease_us, new_stamp(), now, limit)).fetchall()
        return sorted((OutboxEntry(*row) for row in rows), key=lambda e: e.created_us)

    def release(self, entries: Sequence[OutboxEntry], after_us: int) -> None:
        if entries:
            until = now_us() + after_us if after_us > 0 else 0
            rows = [(until, e.call, e.feature_id, e.stamp) for e in entries]
            with write_transaction(self._db.get(), STORE, self._db.lock) as conn:
                conn.executemany(_RELEASE, rows)

    def remove(self, entries: Sequence[OutboxEntry]) -> None:
        if entries:
            rows = [(e.call, e.feature_id, e.stamp) for e in entries]
            with write_transaction(self._db.get(), STORE, self._db.lock) as conn:
                conn.executemany(_DELETE, rows)

    def backlog(self) -> int:
        if not self._db.opened and not self.path.exists():
            return 0
        conn = self._db.get()
        try:
            with self._db.lock:
                return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])
        except sqlite3.OperationalError as exc:
            raise unavailable(STORE, exc) from exc


class SqliteOutbox:
    """The outbox methods of the ``OfflineStore`` protocol over ``<path>/outbox.db``
    (synchronous calls inside the coroutines, as the other embedded SQLite calls)."""

    path: Path
    _outbox_file: SqliteOutboxFile | None = None

    def _outbox(self) -> SqliteOutboxFile:
        if self._outbox_file is None:
            self._outbox_file = SqliteOutboxFile(self.path / FILE_NAME)
        return self._outbox_file

    def _close_outbox(self) -> None:
        if self._outbox_file is not None:
            self._outbox_file.close()

    async def add_outbox(self, entries: Sequence[OutboxEntry]) -> None:
        self._outbox().add(entries)

    async def claim_outbox(self, limit: int, lease_us: int) -> list[OutboxEntry]:
        return self._outbox().claim(limit, lease_us)

    async def release_outbox(self, entries: Sequence[OutboxEntry], after_us: int = 0) -> None:
        self._outbox().release(entries, after_us)

    async def remove_outbox(self, entries: Sequence[OutboxEntry]) -> None:
        self._outbox().remove(entries)

    async def outbox_backlog(self) -> int:
        return self._outbox().backlog()
