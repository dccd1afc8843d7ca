"""The overview the dashboard opens on: counts, store health, online hit rate, API latency,
values stored per minute (by every writer, from the offline store's ingestion activity) and
the latest registry changes, in one call."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from fstore.api.deps import Store
from fstore.api.metrics import LATENCY_BUCKETS, HttpStats
from fstore.instrumentation import Histogram, quantile
from fstore.models import ChangeRecord

router = APIRouter(prefix="/api/v1/overview", tags=["overview"])


class Counts(BaseModel):
    features: int
    groups: int
    entities: int


class Online(BaseModel):
    hits: int
    misses: int
    hit_rate: float | None = Field(description="hits / (hits + misses); null before any lookup.")


class Latency(BaseModel):
    """API request latency since the server started (bucket upper bounds, milliseconds)."""

    requests: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class MinuteCount(BaseModel):
    minute: datetime
    values: int


class StoreHealth(BaseModel):
    ok: bool
    latency_ms: float | None = None
    error: str | None = None


class Overview(BaseModel):
    counts: Counts
    health: dict[str, StoreHealth]
    online: Online
    latency: Latency
    ingested_last_hour: int = Field(
        description="Values stored in the last 60 minutes (the sum of ingested_per_minute), by any "
        "writer: this or another API server, the SDK, the CLI, the Feature Processor, a Spark backfill."
    )
    ingested_per_minute: list[MinuteCount] = Field(
        description="New values stored per minute (replays of stored values not counted), the "
        "last 60 minutes, oldest first; kept by the offline store, so a restart keeps them."
    )
    recent_changes: list[ChangeRecord]


def _latency(http: HttpStats | None) -> Latency:
    merged = Histogram(LATENCY_BUCKETS)
    for histogram in http.histograms.values() if http else ():
        merged.counts = [a + b for a, b in zip(merged.counts, histogram.counts, strict=True)]

    def ms(q: float) -> float | None:
        found = quantile(merged, q)
        return None if found is None else found * 1e3

    return Latency(requests=merged.count, p50_ms=ms(0.5), p95_ms=ms(0.95), p99_ms=ms(0.99))


@router.get("", response_model=Overview, summary="What the dashboard's overview shows")
async def overview(request: Request, store: Store) -> Overview:
    _, features = await store.page_features(limit=0)  # the count: no model per feature
    groups = await store.list_groups()
    entities = await store.list_entities()
    health = {
        name: StoreHealth(ok=bool(part.get("ok")), latency_ms=part.get("latency_ms"), error=part.get("error"))
        for name, part in (await store.health()).items()
    }
    metrics = store.metrics
    looked_up = metrics.online_hits + metrics.online_misses
    online = Online(
        hits=metrics.online_hits,
        misses=metrics.online_misses,
        hit_rate=metrics.online_hits / looked_up if looked_up else None,
    )
    per_minute = [MinuteCount(minute=at, values=n) for at, n in await store.ingestion_activity(minutes=60)]
    return Overview(
        counts=Counts(features=features, groups=len(groups), entities=len(entities)),
        health=health,
        online=online,
        latency=_latency(getattr(request.app.state, "http_stats", None)),
        ingested_last_hour=sum(m.values for m in per_minute),
        ingested_per_minute=per_minute,
        recent_changes=await store.history(None, None, 10),
    )
