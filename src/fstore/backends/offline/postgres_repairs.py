"""The PostgreSQL offline store's online repair ledger: ``fstore_online_repairs`` (migration 4
in ``postgres_migrations``). ``PostgresRepairs`` is mixed into the store to give it the ledger
methods of the ``OfflineStore`` protocol; each is one statement (one round trip).

The ledger's writes commit asynchronously (``synchronous_commit`` off for their transaction:
no WAL flush of their own, ~1 ms less each). That loses nothing that matters, because WAL is
flushed in order: a write call's entry commits before its offline write, whose synchronous
commit flushes the entry too; a crash can lose only the latest asynchronous commits, and a
lost removal only means one more (harmless) repair, a lost standing entry leaves the call's
own entry behind (repaired after the grace period).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from fstore.backends.offline.base import RepairEntry, validate_repairs
from fstore.backends.offline.postgres_connection import Database
from fstore.backends.offline.repairs_sqlite import new_stamp

# a standing entry keeps the older time; a call's entries are new (its id is unique)
_UPSERT = """
    INSERT INTO {s}.fstore_online_repairs AS r (feature_id, call, oldest_us, stamp)
    SELECT f, %(call)s, t, %(stamp)s
    FROM unnest(%(features)s::text[], %(oldest)s::int8[]) AS u(f, t), {async_commit}
    ON CONFLICT (feature_id, call) DO UPDATE
    SET oldest_us = LEAST(r.oldest_us, excluded.oldest_us), stamp = excluded.stamp
"""
_DELETE = """
    DELETE FROM {s}.fstore_online_repairs AS r
    USING unnest(%s::text[], %s::text[], %s::int8[]) AS d(f, c, st), {async_commit}
    WHERE r.feature_id = d.f AND r.call = d.c AND r.stamp = d.st
"""
# evaluated once per statement: this transaction (the statement's own) commits asynchronously
_ASYNC_COMMIT = "(SELECT set_config('synchronous_commit', 'off', true)) AS async_commit"
_SELECT = """
    SELECT feature_id, oldest_us, call, stamp, (extract(epoch FROM created_at) * 1000000)::int8
    FROM {s}.fstore_online_repairs
"""


def sql_of(text: str, db: Database) -> str:
    """``text`` for the store's schema, its statement committing asynchronously where it says so."""
    return text.replace("{s}", db.quoted_schema).replace("{async_commit}", _ASYNC_COMMIT)


class PostgresRepairs:
    _db: Database

    async def add_online_repairs(self, oldest: Mapping[str, int], call: str = "") -> list[RepairEntry]:
        validate_repairs(oldest, call)
        stamp, now = new_stamp(), time.time_ns() // 1000
        entries = [RepairEntry(f, int(ts), call, stamp, now) for f, ts in oldest.items()]
        if entries:
            params = {
                "call": call,
                "stamp": stamp,
                "features": [e.feature_id for e in entries],
                "oldest": [e.oldest_us for e in entries],
            }
            async with self._db.connection() as conn:
                await conn.execute(sql_of(_UPSERT, self._db), params)
        return entries

    async def online_repairs(self) -> list[RepairEntry]:
        async with self._db.connection() as conn:
            cur = await conn.execute(sql_of(_SELECT, self._db))
            rows = await cur.fetchall()
        return [RepairEntry(*row) for row in rows]

    async def remove_online_repairs(self, entries: Sequence[RepairEntry]) -> None:
        if entries:
            params = [[e.feature_id for e in entries], [e.call for e in entries], [e.stamp for e in entries]]
            async with self._db.connection() as conn:
                await conn.execute(sql_of(_DELETE, self._db), params)
