"""The FastAPI application factory."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI

import fstore
from fstore.api.audit_trail import AuditTrail
from fstore.api.errors import install_error_handlers
from fstore.api.observability import install_observability
from fstore.api.openapi import document_api
from fstore.api.routes import ROUTERS
from fstore.api.security import Auth, authorize
from fstore.api.web import WEB_DIST, install_web
from fstore.auth import Directory
from fstore.config import Settings
from fstore.store import FeatureStore


def create_app(
    store: FeatureStore | None = None, settings: Settings | None = None, *, web_root: Path = WEB_DIST
) -> FastAPI:
    """Build the API over ``store`` (or a new ``FeatureStore(settings)``).

    The API options (auth, limits, CORS) come from ``settings``, else from the store's. Raises
    ConfigurationError when they are unsafe: no ``FSTORE_SECRET_KEY`` outside dev mode, or
    authentication disabled outside dev mode.

    The lifespan opens the store (a no-op when it is already open) and closes it at
    shutdown only when the app created it: a store handed in belongs to the caller.
    ``web_root`` is the dashboard's build (``fstore.api.web``).
    """
    owned = store is None
    service = store if store is not None else FeatureStore(settings)
    settings = settings or service.settings
    auth = Auth(settings, Directory(service.metadata))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.open()
        if owned:
            # A server process: what exists after start-up lives as long as the process, so
            # keep it out of the cyclic collector's full passes (tens of ms each otherwise).
            gc.collect()
            gc.freeze()
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
        docs_url=None,  # fstore.api.web serves /docs and /redoc from local files
        redoc_url=None,
        dependencies=[Depends(authorize)],
        swagger_ui_parameters={"persistAuthorization": True},
    )
    app.state.store = service
    app.state.auth = auth
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    install_web(app, web_root)
    app.add_middleware(AuditTrail, offline=service.offline)
    install_observability(app, service, settings)  # after every add_middleware: outermost
    document_api(app)
    return app
