"""Online serving: latest values of many features for many entities."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ConfigDict, Field

from fstore.api.deps import Store

router = APIRouter(prefix="/api/v1/online", tags=["serving"])


class VectorIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"features": ["age", "plan"], "entities": ["c1", "c2"]}]},
    )

    features: list[str] = Field(min_length=1)
    entities: list[str | int] = Field(min_length=1)
    transformed: bool = True


@router.post("/features", summary="A feature vector: one column per feature, plus the join key")
async def get_vector(body: VectorIn, store: Store) -> dict[str, list[Any]]:
    vector = await store.get_feature_vector(body.features, body.entities, transformed=body.transformed)
    result: dict[str, list[Any]] = jsonable_encoder(vector.to_dict())
    return result
