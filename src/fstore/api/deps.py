"""Dependencies shared by the routers. They are ``async def`` because FastAPI runs a plain
function dependency on a worker thread: a thread hop per request for a dictionary lookup."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from fstore.api.security import Auth
from fstore.auth import Principal
from fstore.store import FeatureStore
from fstore.streaming.outbox import set_source


async def get_store(request: Request) -> FeatureStore:
    """The application's FeatureStore (set by ``create_app``); the request's writes publish
    events with the source ``api``."""
    set_source("api")
    store: FeatureStore = request.app.state.store
    return store


Store = Annotated[FeatureStore, Depends(get_store)]


async def get_auth(request: Request) -> Auth:
    """The app's authentication (token issuer and user directory)."""
    auth: Auth = request.app.state.auth
    return auth


async def get_principal(request: Request) -> Principal:
    """Who the request acts as (set by ``security.authorize``)."""
    principal: Principal = request.state.principal
    return principal


AuthDep = Annotated[Auth, Depends(get_auth)]
CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
