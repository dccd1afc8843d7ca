"""Materialisation: copy each entity's latest offline value to the online store."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from fstore.api.deps import Store
from fstore.api.types import Timestamp

router = APIRouter(prefix="/api/v1/materialize", tags=["serving"])


class MaterializeIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"features": ["amount"], "start": "2025-01-01T00:00:00Z"}, {}]},
    )

    features: list[str] | None = Field(default=None, min_length=1, description="Default: every feature.")
    start: Timestamp | None = Field(default=None, description="Only values with an event at or after this.")
    end: Timestamp | None = Field(default=None, description="Only values with an event at or before this.")


class Materialized(BaseModel):
    features: dict[str, int] = Field(description="Values sent online, per feature.")
    total: int


@router.post("", response_model=Materialized, summary="Copy the latest offline values online")
async def materialize(store: Store, body: MaterializeIn | None = None) -> Materialized:
    body = body or MaterializeIn()
    counts = await store.materialize(body.start, body.end, body.features)
    return Materialized(features=counts, total=sum(counts.values()))
