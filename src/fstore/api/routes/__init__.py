"""One router per resource."""

from fastapi import APIRouter

from fstore.api.routes import (
    audit,
    auth,
    entities,
    features,
    groups,
    health,
    history,
    lineage,
    stats,
    training,
    users,
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
    auth.router,
    users.router,
    users.keys_router,
    audit.router,
]
