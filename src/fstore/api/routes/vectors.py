"""Online serving: latest values of many features for many entities."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from fstore.api.deps import Store
from fstore.api.responses import FastJSONResponse
from fstore.api.types import EntityId, Flag

router = APIRouter(prefix="/api/v1/online", tags=["serving"])


class VectorIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"features": ["age", "plan"], "entities": ["c1", "c2"]}]},
    )

    features: list[str] = Field(min_length=1)
    entities: list[EntityId] = Field(min_length=1)
    transformed: Flag = True


_VECTOR_EXAMPLE = {"customer_id": ["c1", "c2"], "age": [0.42, None], "plan": ["gold", None]}


@router.post(
    "/features",
    summary="A feature vector: one column per feature, plus the join key",
    response_model=dict[str, list[Any]],
    response_class=FastJSONResponse,
    responses={200: {"content": {"application/json": {"example": _VECTOR_EXAMPLE}}}},
)
async def get_vector(body: VectorIn, store: Store) -> FastJSONResponse:
    vector = await store.get_feature_vector(body.features, body.entities, transformed=body.transformed)
    return FastJSONResponse(vector.to_dict())
