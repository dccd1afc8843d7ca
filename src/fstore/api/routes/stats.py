"""Statistics of a feature's stored values, and their histogram (for the dashboard)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from fstore.api.deps import Store
from fstore.api.types import Timestamp
from fstore.models import FeatureStatistics

router = APIRouter(prefix="/api/v1/features/{name}/statistics", tags=["statistics"])


class Bin(BaseModel):
    start: float
    end: float
    count: int


class Histogram(BaseModel):
    """The current values (one per entity and event time) in equal-width bins; categorical
    features have no bins (their statistics list the top categories)."""

    feature: str
    count: int = Field(description="Values counted (nulls excluded).")
    bins: list[Bin]


@router.get("", response_model=FeatureStatistics)
async def statistics(
    name: str, store: Store, start: Timestamp | None = None, end: Timestamp | None = None
) -> FeatureStatistics:
    return await store.statistics(name, start=start, end=end)


@router.get("/histogram", response_model=Histogram, summary="A histogram of a numerical feature's values")
async def histogram(name: str, store: Store, bins: Annotated[int, Query(ge=1, le=200)] = 20) -> Histogram:
    feature = await store.get_feature(name)
    if feature.type.value != "numerical":
        return Histogram(feature=feature.name, count=0, bins=[])
    values = await store.offline.values(feature.id)
    numbers = pc.drop_null(values.cast(pa.float64())).to_numpy(zero_copy_only=False)
    numbers = numbers[np.isfinite(numbers)]
    if numbers.size == 0:
        return Histogram(feature=feature.name, count=0, bins=[])
    counts, edges = np.histogram(numbers, bins=bins)
    out = [
        Bin(start=float(edges[i]), end=float(edges[i + 1]), count=int(counts[i])) for i in range(len(counts))
    ]
    return Histogram(feature=feature.name, count=int(numbers.size), bins=out)


class Period(BaseModel):
    start: datetime
    count: int
    mean: float | None = Field(description="The mean value (numerical features; null otherwise).")


class TimeSeries(BaseModel):
    """The current values by event time, in equal periods from the first to the last event."""

    feature: str
    periods: list[Period]


@router.get("/timeseries", response_model=TimeSeries, summary="Values per period of event time")
async def timeseries(
    name: str,
    store: Store,
    periods: Annotated[int, Query(ge=1, le=500)] = 60,
    start: Timestamp | None = None,
    end: Timestamp | None = None,
) -> TimeSeries:
    feature = await store.get_feature(name)
    table = await store.get_feature_history(name, start=start, end=end)
    if table.num_rows == 0:
        return TimeSeries(feature=feature.name, periods=[])
    times = table.column("event_timestamp").cast(pa.timestamp("us", "UTC")).cast(pa.int64()).to_numpy()
    first, last = int(times.min()), int(times.max())
    width = max(1, -(-(last - first + 1) // periods))  # ceil: the last event falls in the last period
    index = (times - first) // width
    counts = np.bincount(index, minlength=periods)
    means: list[float | None] = [None] * periods
    if feature.type.value == "numerical":
        values = table.column("value").cast(pa.float64()).to_numpy(zero_copy_only=False)
        present = ~np.isnan(values)
        sums = np.bincount(index[present], weights=values[present], minlength=periods)
        seen = np.bincount(index[present], minlength=periods)
        means = [float(s / n) if n else None for s, n in zip(sums, seen, strict=True)]
    out = [
        Period(
            start=datetime.fromtimestamp((first + i * width) / 1e6, UTC), count=int(counts[i]), mean=means[i]
        )
        for i in range(periods)
    ]
    return TimeSeries(feature=feature.name, periods=out)
