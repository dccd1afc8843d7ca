"""The audit / access log every offline store keeps (PostgreSQL table; SQLite file embedded)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from fstore.backends.offline.base import OfflineStore
from fstore.errors import ValidationError

T0 = datetime(2025, 1, 1, tzinfo=UTC)


async def test_audit_log_appends_and_lists_newest_first(offline: OfflineStore) -> None:
    await offline.append_audit(
        [
            {"actor": "ana", "action": "create", "resource": "feature/amount", "outcome": "ok"},
            {
                "at": T0,
                "actor": "bob",
                "action": "read",
                "resource": "feature/amount",
                "outcome": "denied",
                "details": {"ip": "10.0.0.1", "roles": ["viewer"], "n": 3},
            },
            {"at": T0 + timedelta(hours=1), "actor": "ana", "action": "delete", "outcome": "ok"},
        ]
    )
    await offline.append_audit([])
    records = await offline.list_audit()
    assert [r["action"] for r in records] == ["create", "delete", "read"]  # "create" is now
    read = records[2]
    assert read["at"] == T0 and read["at"].tzinfo is not None
    assert read["details"] == {"ip": "10.0.0.1", "roles": ["viewer"], "n": 3}
    assert read["outcome"] == "denied" and isinstance(read["id"], int)
    assert records[0]["details"] is None and records[0]["at"] > T0
    assert [r["action"] for r in await offline.list_audit(actor="ana")] == ["create", "delete"]
    assert [r["action"] for r in await offline.list_audit(since=T0 + timedelta(minutes=1))] == [
        "create",
        "delete",
    ]
    assert [r["action"] for r in await offline.list_audit(limit=1)] == ["create"]
    naive = datetime(2025, 1, 1, 0, 30)  # taken as UTC
    assert [r["action"] for r in await offline.list_audit(actor="ana", since=naive)] == ["create", "delete"]


async def test_audit_log_validates_records(offline: OfflineStore) -> None:
    with pytest.raises(ValidationError):
        await offline.append_audit([{"actor": "ana"}])  # no action
    with pytest.raises(ValidationError):
        await offline.append_audit([{"action": "x", "who": "ana"}])
    with pytest.raises(ValidationError):
        await offline.list_audit(limit=-1)
    assert await offline.list_audit() == []


async def test_audit_log_is_shared_by_concurrent_writers(offline: OfflineStore) -> None:
    await asyncio.gather(*(offline.append_audit([{"action": f"a{i}", "actor": "x"}]) for i in range(20)))
    records = await offline.list_audit(limit=100, actor="x")
    assert sorted(r["action"] for r in records) == sorted(f"a{i}" for i in range(20))
