"""The PostgreSQL offline store's ingestion activity: ``fstore_ingestion`` (migration 7 in
``postgres_migrations``), values stored per feature and minute. ``PostgresIngestion`` is mixed
into the store to give it the two methods of the ``OfflineStore`` protocol.

A write call records its counts with one statement of its own after its history transaction
committed: the upsert of (feature, minute) rows holds their locks only for that statement,
never during a history write, so concurrent writers of a feature queue for microseconds, not
for each other's COPY. It commits asynchronously (as the repair ledger does): a crash can lose
the latest minute's counts, never a value. The table is ``fillfactor`` 70 so the increments
are HOT updates (no index churn). Old minutes are deleted now and then (``IngestionPruner``)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from fstore.backends.offline.base import IngestionPruner, ingestion_minute, validate_ingestion
from fstore.backends.offline.postgres_connection import Database
from fstore.backends.offline.postgres_repairs import sql_of

_UPSERT = """
    INSERT INTO {s}.fstore_ingestion AS i (feature_id, minute, stored)
    SELECT f, %(minute)s, n
    FROM unnest(%(features)s::text[], %(counts)s::int8[]) WITH ORDINALITY AS u(f, n, o), {async_commit}
    ORDER BY o
    ON CONFLICT (feature_id, minute) DO UPDATE SET stored = i.stored + excluded.stored
"""
_PRUNE = "DELETE FROM {s}.fstore_ingestion WHERE minute < %s"
_FORGET = "DELETE FROM {s}.fstore_ingestion WHERE feature_id = %s"
_ALL = """
    SELECT minute, sum(stored)::int8 FROM {s}.fstore_ingestion
    WHERE minute >= %s GROUP BY minute ORDER BY minute
"""
_ONE = """
    SELECT minute, stored FROM {s}.fstore_ingestion
    WHERE feature_id = %s AND minute >= %s ORDER BY minute
"""


class PostgresIngestion:
    _db: Database
    _ingestion_pruner: IngestionPruner | None = None

    async def _forget_ingestion(self, conn: Any, feature_id: str) -> None:
        """Drop a deleted feature's activity, in the deletion's transaction on ``conn``."""
        await conn.execute(sql_of(_FORGET, self._db), [feature_id])

    async def record_ingestion(self, stored: Mapping[str, int], at_us: int | None = None) -> None:
        counts = validate_ingestion(stored)
        if not counts:
            return
        now = time.time_ns() // 1000
        if self._ingestion_pruner is None:
            self._ingestion_pruner = IngestionPruner()
        prune_before = self._ingestion_pruner.due(now)
        params = {
            "minute": ingestion_minute(now if at_us is None else at_us),
            "features": list(counts),
            "counts": list(counts.values()),
        }
        async with self._db.connection() as conn:
            await conn.execute(sql_of(_UPSERT, self._db), params)
            if prune_before is not None:
                await conn.execute(sql_of(_PRUNE, self._db), [prune_before])

    async def ingestion(self, since_us: int, feature_id: str | None = None) -> list[tuple[int, int]]:
        since = ingestion_minute(since_us)
        async with self._db.connection() as conn:
            if feature_id is None:
                cur = await conn.execute(sql_of(_ALL, self._db), [since])
            else:
                cur = await conn.execute(sql_of(_ONE, self._db), [feature_id, since])
            rows = await cur.fetchall()
        return [(int(m), int(n)) for m, n in rows]
