"""Helpers shared by the API tests."""

from typing import Any

import httpx

PROBLEM = "application/problem+json"


async def make_feature(client: httpx.AsyncClient, name: str = "age", **extra: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/features", json={"name": name, "entity": "customer", **extra})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def assert_problem(r: httpx.Response, status: int) -> dict[str, Any]:
    """A problem+json body with the given status."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"]
    return body
