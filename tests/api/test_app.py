"""Health, OpenAPI and the application's lifecycle."""

from pathlib import Path

import httpx

import fstore
from fstore import FeatureStore, Settings
from fstore.api import create_app

EXPECTED = {
    ("get", "/health/live"),
    ("get", "/health/ready"),
    ("post", "/api/v1/entities"),
    ("get", "/api/v1/entities"),
    ("get", "/api/v1/entities/{name}"),
    ("delete", "/api/v1/entities/{name}"),
    ("post", "/api/v1/features"),
    ("get", "/api/v1/features"),
    ("get", "/api/v1/features/{name}"),
    ("patch", "/api/v1/features/{name}"),
    ("delete", "/api/v1/features/{name}"),
    ("post", "/api/v1/groups"),
    ("get", "/api/v1/groups"),
    ("get", "/api/v1/groups/{name}"),
    ("patch", "/api/v1/groups/{name}"),
    ("delete", "/api/v1/groups/{name}"),
    ("post", "/api/v1/groups/{name}/features/{feature}"),
    ("delete", "/api/v1/groups/{name}/features/{feature}"),
    ("get", "/api/v1/features/{name}/versions"),
    ("get", "/api/v1/features/{name}/versions/{version}"),
    ("get", "/api/v1/features/{name}/versions/diff"),
    ("post", "/api/v1/features/{name}/versions/rollback"),
    ("post", "/api/v1/features/{name}/versions/fit"),
    ("post", "/api/v1/features/{name}/values"),
    ("post", "/api/v1/features/{name}/values/batch"),
    ("get", "/api/v1/features/{name}/values"),
    ("get", "/api/v1/features/{name}/values/{entity_id}"),
    ("post", "/api/v1/online/features"),
    ("get", "/api/v1/features/{name}/statistics"),
    ("get", "/api/v1/features/{name}/ingestion"),
    ("get", "/api/v1/features/{name}/dependencies"),
    ("get", "/api/v1/features/{name}/dependents"),
    ("get", "/api/v1/history"),
    ("post", "/api/v1/training-sets"),
    ("post", "/api/v1/training-sets/upload"),
    ("post", "/api/v1/features/{name}/transform"),
    ("post", "/api/v1/auth/token"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/logout"),
    ("get", "/api/v1/auth/me"),
    ("post", "/api/v1/users"),
    ("get", "/api/v1/users"),
    ("get", "/api/v1/users/{name}"),
    ("patch", "/api/v1/users/{name}"),
    ("delete", "/api/v1/users/{name}"),
    ("post", "/api/v1/api-keys"),
    ("get", "/api/v1/api-keys"),
    ("delete", "/api/v1/api-keys/{key_id}"),
    ("get", "/api/v1/audit"),
    ("post", "/api/v1/materialize"),
    ("get", "/api/v1/overview"),
    ("get", "/api/v1/features/{name}/statistics/histogram"),
    ("get", "/api/v1/features/{name}/statistics/timeseries"),
}


async def test_openapi_lists_every_route(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert spec["info"] == {**spec["info"], "title": "FStore", "version": fstore.__version__}
    found = {(method, path) for path, ops in spec["paths"].items() for method in ops}
    assert found == EXPECTED
    assert (await client.get("/docs")).status_code == 200


async def test_health(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    r = await client.get("/health/ready")
    assert r.status_code == 200
    assert set(r.json()["stores"]) == {"metadata", "online", "offline"}


async def test_ready_is_503_when_a_store_is_down(tmp_path: Path) -> None:
    """A real unreachable online store (a closed port), not a stand-in."""
    from server_redis import free_port

    url = f"redis://127.0.0.1:{free_port()}/0?socket_connect_timeout=0.3&socket_timeout=0.3"
    store = FeatureStore(home=tmp_path, online_url=url, dev_mode=True, auth_disabled=True)
    app = create_app(store)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
        ):
            r = await client.get("/health/ready")
            assert r.status_code == 503
            body = r.json()
            assert body["status"] == "unavailable" and body["stores"]["online"]["ok"] is False
            assert body["stores"]["metadata"]["ok"] is True
            assert (await client.get("/health/live")).status_code == 200
    finally:
        await store.close()


async def test_app_owns_the_store_it_creates(tmp_path: Path) -> None:
    app = create_app(settings=Settings(home=tmp_path / "own", actor="t", dev_mode=True, auth_disabled=True))
    store: FeatureStore = app.state.store
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            r = await client.post("/api/v1/entities", json={"name": "customer"})
            assert r.status_code == 201
        assert store._opened
    assert not store._opened


async def test_metrics_count_requests_and_online_misses(client: httpx.AsyncClient) -> None:
    await client.post("/api/v1/features", json={"name": "amount", "entity": "customer"})
    await client.post("/api/v1/online/features", json={"features": ["amount"], "entities": ["nobody"]})
    await client.get("/api/v1/features/nope")
    text = (await client.get("/metrics")).text
    vector_route = 'method="POST",route="/api/v1/online/features",status="200"'
    assert f"fstore_http_request_duration_seconds_count{{{vector_route}}} 1.0" in text
    not_found = 'route="/api/v1/features/{name}",status="404"'
    assert f"fstore_http_errors_total{{{not_found}}} 1.0" in text
    assert "fstore_online_misses_total 1.0" in text
