"""The embedded audit / access log: a SQLite file next to the Parquet dataset.

The Parquet dataset suits large sorted appends, not one small record per API write; SQLite
takes those from several processes at once (WAL) and answers "newest first" from an index.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from fstore.backends.offline.base import AUDIT_FIELDS, validate_audit_records, validate_limit
from fstore.backends.sqlite_common import LazySqlite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    actor TEXT,
    action TEXT NOT NULL,
    resource TEXT,
    outcome TEXT,
    details TEXT
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);
CREATE INDEX IF NOT EXISTS audit_log_actor_at ON audit_log (actor, at);
"""
_INSERT = "INSERT INTO audit_log (at, actor, action, resource, outcome, details) VALUES (?, ?, ?, ?, ?, ?)"
_KEYS = ("id", "at", "actor", "action", "resource", "outcome", "details")


def _micros(at: datetime) -> int:
    if at.tzinfo is None:  # naive times are UTC, as everywhere in FStore
        at = at.replace(tzinfo=UTC)
    return int(at.timestamp() * 1_000_000)


def _from_micros(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC)


class SqliteAuditLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = LazySqlite(self._open)

    def _open(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.executescript(_SCHEMA)
        return con

    def close(self) -> None:
        self._db.close()

    async def append(self, records: Sequence[dict[str, Any]]) -> None:
        validate_audit_records(records)
        if not records:
            return
        now = datetime.now(UTC)
        rows = [
            (
                _micros(r.get("at") or now),
                r.get("actor"),
                r["action"],
                r.get("resource"),
                r.get("outcome"),
                None if r.get("details") is None else orjson.dumps(r["details"]).decode(),
            )
            for r in records
        ]
        await asyncio.to_thread(self._insert, rows)

    def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        con = self._db.get()
        with self._db.lock:
            con.execute("BEGIN IMMEDIATE")
            try:
                con.executemany(_INSERT, rows)
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    async def list_records(
        self, limit: int = 100, actor: str | None = None, since: datetime | None = None
    ) -> list[dict[str, Any]]:
        validate_limit(limit)
        conds, params = [], []
        if actor is not None:
            conds.append("actor = ?")
            params.append(actor)
        if since is not None:
            conds.append("at >= ?")
            params.append(_micros(since))
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        query = f"SELECT {', '.join(_KEYS)} FROM audit_log{where} ORDER BY at DESC, id DESC LIMIT ?"
        rows = await asyncio.to_thread(self._select, query, [*params, int(limit)])
        out = []
        for row in rows:
            record = dict(zip(_KEYS, row, strict=True))
            record["at"] = _from_micros(record["at"])
            record["details"] = None if record["details"] is None else orjson.loads(record["details"])
            out.append(record)
        return out

    def _select(self, query: str, params: list[Any]) -> list[tuple[Any, ...]]:
        con = self._db.get()
        with self._db.lock:
            return con.execute(query, params).fetchall()


assert set(AUDIT_FIELDS) == set(_KEYS) - {"id"}
