"""Window state in a SQLite file (``<home>/aggregations.sqlite``): the embedded backend.

**One host only.** Processors of a consumer group share the state through this file, so
they must run on the machine that holds it (a network file system does not give SQLite the
locking it needs). Use the PostgreSQL offline store to run processors on several hosts
(``window_state_postgres``). Each commit is fsynced: the state must not roll back behind
Kafka's committed offsets. ``":memory:"`` gives a throwaway state (the backfill's).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from fstore.streaming.window_state import TP, Loaded, StateDelta, WindowStateConflict, decode_log

_SCHEMA = """
CREATE TABLE IF NOT EXISTS window_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    partition INTEGER NOT NULL,
    snapshot INTEGER NOT NULL,
    windows BLOB NOT NULL,
    marks BLOB NOT NULL,
    dropped INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS window_log_key ON window_log (key, partition, snapshot, seq);
CREATE TABLE IF NOT EXISTS positions (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
);
"""
_LOAD = """
SELECT windows, marks, dropped FROM window_log
WHERE key = ? AND partition = ? AND seq >= COALESCE(
    (SELECT MAX(seq) FROM window_log WHERE key = ? AND partition = ? AND snapshot = 1), 0)
ORDER BY seq
"""


class SqliteWindowState:
    """The ``WindowState`` of a SQLite file (see the module docstring)."""

    def __init__(self, path: Path | str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(_SCHEMA)

    async def close(self) -> None:
        self._db.close()

    async def positions(self) -> dict[TP, int]:
        rows = self._db.execute("SELECT topic, partition, offset FROM positions")
        return {(t, p): o for t, p, o in rows}

    async def load(self, key: str, partition: int) -> Loaded:
        return decode_log(self._db.execute(_LOAD, (key, partition, key, partition)).fetchall())

    async def commit(
        self, deltas: Sequence[StateDelta], positions: dict[TP, int], expected: dict[TP, int | None]
    ) -> None:
        entries = [d.encoded() for d in deltas]
        await asyncio.to_thread(self._commit, entries, positions, expected)

    async def forget_positions(self, topics: Iterable[str]) -> None:
        await asyncio.to_thread(self._write, "DELETE FROM positions WHERE topic = ?", [(t,) for t in topics])

    async def forget_features(self, features: Iterable[str]) -> None:
        rows = [(len(f) + 1, f"{f}:") for f in features]
        await asyncio.to_thread(self._write, "DELETE FROM window_log WHERE substr(key, 1, ?) = ?", rows)

    def _write(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(sql, rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _commit(
        self,
        entries: list[tuple[str, int, bool, bytes, bytes, int]],
        positions: dict[TP, int],
        expected: dict[TP, int | None],
    ) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            moved = []
            for tp, was in expected.items():
                row = db.execute(
                    "SELECT offset FROM positions WHERE topic = ? AND partition = ?", tp
                ).fetchone()
                if (row[0] if row else None) != was:
                    moved.append(tp)
            if moved:
                raise WindowStateConflict(moved)
            for key, partition, snapshot, windows, marks, dropped in entries:
                cursor = db.execute(
                    "INSERT INTO window_log (key, partition, snapshot, windows, marks, dropped)"
                    " VALUES (?,?,?,?,?,?)",
                    (key, partition, int(snapshot), windows, marks, dropped),
                )
                if snapshot:
                    db.execute(
                        "DELETE FROM window_log WHERE key = ? AND partition = ? AND seq < ?",
                        (key, partition, cursor.lastrowid),
                    )
            db.executemany(
                "INSERT OR REPLACE INTO positions VALUES (?,?,?)",
                [(t, p, o) for (t, p), o in positions.items()],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
