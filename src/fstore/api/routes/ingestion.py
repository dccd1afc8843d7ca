"""A feature's ingestion activity: new values stored per period over the last hours, by every
writer of the store (the feature page's chart; the overview has the sum over all features)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from fstore.api.deps import Store

router = APIRouter(prefix="/api/v1/features/{name}/ingestion", tags=["statistics"])

# at most this many periods per answer: an hour per minute, longer windows in wider periods
MAX_PERIODS = 60


class IngestionPeriod(BaseModel):
    start: datetime
    values: int


class IngestionActivity(BaseModel):
    """New values of the feature stored per period (replays of stored values not counted),
    oldest first, the current period last; kept 30 days."""

    feature: str
    period_minutes: int
    total: int = Field(description="Values stored in the window (the sum of the periods).")
    periods: list[IngestionPeriod]


@router.get("", response_model=IngestionActivity, summary="Values of a feature stored per period")
async def ingestion(
    name: str, store: Store, hours: Annotated[int, Query(ge=1, le=720)] = 24
) -> IngestionActivity:
    period = -(-hours * 60 // MAX_PERIODS)  # ceil
    rows = await store.ingestion_activity(name, minutes=hours * 60, bucket_minutes=period)
    periods = [IngestionPeriod(start=at, values=n) for at, n in rows]
    return IngestionActivity(
        feature=name, period_minutes=period, total=sum(p.values for p in periods), periods=periods
    )
