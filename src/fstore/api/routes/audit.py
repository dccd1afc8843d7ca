"""The audit log: every write through the API, newest first (admin only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from fstore.api.deps import Store
from fstore.api.types import Timestamp

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class AuditRecord(BaseModel):
    id: int
    at: datetime
    actor: str | None
    action: str
    resource: str | None
    outcome: str | None
    details: dict[str, Any] | None


@router.get("", response_model=list[AuditRecord], summary="Audit records, newest first")
async def list_audit(
    store: Store,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    actor: str | None = None,
    since: Timestamp | None = None,
) -> list[dict[str, Any]]:
    return await store.offline.list_audit(limit=limit, actor=actor, since=since)
