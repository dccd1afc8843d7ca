"""Online serving: latest values of many features for many entities."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from fstore.api.responses import FastJSONResponse
from fstore.store import FeatureStore

router = APIRouter(prefix="/api/v1/online", tags=["serving"])


class VectorIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"features": ["age", "plan"], "entities": ["c1", "c2"]}]},
    )

    features: list[str] = Field(min_length=1)
    entities: list[str | int] = Field(min_length=1)
    transformed: bool = True


_VECTOR_EXAMPLE = {"customer_id": ["c1", "c2"], "age": [0.42, None], "plan": ["gold", None]}


@router.post(
    "/features",
    summary="A feature vector: one column per feature, plus the join key",
    response_model=dict[str, list[Any]],
    response_class=FastJSONResponse,
    responses={200: {"content": {"application/json": {"example": _VECTOR_EXAMPLE}}}},
)
async def get_vector(body: VectorIn, request: Request) -> FastJSONResponse:
    # The store straight from the app state: the shared ``Store`` dependency is a plain
    # function, which FastAPI runs on a worker thread (a thread hop per request).
    store: FeatureStore = request.app.state.store
    vector = await store.get_feature_vector(body.features, body.entities, transformed=body.transformed)
    return FastJSONResponse(vector.to_dict())
