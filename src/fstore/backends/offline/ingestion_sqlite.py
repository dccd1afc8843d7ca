"""The embedded offline store's ingestion activity: values stored per feature and minute, in a
SQLite file beside the Parquet dataset (``ingestion.db``), written by every process that
writes the store (API server, CLI, SDK, Feature Processor) and read by the dashboard.

One upsert transaction per write call (not per value), after the call's segments are
published; like the repair ledger it is not fsynced (``synchronous=NORMAL``). Minutes older
than the retention are deleted in the same transaction now and then (``IngestionPruner``).
``SqliteIngestion`` is mixed into the embedded offline store to give it the two methods of
the ``OfflineStore`` protocol.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path

from fstore.backends.offline.base import IngestionPruner, ingestion_minute, validate_ingestion
from fstore.backends.sqlite_common import SqliteFile, unavailable, write_transaction

STORE = "offline"
FILE_NAME = "ingestion.db"


def _create(conn: sqlite3.Connection) -> None:
    conn.execute(
        """CREATE TABLE ingestion (
               feature_id TEXT NOT NULL,
               minute INTEGER NOT NULL,
               stored INTEGER NOT NULL,
               PRIMARY KEY (feature_id, minute)
           ) WITHOUT ROWID"""
    )
    conn.execute("CREATE INDEX ingestion_minute ON ingestion (minute)")


_UPSERT = """INSERT INTO ingestion (feature_id, minute, stored) VALUES (?, ?, ?)
             ON CONFLICT (feature_id, minute) DO UPDATE SET stored = stored + excluded.stored"""
_PRUNE = "DELETE FROM ingestion WHERE minute < ?"
_FORGET = "DELETE FROM ingestion WHERE feature_id = ?"
_ALL = "SELECT minute, sum(stored) FROM ingestion WHERE minute >= ? GROUP BY minute ORDER BY minute"
_ONE = "SELECT minute, stored FROM ingestion WHERE feature_id = ? AND minute >= ? ORDER BY minute"


class SqliteIngestionLog(SqliteFile):
    def __init__(self, path: Path) -> None:
        super().__init__(path, STORE, [_create])
        self._pruner = IngestionPruner()

    def add(self, stored: Mapping[str, int], at_us: int) -> None:
        counts = validate_ingestion(stored)
        if not counts:
            return
        minute = ingestion_minute(at_us)
        prune_before = self._pruner.due(time.time_ns() // 1000)
        with write_transaction(self._db.get(), STORE, self._db.lock) as conn:
            conn.executemany(_UPSERT, [(f, minute, n) for f, n in counts.items()])
            if prune_before is not None:
                conn.execute(_PRUNE, [prune_before])

    def forget(self, feature_id: str) -> None:
        if self._db.opened or self.path.exists():
            with write_transaction(self._db.get(), STORE, self._db.lock) as conn:
                conn.execute(_FORGET, [feature_id])

    def minutes(self, since_us: int, feature_id: str | None) -> list[tuple[int, int]]:
        if not self._db.opened and not self.path.exists():
            return []  # nothing was ever recorded; a read-only store stays untouched
        since = ingestion_minute(since_us)
        conn = self._db.get()
        try:
            with self._db.lock:
                if feature_id is None:
                    rows = conn.execute(_ALL, [since]).fetchall()
                else:
                    rows = conn.execute(_ONE, [feature_id, since]).fetchall()
        except sqlite3.OperationalError as exc:
            raise unavailable(STORE, exc) from exc
        return [(int(m), int(n)) for m, n in rows]


class SqliteIngestion:
    """The ingestion activity methods of the ``OfflineStore`` protocol over
    ``<path>/ingestion.db`` (synchronous inside the coroutines, as the other side files)."""

    path: Path
    _ingestion_log: SqliteIngestionLog | None = None

    def _ingestion(self) -> SqliteIngestionLog:
        if self._ingestion_log is None:
            self._ingestion_log = SqliteIngestionLog(self.path / FILE_NAME)
        return self._ingestion_log

    def _close_ingestion(self) -> None:
        if self._ingestion_log is not None:
            self._ingestion_log.close()

    def _forget_ingestion(self, feature_id: str) -> None:
        """Drop a deleted feature's activity (a feature created again under its id starts empty)."""
        self._ingestion().forget(feature_id)

    async def record_ingestion(self, stored: Mapping[str, int], at_us: int | None = None) -> None:
        self._ingestion().add(stored, time.time_ns() // 1000 if at_us is None else at_us)

    async def ingestion(self, since_us: int, feature_id: str | None = None) -> list[tuple[int, int]]:
        return self._ingestion().minutes(since_us, feature_id)
