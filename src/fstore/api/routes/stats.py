"""Statistics of a feature's stored values."""

from __future__ import annotations

from fastapi import APIRouter

from fstore.api.deps import Store
from fstore.api.types import Timestamp
from fstore.models import FeatureStatistics

router = APIRouter(prefix="/api/v1/features/{name}/statistics", tags=["statistics"])


@router.get("", response_model=FeatureStatistics)
async def statistics(
    name: str, store: Store, start: Timestamp | None = None, end: Timestamp | None = None
) -> FeatureStatistics:
    return await store.statistics(name, start=start, end=end)
