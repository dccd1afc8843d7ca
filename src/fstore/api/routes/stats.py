"""Statistics of a feature's stored values."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter

from fstore.api.deps import Store
from fstore.models import FeatureStatistics

router = APIRouter(prefix="/api/v1/features/{name}/statistics", tags=["statistics"])


@router.get("", response_model=FeatureStatistics)
async def statistics(
    name: str, store: Store, start: datetime | None = None, end: datetime | None = None
) -> FeatureStatistics:
    return await store.statistics(name, start=start, end=end)
