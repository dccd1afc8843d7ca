"""The dashboard and the API documentation, served by the API server itself.

The dashboard is the production build of ``web/`` (Vite writes it to ``fstore/web_dist``,
which ships as package data). It is served at ``/``: files by their path, every other GET
outside the API's prefixes gets ``index.html`` so the browser's router can show the page
(a reload of ``/features/age`` works). The API keeps its routes and their 404 / 405 answers:
the fallback is the router's default, reached only when no route matched, and it passes on
paths under an API prefix and methods other than GET / HEAD.

Swagger UI (``/docs``) and ReDoc (``/redoc``) load their files from ``/vendor/`` (copied from
npm's ``swagger-ui-dist`` and ``redoc`` by the build), so they work without internet access.
A checkout without the build answers ``/`` with a page saying how to build it, and the docs
fall back to the CDN.

The build writes a brotli (``.br``) and a gzip (``.gz``) copy next to each text file
(``web/scripts/compress.mjs``); a browser that accepts one gets it with ``Content-Encoding``
(and ``Vary: Accept-Encoding``), so no request pays for compression. Hashed assets are cached
for a year, everything else is revalidated.
"""

from __future__ import annotations

import logging
import mimetypes
import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("fstore.api")

WEB_DIST = Path(__file__).resolve().parent.parent / "web_dist"
# Paths the API owns: the fallback never answers under them.
API_PREFIXES = ("/api/", "/health/", "/metrics", "/openapi.json", "/docs", "/redoc")
_IMMUTABLE = "public, max-age=31536000, immutable"  # Vite names assets by their content hash
# Precompressed copies the build writes, best first: (Content-Encoding, file suffix).
_ENCODINGS = (("br", ".br"), ("gzip", ".gz"))
_REFUSED = re.compile(r"q=0(\.0{0,3})?")

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>FStore</title></head>
<body style="font-family: sans-serif; max-width: 40rem; margin: 3rem auto; line-height: 1.5">
<h1>FStore API</h1>
<p>The API is running, but this copy of FStore has no dashboard build.
A package installed with <code>pip install fstore[api]</code> includes it; in a source checkout, build it
with Node.js 20 or later:</p>
<pre>cd web &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>and restart the server. Meanwhile: <a href="/docs">Swagger UI</a>, <a href="/redoc">ReDoc</a>,
<a href="/openapi.json">the OpenAPI schema</a>.</p>
</body></html>
"""


def _file(root: Path, relative: str) -> Path | None:
    """``root / relative`` when it is a file inside ``root`` (no ``..`` escapes)."""
    if not relative:
        return None
    candidate = (root / relative).resolve()
    if candidate.is_file() and candidate.is_relative_to(root):
        return candidate
    return None


def accepted_encodings(header: str) -> set[str]:
    """The codings an ``Accept-Encoding`` header allows (``q=0`` refuses one)."""
    allowed = set()
    for part in header.split(","):
        coding, *params = (p.strip() for p in part.split(";"))
        if coding and not any(_REFUSED.fullmatch(p.replace(" ", "")) for p in params):
            allowed.add(coding.lower())
    return allowed


def _send_file(found: Path, cache: str, accept: str) -> FileResponse:
    """``found``, or its precompressed copy in the best coding ``accept`` allows."""
    headers = {"Cache-Control": cache, "Vary": "Accept-Encoding"}
    allowed = accepted_encodings(accept)
    for coding, suffix in _ENCODINGS:
        copy = found.with_name(found.name + suffix)
        if (coding in allowed or "*" in allowed) and copy.is_file():
            media_type = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
            return FileResponse(copy, headers={**headers, "Content-Encoding": coding}, media_type=media_type)
    return FileResponse(found, headers=headers)


def _dashboard(root: Path, not_found: ASGIApp) -> ASGIApp:
    """The router's default (what answers when no route matched): the build's files and the
    app's pages for GET / HEAD outside the API's prefixes, ``not_found`` for the rest. Being
    the default, never a route, it cannot shadow a route, nor turn a 404 or 405 of the API
    into something else."""
    index = root / "index.html"

    def answer(path: str, accept: str) -> Response:
        found = _file(root, path)
        if found is not None:
            cache = _IMMUTABLE if path.startswith("assets/") else "no-cache"
            return _send_file(found, cache, accept)
        if path.startswith(("assets/", "vendor/")):  # a missing file, not a page of the app
            return Response("not found", status_code=404, media_type="text/plain")
        if not index.is_file():
            return HTMLResponse(NOT_BUILT, status_code=200, headers={"Cache-Control": "no-cache"})
        return _send_file(index, "no-cache", accept)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or path.startswith(API_PREFIXES):
            await not_found(scope, receive, send)
            return
        accept = Headers(scope=scope).get("accept-encoding", "")
        await answer(path.lstrip("/"), accept)(scope, receive, send)

    return app


def _docs_routes(app: FastAPI, root: Path) -> None:
    vendor = root / "vendor"
    local = (vendor / "swagger-ui-bundle.js").is_file() and (vendor / "redoc.standalone.js").is_file()
    if not local:
        log.info("no dashboard build: Swagger UI and ReDoc load their files from a CDN")
    swagger_js = "/vendor/swagger-ui-bundle.js" if local else None
    swagger_css = "/vendor/swagger-ui.css" if local else None
    redoc_js = "/vendor/redoc.standalone.js" if local else None
    title = app.title
    redirect = "/docs/oauth2-redirect"

    async def swagger(request: Request) -> HTMLResponse:
        extra = {"swagger_js_url": swagger_js, "swagger_css_url": swagger_css} if local else {}
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{title} - Swagger UI",
            oauth2_redirect_url=redirect,
            swagger_ui_parameters=app.swagger_ui_parameters,
            swagger_favicon_url="/favicon.svg" if local else "https://fastapi.tiangolo.com/img/favicon.png",
            **extra,
        )

    async def swagger_redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        extra = (
            {"redoc_js_url": redoc_js, "redoc_favicon_url": "/favicon.svg", "with_google_fonts": False}
            if local
            else {}
        )
        return get_redoc_html(openapi_url="/openapi.json", title=f"{title} - ReDoc", **extra)

    app.add_route("/docs", swagger, include_in_schema=False)
    app.add_route(redirect, swagger_redirect, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)


def install_web(app: FastAPI, root: Path = WEB_DIST) -> None:
    """Add the docs routes and the dashboard (the router's default)."""
    root = root.resolve()
    _docs_routes(app, root)
    app.router.default = _dashboard(root, app.router.default)
