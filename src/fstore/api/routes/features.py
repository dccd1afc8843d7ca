"""Features: create, list (filtered, paginated), read, update (a new version), delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field

from fstore.api.deps import Store
from fstore.api.types import Flag, Name, Semver
from fstore.enums import FeatureType, TransformerKind, ValueType
from fstore.models import Feature, FeatureVersion

router = APIRouter(prefix="/api/v1/features", tags=["features"])


class TransformerIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"kind": "standard_scaler"}]})

    kind: TransformerKind
    params: dict[str, Any] = Field(default_factory=dict)


class FeatureIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "age",
                    "entity": "customer",
                    "type": "numerical",
                    "tags": ["demographics"],
                    "transformer": {"kind": "standard_scaler", "params": {}},
                }
            ]
        },
    )

    name: Name
    entity: Name
    type: FeatureType = FeatureType.NUMERICAL
    dtype: ValueType | None = None
    description: str = ""
    group: Name | None = None
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    owner: str = ""
    nullable: Flag = False
    ttl_seconds: int | None = Field(default=None, gt=0)
    dependencies: list[Name] = Field(default_factory=list)
    transformer: TransformerIn | None = None
    version: Semver | None = None
    reason: str = ""


class FeatureUpdate(BaseModel):
    """Fields to change. An absent field keeps its value; ``null`` keeps it too, except for
    ``group`` and ``ttl_seconds`` (removed), ``dtype`` (the type's default) and
    ``transformer`` (removed)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"description": "age in years", "reason": "clarify"}]},
    )

    description: str | None = None
    entity: Name | None = None
    type: FeatureType | None = None
    dtype: ValueType | None = None
    group: Name | None = None
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None
    owner: str | None = None
    nullable: Flag | None = None
    ttl_seconds: int | None = Field(default=None, gt=0)
    dependencies: list[Name] | None = None
    transformer: TransformerIn | None = None
    version: Semver | None = None
    reason: str = ""


_NULL_MEANS_REMOVE = {"group", "ttl_seconds", "dtype"}


class FeaturePage(BaseModel):
    items: list[Feature]
    total: int
    limit: int
    offset: int


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Feature)
async def create_feature(body: FeatureIn, store: Store) -> Feature:
    definition = body.model_dump(exclude={"transformer", "version", "reason"})
    transformer = body.transformer.model_dump() if body.transformer else None
    return await store.create_feature(definition, transformer, version=body.version, reason=body.reason)


@router.get("", response_model=FeaturePage)
async def list_features(
    store: Store,
    group: str | None = None,
    entity: str | None = None,
    tag: str | None = None,
    type: FeatureType | None = None,
    owner: Annotated[str | None, Query(description="The owner, exactly")] = None,
    q: Annotated[str | None, Query(description="Part of the feature name")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> FeaturePage:
    items, total = await store.page_features(
        group=group,
        entity=entity,
        tag=tag,
        type=type,
        name_contains=q,
        owner=owner,
        limit=limit,
        offset=offset,
    )
    return FeaturePage(items=items, total=total, limit=limit, offset=offset)


@router.get("/{name}", response_model=Feature)
async def get_feature(name: str, store: Store) -> Feature:
    return await store.get_feature(name)


@router.patch(
    "/{name}",
    response_model=FeatureVersion,
    summary="Change a feature: registers a new version (bumped by the rules, or the one given)",
)
async def update_feature(name: str, body: FeatureUpdate, store: Store) -> FeatureVersion:
    changes = body.model_dump(exclude_unset=True, exclude={"transformer", "version", "reason"})
    changes = {k: v for k, v in changes.items() if v is not None or k in _NULL_MEANS_REMOVE}
    transformer: Any = "keep"
    if "transformer" in body.model_fields_set:
        transformer = body.transformer.model_dump() if body.transformer else None
    result: FeatureVersion = await store.update_feature(
        name, changes, transformer=transformer, version=body.version, reason=body.reason, new_version=True
    )
    return result


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_feature(name: str, store: Store, force: bool = False) -> None:
    await store.delete_feature(name, force=force)
