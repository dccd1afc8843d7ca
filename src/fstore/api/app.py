"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import fstore
from fstore.api.errors import install_error_handlers
from fstore.api.metrics import install_metrics
from fstore.api.routes import ROUTERS
from fstore.config import Settings
from fstore.store import FeatureStore


def create_app(store: FeatureStore | None = None, settings: Settings | None = None) -> FastAPI:
    """Build the API over ``store`` (or a new ``FeatureStore(settings)``).

    The lifespan opens the store (a no-op when it is already open) and closes it at
    shutdown only when the app created it: a store handed in belongs to the caller.
    """
    owned = store is None
    service = store if store is not None else FeatureStore(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.open()
        try:
            yield
        finally:
            if owned:
                await service.close()

    app = FastAPI(
        title="FStore",
        version=fstore.__version__,
        description="A feature store: registry, versioned transformers, online and offline values.",
        lifespan=lifespan,
        docs_url="/docs",
    )
    app.state.store = service
    install_error_handlers(app)
    install_metrics(app, service)
    for router in ROUTERS:
        app.include_router(router)
    return app
