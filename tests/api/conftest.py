from collections.abc import AsyncIterator

import httpx
import pytest

from fstore import FeatureStore
from fstore.api import create_app


@pytest.fixture
async def client(store: FeatureStore) -> AsyncIterator[httpx.AsyncClient]:
    """The API over the embedded ``store`` (which has a ``customer`` entity), authentication
    off (dev mode; tests/api/test_auth*.py cover it); the app's lifespan runs around the
    client (it finds the store open and leaves closing it to the fixture)."""
    app = create_app(store, store.settings.model_copy(update={"dev_mode": True, "auth_disabled": True}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c,
    ):
        yield c
