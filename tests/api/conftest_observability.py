"""Fixtures for tests/api/test_observability.py (imported there; pytest does not load this file
on its own): the API with a small body limit, a CORS origin and a few probe routes."""

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from fstore import FeatureStore
from fstore.api import create_app

LIMIT = 1024
ORIGIN = "https://ui.example.com"


def _probe_routes(app: FastAPI) -> None:
    """Routes that expose what the middleware did, or fail on purpose."""

    @app.get("/probe/request-id")
    async def request_id(request: Request) -> dict[str, Any]:
        return {"request_id": request.state.request_id}

    @app.get("/probe/boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    @app.post("/probe/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}


async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 4567))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as c,
    ):
        yield c


def _app(store: FeatureStore, **settings: Any) -> FastAPI:
    dev = {"dev_mode": True, "auth_disabled": True, **settings}
    app = create_app(store, store.settings.model_copy(update=dev))
    _probe_routes(app)
    return app


@pytest.fixture
async def obs_client(store: FeatureStore) -> AsyncIterator[httpx.AsyncClient]:
    """The API (auth off, dev mode) with ``max_request_bytes=LIMIT``, CORS for ``ORIGIN``
    and the probe routes; the client connects from 10.1.2.3."""
    async for c in _client(_app(store, max_request_bytes=LIMIT, cors_origins=[ORIGIN])):
        yield c


@pytest.fixture
async def plain_client(store: FeatureStore) -> AsyncIterator[httpx.AsyncClient]:
    """The API with the default settings (no CORS origin) and the probe routes."""
    async for c in _client(_app(store)):
        yield c


def body_stream(chunks: int, size: int, pulled: list[int]) -> Callable[[], AsyncIterator[bytes]]:
    """A chunked request body (no Content-Length) that records how many chunks were read."""

    async def stream() -> AsyncIterator[bytes]:
        for _ in range(chunks):
            pulled.append(size)
            yield b"x" * size

    return stream
