"""The PostgreSQL offline store's event outbox: ``fstore_outbox`` (migration 5 in
``postgres_migrations``). ``PostgresOutbox`` is mixed into the store to give it the outbox
methods of the ``OfflineStore`` protocol; each is one statement (one round trip).

Entries commit asynchronously (``synchronous_commit`` off for their transaction), as the
repair ledger's do and for the same reason: WAL is flushed in order, so a call's entry is
durable once its offline write (a synchronous commit) is; a crash can lose only entries whose
write was not committed either, or a removal (one more publication: at least once).
A claim takes free entries with ``FOR UPDATE SKIP LOCKED``, so concurrent publishers split
the backlog instead of waiting for each other.
"""

from __future__ import annotations

from collections.abc import Sequence

from fstore.backends.offline.base import OutboxEntry, validate_outbox
from fstore.backends.offline.postgres_connection import Database
from fstore.backends.offline.postgres_repairs import _ASYNC_COMMIT
from fstore.backends.offline.repairs_sqlite import new_stamp

_FIELDS = (
    "call, feature_id, feature, entity, ingested_us, start_us, end_us, source, "
    "claimed_until_us, stamp, created_us"
)
_NOW_US = "(extract(epoch FROM clock_timestamp()) * 1000000)::int8"
_INSERT = f"""
    INSERT INTO {{s}}.fstore_outbox ({_FIELDS})
    SELECT u.*, {_NOW_US}
    FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::int8[], %s::int8[], %s::int8[],
                %s::text[], %s::int8[], %s::int8[]) AS u, {{async_commit}}
    ON CONFLICT (call, feature_id) DO NOTHING
"""
_CLAIM = f"""
    WITH free AS (
        SELECT call, feature_id FROM {{s}}.fstore_outbox
        WHERE claimed_until_us <= {_NOW_US}
        ORDER BY created_us LIMIT %(limit)s FOR UPDATE SKIP LOCKED
    )
    UPDATE {{s}}.fstore_outbox AS o
    SET claimed_until_us = {_NOW_US} + %(lease)s, stamp = %(stamp)s
    FROM free WHERE o.call = free.call AND o.feature_id = free.feature_id
    RETURNING {", ".join("o." + f.strip() for f in _FIELDS.split(","))}
"""
_RELEASE = f"""
    UPDATE {{s}}.fstore_outbox AS o
    SET claimed_until_us = CASE WHEN %s::int8 > 0 THEN {_NOW_US} + %s::int8 ELSE 0 END
    FROM unnest(%s::text[], %s::text[], %s::int8[]) AS d(c, f, st), {{async_commit}}
    WHERE o.call = d.c AND o.feature_id = d.f AND o.stamp = d.st
"""
_DELETE = """
    DELETE FROM {s}.fstore_outbox AS o
    USING unnest(%s::text[], %s::text[], %s::int8[]) AS d(c, f, st), {async_commit}
    WHERE o.call = d.c AND o.feature_id = d.f AND o.stamp = d.st
"""


def _sql(text: str, db: Database) -> str:
    return text.replace("{s}", db.quoted_schema).replace("{async_commit}", _ASYNC_COMMIT)


def _keys(entries: Sequence[OutboxEntry]) -> list[list[object]]:
    return [[e.call for e in entries], [e.feature_id for e in entries], [e.stamp for e in entries]]


class PostgresOutbox:
    _db: Database

    async def add_outbox(self, entries: Sequence[OutboxEntry]) -> None:
        validate_outbox(entries)
        if entries:
            columns = [list(c) for c in zip(*(_row(e) for e in entries), strict=True)]
            async with self._db.connection() as conn:
                await conn.execute(_sql(_INSERT, self._db), columns)

    async def claim_outbox(self, limit: int, lease_us: int) -> list[OutboxEntry]:
        params = {"limit": limit, "lease": lease_us, "stamp": new_stamp()}
        async with self._db.connection() as conn:
            cur = await conn.execute(_sql(_CLAIM, self._db), params)
            rows = await cur.fetchall()
        return sorted((OutboxEntry(*row) for row in rows), key=lambda e: e.created_us)

    async def release_outbox(self, entries: Sequence[OutboxEntry], after_us: int = 0) -> None:
        if entries:
            async with self._db.connection() as conn:
                await conn.execute(_sql(_RELEASE, self._db), [after_us, after_us, *_keys(entries)])

    async def remove_outbox(self, entries: Sequence[OutboxEntry]) -> None:
        if entries:
            async with self._db.connection() as conn:
                await conn.execute(_sql(_DELETE, self._db), _keys(entries))

    async def outbox_backlog(self) -> int:
        async with self._db.connection() as conn:
            cur = await conn.execute(_sql("SELECT count(*) FROM {s}.fstore_outbox", self._db))
            row = await cur.fetchone()
        return int(row[0]) if row else 0


def _row(e: OutboxEntry) -> tuple[object, ...]:
    """The inserted fields (``created_us`` is the server's clock)."""
    return (
        e.call,
        e.feature_id,
        e.feature,
        e.entity,
        e.ingested_us,
        e.start_us,
        e.end_us,
        e.source,
        e.claimed_until_us,
        e.stamp,
    )
