"""The change history of the registry, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from fstore.api.deps import Store
from fstore.models import ChangeRecord

router = APIRouter(prefix="/api/v1/history", tags=["history"])


@router.get("", response_model=list[ChangeRecord])
async def history(
    store: Store,
    object_type: Annotated[str | None, Query(description="entity, feature or group")] = None,
    object_id: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=10_000)] = None,
) -> list[ChangeRecord]:
    return await store.history(object_type, object_id, limit)
