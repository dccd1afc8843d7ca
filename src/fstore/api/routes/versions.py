"""Feature versions: list, read, diff, roll back, fit a transformer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field

from fstore.api.deps import Store
from fstore.api.routes.features import TransformerIn
from fstore.api.types import SEMVER, Timestamp
from fstore.models import Feature, FeatureVersion

router = APIRouter(prefix="/api/v1/features/{name}/versions", tags=["versions"])

Version = Annotated[str, Field(pattern=SEMVER, examples=["1.0.0"])]


class RollbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"version": "1.0.0"}]})

    version: Version


class FitIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"as_of": "2026-01-01T00:00:00Z"}, {}]}
    )

    as_of: Timestamp | None = None
    transformer: TransformerIn | None = Field(
        default=None, description="Fit this one instead of the current."
    )
    version: Version | None = Field(default=None, description="The new version (default: a minor bump).")


@router.get("", response_model=list[FeatureVersion])
async def list_versions(name: str, store: Store) -> list[FeatureVersion]:
    return await store.list_versions(name)


@router.get("/diff")
async def diff_versions(
    name: str,
    store: Store,
    from_: Annotated[str, Query(alias="from", pattern=SEMVER)],
    to: Annotated[str, Query(pattern=SEMVER)],
) -> dict[str, Any]:
    return await store.diff_versions(name, from_, to)


@router.get("/{version:semver}", response_model=FeatureVersion)
async def get_version(name: str, version: str, store: Store) -> FeatureVersion:
    return await store.get_version(name, version)


@router.post("/rollback", response_model=Feature)
async def rollback(name: str, body: RollbackIn, store: Store) -> Feature:
    return await store.rollback(name, body.version)


@router.post("/fit", status_code=status.HTTP_201_CREATED, response_model=FeatureVersion)
async def fit(name: str, store: Store, body: FitIn | None = None) -> FeatureVersion:
    body = body or FitIn()
    transformer = body.transformer.model_dump() if body.transformer else None
    return await store.fit_transformer(name, as_of=body.as_of, transformer=transformer, version=body.version)
