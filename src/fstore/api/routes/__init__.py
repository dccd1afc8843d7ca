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
    ingestion,
    lineage,
    materialize,
    overview,
    stats,
    training,
    users,
    values,
    vectors,
    versions,
)

# Starlette tries routes in order: the hot serving route goes first.
ROUTERS: list[APIRouter] = [
    vectors.router,
    health.router,
    entities.router,
    features.router,
    groups.router,
    versions.router,
    values.router,
    stats.router,
    ingestion.router,
    training.router,
    materialize.router,
    lineage.router,
    history.router,
    auth.router,
    users.router,
    users.keys_router,
    audit.router,
    overview.router,
]
