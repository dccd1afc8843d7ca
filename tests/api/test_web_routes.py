"""The dashboard and the docs served by the API server: files, the single-page-app fallback
(never over the API's own answers), local Swagger UI / ReDoc, and a checkout without a build."""

import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from fstore import FeatureStore
from fstore.api import create_app
from fstore.api.web import accepted_encodings


def _build(root: Path) -> None:
    (root / "assets").mkdir(parents=True)
    (root / "vendor").mkdir()
    (root / "index.html").write_text("<!doctype html><div id=root></div>")
    (root / "assets" / "index-abc.js").write_text("console.log(1)")
    (root / "favicon.svg").write_text("<svg/>")
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        (root / "vendor" / name).write_text("/* */")


def _app(store: FeatureStore, root: Path) -> FastAPI:
    settings = store.settings.model_copy(update={"dev_mode": True, "auth_disabled": True})
    return create_app(store, settings, web_root=root)


@pytest.fixture
async def web(store: FeatureStore, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    root = tmp_path / "dist"
    _build(root)
    app = _app(store, root)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c,
    ):
        yield c


async def test_files_and_the_app_fallback(web: httpx.AsyncClient) -> None:
    index = await web.get("/")
    assert index.status_code == 200 and "id=root" in index.text
    assert index.headers["cache-control"] == "no-cache"
    page = await web.get("/features/age?tab=versions")  # a page of the app, reloaded
    assert page.status_code == 200 and page.text == index.text
    asset = await web.get("/assets/index-abc.js")
    assert asset.text == "console.log(1)" and "immutable" in asset.headers["cache-control"]
    assert (await web.get("/assets/gone-123.js")).status_code == 404
    assert (await web.get("/favicon.svg")).text == "<svg/>"
    assert (await web.get("/../pyproject.toml")).text == index.text  # no escape from the build


async def test_precompressed_copies_by_accept_encoding(web: httpx.AsyncClient, tmp_path: Path) -> None:
    assets = tmp_path / "dist" / "assets"
    (assets / "index-abc.js.gz").write_bytes(gzip.compress(b"console.log(1)"))
    (assets / "index-abc.js.br").write_bytes(b"brotli bytes")
    brotli = await web.get("/assets/index-abc.js", headers={"Accept-Encoding": "gzip, br"})
    assert brotli.headers["content-encoding"] == "br" and brotli.content == b"brotli bytes"
    assert brotli.headers["content-type"].startswith("text/javascript")
    assert brotli.headers["vary"] == "Accept-Encoding" and "immutable" in brotli.headers["cache-control"]
    zipped = await web.get("/assets/index-abc.js", headers={"Accept-Encoding": "gzip, br;q=0"})
    assert zipped.headers["content-encoding"] == "gzip" and zipped.text == "console.log(1)"  # httpx decodes
    plain = await web.get("/assets/index-abc.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.text == "console.log(1)"
    index = await web.get("/", headers={"Accept-Encoding": "br"})  # no copy of index.html: the file
    assert "content-encoding" not in index.headers and "id=root" in index.text


def test_accepted_encodings() -> None:
    assert accepted_encodings("gzip, deflate, br;q=0.9") == {"gzip", "deflate", "br"}
    assert accepted_encodings("br;q=0, gzip; q=0.000, *") == {"*"}
    assert accepted_encodings("") == set()


async def test_the_api_keeps_its_answers(web: httpx.AsyncClient) -> None:
    unknown = await web.get("/api/v1/nothing")
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("application/problem")
    assert (await web.post("/api/v1/nothing")).status_code == 404
    assert (await web.post("/features/age")).status_code == 404  # the fallback is GET only
    assert (await web.get("/api/v1/entities")).json()[0]["name"] == "customer"
    assert (await web.get("/health/live")).json() == {"status": "ok"}


async def test_docs_load_local_files(web: httpx.AsyncClient) -> None:
    swagger = (await web.get("/docs")).text
    assert "/vendor/swagger-ui-bundle.js" in swagger and "cdn" not in swagger
    redoc = (await web.get("/redoc")).text
    assert "/vendor/redoc.standalone.js" in redoc and "cdn" not in redoc and "googleapis" not in redoc
    assert (await web.get("/vendor/swagger-ui.css")).status_code == 200
    assert (await web.get("/docs/oauth2-redirect")).status_code == 200


async def test_without_a_build_the_page_says_how_to_build(store: FeatureStore, tmp_path: Path) -> None:
    app = _app(store, tmp_path / "missing")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c,
    ):
        page = await c.get("/features")
        assert page.status_code == 200 and "npm ci &amp;&amp; npm run build" in page.text
        assert "cdn.jsdelivr.net" in (await c.get("/docs")).text  # no local copy: the CDN
