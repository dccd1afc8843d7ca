"""The audit / access log the specification keeps in PostgreSQL: ``fstore_audit_log`` (see
``postgres_migrations``), one row per record, newest read first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fstore.backends.offline import postgres_sql as sql
from fstore.backends.offline.base import validate_audit_records, validate_limit
from fstore.backends.offline.postgres_arrow import PG_EPOCH_US, utc
from fstore.backends.offline.postgres_connection import Database
from fstore.backends.offline.schema import from_micros

KEYS = ("id", "at", "actor", "action", "resource", "outcome", "details")


def _params(record: dict[str, Any]) -> list[Any]:
    from psycopg.types.json import Jsonb

    at, details = record.get("at"), record.get("details")
    return [
        None if at is None else utc(at),
        record.get("actor"),
        record["action"],
        record.get("resource"),
        record.get("outcome"),
        None if details is None else Jsonb(details),
    ]


async def append(db: Database, records: Sequence[dict[str, Any]]) -> None:
    """Insert the records (all or none): dicts with ``action`` and optionally ``at`` (a
    datetime, default now), ``actor``, ``resource``, ``outcome``, ``details`` (JSON-able)."""
    validate_audit_records(records)
    params = [_params(record) for record in records]
    if not params:
        return
    text = sql.INSERT_AUDIT.replace("{s}", db.quoted_schema)
    async with db.connection() as conn, conn.transaction(), conn.cursor() as cur:
        await cur.executemany(text, params)


async def list_records(
    db: Database, limit: int = 100, actor: str | None = None, since: datetime | None = None
) -> list[dict[str, Any]]:
    """The newest records first, at most ``limit``; by ``actor``, at or after ``since``."""
    validate_limit(limit)
    params: dict[str, Any] = {"limit": int(limit), "actor": actor}
    if since is not None:
        params["since"] = utc(since)
    text = sql.list_audit(actor is not None, since is not None).replace("{s}", db.quoted_schema)
    async with db.connection() as conn:
        cur = conn.cursor(binary=True)
        await cur.execute(text, params)
        rows = await cur.fetchall()
    out = []
    for row in rows:
        record = dict(zip(KEYS, row, strict=True))
        record["at"] = from_micros(record["at"] + PG_EPOCH_US)
        out.append(record)
    return out
