"""One router per resource."""

from fastapi import APIRouter

from fstore.api.routes import (
    entities,
    features,
    groups,
    health,
    history,
    lineage,
    stats,
    training,
    values,
    vectors,
    versions,
)

ROUTERS: list[APIRouter] = [
    health.router,
    entities.router,
    features.router,
    groups.router,
    versions.router,
    values.router,
    vectors.router,
    stats.router,
    training.router,
    lineage.router,
    history.router,
]
