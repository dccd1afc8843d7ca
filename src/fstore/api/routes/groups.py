"""Feature groups and their membership."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from fstore.api.deps import Store
from fstore.api.types import Name
from fstore.models import FeatureGroup

router = APIRouter(prefix="/api/v1/groups", tags=["groups"])


class GroupIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "demographics", "entity": "customer", "features": ["age"]}]},
    )

    name: Name
    description: str = ""
    entity: Name | None = None
    features: list[Name] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    owner: str = ""


class GroupUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"description": "who they are"}]}
    )

    description: str | None = None
    entity: Name | None = None
    tags: list[str] | None = None
    metadata: dict[str, Any] | None = None
    owner: str | None = None


@router.post("", status_code=status.HTTP_201_CREATED, response_model=FeatureGroup)
async def create_group(body: GroupIn, store: Store) -> FeatureGroup:
    return await store.create_group(body.model_dump())


@router.get("", response_model=list[FeatureGroup])
async def list_groups(store: Store) -> list[FeatureGroup]:
    return await store.list_groups()


@router.get("/{name}", response_model=FeatureGroup)
async def get_group(name: str, store: Store) -> FeatureGroup:
    return await store.get_group(name)


@router.patch("/{name}", response_model=FeatureGroup)
async def update_group(name: str, body: GroupUpdate, store: Store) -> FeatureGroup:
    changes = body.model_dump(exclude_unset=True)  # null keeps a field, except entity (removed)
    return await store.update_group(
        name, {k: v for k, v in changes.items() if v is not None or k == "entity"}
    )


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_group(name: str, store: Store) -> None:
    await store.delete_group(name)


@router.post("/{name}/features/{feature}", response_model=FeatureGroup)
async def add_to_group(name: str, feature: str, store: Store) -> FeatureGroup:
    return await store.add_to_group(name, feature)


@router.delete("/{name}/features/{feature}", response_model=FeatureGroup)
async def remove_from_group(name: str, feature: str, store: Store) -> FeatureGroup:
    return await store.remove_from_group(name, feature)
