"""Online serving: latest values of many features for many entities."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from fstore.api.deps import Store
from fstore.api.responses import FastJSONResponse
from fstore.api.types import EntityId, Flag
from fstore.models import ValueStatus
from fstore.serving import STATUS_KEY

router = APIRouter(prefix="/api/v1/online", tags=["serving"])


class VectorIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"features": ["age", "plan"], "entities": ["c1", "c2"]}]},
    )

    features: list[str] = Field(min_length=1)
    entities: list[EntityId] = Field(min_length=1)
    transformed: Flag = True


class VectorOut(BaseModel):
    """The join key's column and one column per feature (extra properties, each a list in the
    order of ``entities``), plus ``$status`` when a cell is not present."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    __pydantic_extra__: dict[str, list[Any]] = Field(init=False)

    status: dict[str, list[ValueStatus]] | None = Field(
        default=None,
        alias=STATUS_KEY,
        description=(
            "Only when a cell is not present: for each such column, every cell's status — "
            "'present', 'missing' (no value), 'expired' (older than the feature's ttl_seconds, "
            "by event time; served as null, as training sets treat it) or 'not_fitted' (the "
            "feature's transformer is not fitted: no transformed value). A column absent "
            "from it is all present."
        ),
    )


_VECTOR_EXAMPLE = {
    "customer_id": ["c1", "c2"],
    "age": [0.42, None],
    "plan": ["gold", "silver"],
    STATUS_KEY: {"age": ["present", "expired"]},
}


@router.post(
    "/features",
    summary="A feature vector: one column per feature, plus the join key",
    response_model=VectorOut,
    response_class=FastJSONResponse,
    responses={200: {"content": {"application/json": {"example": _VECTOR_EXAMPLE}}}},
)
async def get_vector(body: VectorIn, store: Store) -> FastJSONResponse:
    vector = await store.get_feature_vector(body.features, body.entities, transformed=body.transformed)
    return FastJSONResponse(vector.to_json())
