"""Lineage: what a feature depends on and what depends on it."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from fstore.api.deps import Store

router = APIRouter(prefix="/api/v1/features/{name}", tags=["lineage"])


class Lineage(BaseModel):
    feature: str
    transitive: bool
    features: list[str]


@router.get("/dependencies", response_model=Lineage)
async def dependencies(name: str, store: Store, transitive: bool = False) -> Lineage:
    found = await store.dependencies(name, transitive=transitive)
    return Lineage(feature=name, transitive=transitive, features=found)


@router.get("/dependents", response_model=Lineage)
async def dependents(name: str, store: Store, transitive: bool = False) -> Lineage:
    found = await store.dependents(name, transitive=transitive)
    return Lineage(feature=name, transitive=transitive, features=found)
