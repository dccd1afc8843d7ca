"""Window state in the PostgreSQL offline store: processors of a group on many hosts.

Tables ``fstore_window_log`` and ``fstore_window_positions`` (migration 6 in
``backends.offline.postgres_migrations``), reached through the offline store's connection
pool. A commit is one transaction that first moves the positions of the batch's source
partitions with a compare-and-set (``UPDATE … WHERE position = <expected>``; an insert for a
partition with none yet), in partition order so that two commits never wait on each other in
a cycle, then appends the log rows. Processors handling different partitions touch different
rows and never wait for each other; a processor still committing for a partition that moved
to another one waits for the other's row lock, finds the position moved and raises
``WindowStateConflict`` (nothing of its batch is committed). The commit is synchronous (the
state must not roll back behind Kafka's committed offsets).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from fstore.backends.offline.postgres_connection import Database
from fstore.streaming.window_state import TP, Loaded, StateDelta, WindowStateConflict, decode_log

_LOAD = """
SELECT windows, marks, dropped FROM {s}.fstore_window_log
WHERE key = %(key)s AND partition = %(p)s AND seq >= COALESCE(
    (SELECT max(seq) FROM {s}.fstore_window_log
     WHERE key = %(key)s AND partition = %(p)s AND snapshot), 0)
ORDER BY seq
"""
_MOVE = """
UPDATE {s}.fstore_window_positions SET position = %s
WHERE topic = %s AND partition = %s AND position = %s
"""
_FIRST = """
INSERT INTO {s}.fstore_window_positions (position, topic, partition) VALUES (%s, %s, %s)
ON CONFLICT (topic, partition) DO NOTHING
"""
_SET = """
INSERT INTO {s}.fstore_window_positions (position, topic, partition) VALUES (%s, %s, %s)
ON CONFLICT (topic, partition) DO UPDATE SET position = excluded.position
"""
_APPEND = """
INSERT INTO {s}.fstore_window_log (key, partition, snapshot, windows, marks, dropped)
VALUES (%s, %s, %s, %s, %s, %s) RETURNING seq
"""
_COMPACT = "DELETE FROM {s}.fstore_window_log WHERE key = %s AND partition = %s AND seq < %s"


class PostgresWindowState:
    """The ``WindowState`` of a PostgreSQL offline store (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def _q(self, text: str) -> str:
        return text.replace("{s}", self._db.quoted_schema)

    async def close(self) -> None:
        """The pool belongs to the offline store, which closes it."""

    async def positions(self) -> dict[TP, int]:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                self._q("SELECT topic, partition, position FROM {s}.fstore_window_positions")
            )
            return {(t, p): o for t, p, o in await cur.fetchall()}

    async def load(self, key: str, partition: int) -> Loaded:
        async with self._db.connection() as conn:
            cur = await conn.execute(self._q(_LOAD), {"key": key, "p": partition})
            rows = await cur.fetchall()
        return decode_log(rows)

    async def commit(
        self, deltas: Sequence[StateDelta], positions: dict[TP, int], expected: dict[TP, int | None]
    ) -> None:
        entries = [d.encoded() for d in deltas]
        async with self._db.connection() as conn, conn.transaction():
            moved = await self._move(conn, positions, expected)
            if moved:
                raise WindowStateConflict(moved)  # rolls the transaction back
            for key, partition, snapshot, windows, marks, dropped in entries:
                cur = await conn.execute(
                    self._q(_APPEND), (key, partition, snapshot, windows, marks, dropped)
                )
                if snapshot:
                    row = await cur.fetchone()
                    assert row is not None
                    await conn.execute(self._q(_COMPACT), (key, partition, row[0]))

    async def forget_positions(self, topics: Iterable[str]) -> None:
        async with self._db.connection() as conn:
            await conn.execute(
                self._q("DELETE FROM {s}.fstore_window_positions WHERE topic = ANY(%s)"), (list(topics),)
            )

    async def forget_features(self, features: Iterable[str]) -> None:
        prefixes = [f"{f}:" for f in features]
        async with self._db.connection() as conn:
            await conn.execute(
                self._q(
                    "DELETE FROM {s}.fstore_window_log l USING unnest(%s::text[]) AS u(p)"
                    " WHERE left(l.key, length(u.p)) = u.p"
                ),
                (prefixes,),
            )

    async def _move(self, conn: Any, positions: dict[TP, int], expected: dict[TP, int | None]) -> list[TP]:
        """Set the positions, checking the expected ones; returns those that had moved."""
        moved: list[TP] = []
        for tp in sorted(positions):
            new = positions[tp]
            if tp not in expected:
                await conn.execute(self._q(_SET), (new, *tp))
                continue
            was = expected[tp]
            if was is None:
                cur = await conn.execute(self._q(_FIRST), (new, *tp))
            else:
                cur = await conn.execute(self._q(_MOVE), (new, *tp, was))
            if cur.rowcount != 1:
                moved.append(tp)
        return moved
