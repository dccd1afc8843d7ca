"""Entities: what features describe."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from fstore.api.deps import Store
from fstore.api.types import Name
from fstore.enums import ValueType
from fstore.models import Entity

router = APIRouter(prefix="/api/v1/entities", tags=["entities"])


class EntityIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "customer", "join_key": "customer_id", "tags": ["core"]}]},
    )

    name: Name
    join_key: Name | Literal[""] = ""
    value_type: Literal[ValueType.STRING, ValueType.INT] = ValueType.STRING
    description: str = ""
    tags: list[str] = Field(default_factory=list)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Entity)
async def create_entity(body: EntityIn, store: Store) -> Entity:
    return await store.create_entity(body.model_dump())


@router.get("", response_model=list[Entity])
async def list_entities(store: Store) -> list[Entity]:
    return await store.list_entities()


@router.get("/{name}", response_model=Entity)
async def get_entity(name: str, store: Store) -> Entity:
    return await store.get_entity(name)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_entity(name: str, store: Store) -> None:
    await store.delete_entity(name)
