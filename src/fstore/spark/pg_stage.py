"""A backfill's rows into the PostgreSQL offline store: Spark writes them over JDBC into a
staging table of the store's schema, then one transaction moves them into the feature's
partition with the store's own rules.

The transaction is the store's ``write`` for one feature (``postgres.PostgresOfflineStore``):
the feature's row locked ``FOR UPDATE`` (writers take turns), a plain ``INSERT … SELECT`` when
the batch is newer than everything stored, else the store's ``insert_changed`` (new identities
and changed values only: a re-run stores nothing), then ``max_event`` and the corrections
counter updated. Only the staging table differs from the in-process path's temporary one.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from fstore.backends.offline import postgres_sql as sql
from fstore.backends.offline.base import WriteCount
from fstore.backends.offline.postgres import ANALYZE_ROWS, PostgresOfflineStore
from fstore.errors import ConflictError

STAGE_COLUMNS = ["fid", "entity_id", "event_timestamp", "ingested_at", "version"]
_VALUE_KIND = {"bigint": 1, "double": 2, "string": 4}
_TRANSFORMED_KIND = {"bigint": 1, "double": 2, "array<double>": 4}


def kinds(value_type: str, transformed_type: str | None) -> tuple[int, int]:
    """The store's kind bits of a value type and a transformed type (Spark SQL names)."""
    return _VALUE_KIND[value_type], _TRANSFORMED_KIND.get(transformed_type or "", 0)


def value_columns(vk: int, tk: int) -> tuple[str | None, str | None]:
    """The partition's columns for the raw and the transformed value (None: stays null)."""
    v = sql.VALUE_KINDS[vk][0]
    t = sql.TRANSFORMED_KINDS[tk][0] if tk else None
    return v, t


class Stage:
    """A staging table for one feature's rows (created by ``open``, dropped by ``drop``)."""

    def __init__(self, store: PostgresOfflineStore, feature_id: str, vk: int, tk: int) -> None:
        self.store = store
        self.feature_id = feature_id
        self.kinds = (vk, tk)
        self.fid = 0
        self.table = f"{store._s}.fstore_spark_stage_{secrets.token_hex(6)}"

    @property
    def name(self) -> str:
        """The table's name as JDBC takes it (schema.table)."""
        return self.table.replace('"', "")

    async def open(self) -> int:
        """Register the feature (its partition and kinds) and create the table; the fid."""
        self.fid = await self.store._register(self.feature_id, *self.kinds)
        async with self.store._db.connection() as conn:
            await conn.execute(
                f"CREATE UNLOGGED TABLE {self.table} (LIKE {self.store._s}.fstore_history INCLUDING DEFAULTS)"
            )
        return self.fid

    async def publish(self, lo: datetime, hi: datetime, rows: int) -> WriteCount:
        """Move the staged rows into the history (new identities and changed values only)."""
        s = self.store
        v, t = value_columns(*self.kinds)
        names = [*STAGE_COLUMNS, v, *([t] if t else [])]
        async with s._db.connection() as conn, conn.transaction():
            cur = await conn.execute(s._q(sql.FEATURE_FOR_WRITE, self.fid), [lo, self.fid])
            row: Any = await cur.fetchone()
            if row is None:
                raise ConflictError(f"feature {self.feature_id!r} was deleted during the backfill")
            if not row[0]:  # newer than everything stored: nothing to look up
                cols = ", ".join(names)
                await conn.execute(
                    s._q(f"INSERT INTO {{h}} ({cols}) SELECT {cols} FROM {self.table}", self.fid)
                )
                stored, corrections = rows, 0
            else:
                cur = await conn.execute(s._q(sql.insert_changed(names, self.table), self.fid))
                stored, corrections = await cur.fetchone()  # type: ignore[misc]
            await conn.execute(s._q(sql.WRITTEN), [hi, corrections, self.fid])
        if stored >= ANALYZE_ROWS:
            await s._analyze(self.fid, stored)
        return WriteCount(stored=stored, unchanged=rows - stored)

    async def drop(self) -> None:
        async with self.store._db.connection() as conn:
            await conn.execute(f"DROP TABLE IF EXISTS {self.table}")
