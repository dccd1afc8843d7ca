"""Every route answers a method it does not take with 405 and the real ``Allow`` header."""

from __future__ import annotations

import re

import httpx

from fstore.api.errors import api_routes

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _sample(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path.replace("{version:semver}", "1.0.0"))


def _documented(path: str) -> str:
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


async def test_405_names_the_allowed_methods_on_every_route(client: httpx.AsyncClient) -> None:
    app = client._transport.app  # type: ignore[attr-defined]
    routes = list(api_routes(app.router.routes))
    documented = {p for p in (await client.get("/openapi.json")).json()["paths"]}
    assert {_documented(r.path) for r in routes} >= documented  # every route, those of included routers too
    checked = 0
    for route in routes:
        url = _sample(route.path)
        # the methods of every route this URL matches, as the most specific ones decide
        matching = [r for r in routes if r.path_regex.match(url)]
        fewest = min(len(r.param_convertors) for r in matching)
        allowed = {m for r in matching if len(r.param_convertors) == fewest for m in r.methods}
        routed = {m for r in matching for m in r.methods}  # a less specific route takes these
        for method in METHODS:
            if method in routed:
                continue
            r = await client.request(method, url)
            assert r.status_code == 405, (method, url, r.status_code)
            assert set(r.headers["allow"].split(", ")) == allowed, (method, url, r.headers["allow"])
            assert r.headers["content-type"].startswith("application/problem+json")
            checked += 1
    assert checked > 50
