"""Every route × every kind of caller: no token, expired, forged, and each role.

The calls run in an order in which each succeeds for the least role that may make it; before
that, every weaker role must get 403 (and change nothing), and callers without valid
credentials 401. The least role per route is written out here, independently of the policy
table in ``fstore.api.security``; a route missing from CALLS fails the test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from api_helpers import assert_problem
from auth_helpers import PASSWORD, Secured, expired_token, forged_token, secured_api

from fstore import FeatureStore
from fstore.auth import Role

T0 = "2025-01-01T00:00:00Z"
PUBLIC = None
V, E, A = Role.VIEWER, Role.EDITOR, Role.ADMIN


@dataclass
class Call:
    method: str
    route: str  # as in the OpenAPI schema
    least: Role | None
    url: str = ""  # the route with its parameters filled in; defaults to route
    json: Any = None
    data: dict[str, Any] | None = None
    files: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    ok: int = 200


VALUES = {"values": [{"entity_id": f"c{i}", "value": float(i), "event_timestamp": T0} for i in range(1, 4)]}
ROWS = [{"customer_id": "c1", "event_timestamp": "2025-01-02T00:00:00Z"}]

CALLS = [
    Call("GET", "/health/live", PUBLIC),
    Call("GET", "/health/ready", PUBLIC),
    Call("POST", "/api/v1/auth/token", PUBLIC, data={"username": "viewer", "password": PASSWORD}),
    Call("GET", "/api/v1/auth/me", V),
    Call("POST", "/api/v1/entities", E, json={"name": "account"}, ok=201),
    Call("GET", "/api/v1/entities", V),
    Call("GET", "/api/v1/entities/{name}", V, "/api/v1/entities/account"),
    Call(
        "POST",
        "/api/v1/features",
        E,
        json={"name": "amount", "entity": "customer", "transformer": {"kind": "standard_scaler"}},
        ok=201,
    ),
    Call("GET", "/api/v1/features", V),
    Call("GET", "/api/v1/features/{name}", V, "/api/v1/features/amount"),
    Call("PATCH", "/api/v1/features/{name}", E, "/api/v1/features/amount", json={"description": "d"}),
    Call(
        "POST",
        "/api/v1/features/{name}/values",
        E,
        "/api/v1/features/amount/values",
        ok=201,
        json={"entity_id": "c0", "value": 0.5, "event_timestamp": T0},
    ),
    Call(
        "POST",
        "/api/v1/features/{name}/values/batch",
        E,
        "/api/v1/features/amount/values/batch",
        json=VALUES,
        ok=201,
    ),
    Call("GET", "/api/v1/features/{name}/values", V, "/api/v1/features/amount/values"),
    Call("GET", "/api/v1/features/{name}/values/{entity_id}", V, "/api/v1/features/amount/values/c1"),
    Call(
        "POST",
        "/api/v1/features/{name}/versions/fit",
        E,
        "/api/v1/features/amount/versions/fit",
        json={},
        ok=201,
    ),
    Call("GET", "/api/v1/features/{name}/versions", V, "/api/v1/features/amount/versions"),
    Call("GET", "/api/v1/features/{name}/versions/{version}", V, "/api/v1/features/amount/versions/1.0.0"),
    Call(
        "GET",
        "/api/v1/features/{name}/versions/diff",
        V,
        "/api/v1/features/amount/versions/diff",
        params={"from": "1.0.0", "to": "1.1.0"},
    ),
    Call("POST", "/api/v1/online/features", V, json={"features": ["amount"], "entities": ["c1"]}),
    Call("POST", "/api/v1/training-sets", V, json={"entity_rows": ROWS, "features": ["amount"]}),
    Call(
        "POST",
        "/api/v1/training-sets/upload",
        V,
        data={"features": "amount"},
        files={"file": ("rows.csv", b"customer_id,event_timestamp\nc1,2025-01-02T00:00:00Z\n", "text/csv")},
    ),
    Call(
        "POST",
        "/api/v1/features/{name}/transform",
        V,
        "/api/v1/features/amount/transform",
        json={"values": [1.0]},
    ),
    Call("GET", "/api/v1/features/{name}/statistics", V, "/api/v1/features/amount/statistics"),
    Call("GET", "/api/v1/features/{name}/ingestion", V, "/api/v1/features/amount/ingestion"),
    Call(
        "GET",
        "/api/v1/features/{name}/statistics/histogram",
        V,
        "/api/v1/features/amount/statistics/histogram",
    ),
    Call(
        "GET",
        "/api/v1/features/{name}/statistics/timeseries",
        V,
        "/api/v1/features/amount/statistics/timeseries",
    ),
    Call("GET", "/api/v1/overview", V),
    Call("GET", "/api/v1/features/{name}/dependencies", V, "/api/v1/features/amount/dependencies"),
    Call("GET", "/api/v1/features/{name}/dependents", V, "/api/v1/features/amount/dependents"),
    Call("GET", "/api/v1/history", V),
    Call("POST", "/api/v1/materialize", E, json={"features": ["amount"]}),
    Call("POST", "/api/v1/groups", E, json={"name": "g", "entity": "customer"}, ok=201),
    Call("GET", "/api/v1/groups", V),
    Call("GET", "/api/v1/groups/{name}", V, "/api/v1/groups/g"),
    Call("PATCH", "/api/v1/groups/{name}", E, "/api/v1/groups/g", json={"owner": "ana"}),
    Call("POST", "/api/v1/groups/{name}/features/{feature}", E, "/api/v1/groups/g/features/amount"),
    Call("DELETE", "/api/v1/groups/{name}/features/{feature}", E, "/api/v1/groups/g/features/amount"),
    Call(
        "POST",
        "/api/v1/features/{name}/versions/rollback",
        A,
        "/api/v1/features/amount/versions/rollback",
        json={"version": "1.0.0"},
    ),
    Call("POST", "/api/v1/users", A, json={"name": "ana", "password": PASSWORD, "role": "viewer"}, ok=201),
    Call("GET", "/api/v1/users", A),
    Call("GET", "/api/v1/users/{name}", A, "/api/v1/users/ana"),
    Call("PATCH", "/api/v1/users/{name}", A, "/api/v1/users/ana", json={"role": "editor"}),
    Call("DELETE", "/api/v1/users/{name}", A, "/api/v1/users/ana", ok=204),
    Call("POST", "/api/v1/api-keys", A, json={"name": "svc", "role": "viewer"}, ok=201),
    Call("GET", "/api/v1/api-keys", A),
    Call("DELETE", "/api/v1/api-keys/{key_id}", A, "/api/v1/api-keys/{key_id}", ok=204),
    Call("GET", "/api/v1/audit", A),
    Call("DELETE", "/api/v1/groups/{name}", A, "/api/v1/groups/g", ok=204),
    Call("DELETE", "/api/v1/features/{name}", A, "/api/v1/features/amount", ok=204),
    Call("DELETE", "/api/v1/entities/{name}", A, "/api/v1/entities/account", ok=204),
    Call("POST", "/api/v1/auth/refresh", PUBLIC, json={"refresh_token": "{refresh}"}),
    Call("POST", "/api/v1/auth/logout", PUBLIC, json={"refresh_token": "{logout}"}, ok=204),
]


def _fill(value: Any, slots: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**slots) if "{" in value and value.strip("{}") in slots else value
    if isinstance(value, dict):
        return {k: _fill(v, slots) for k, v in value.items()}
    return value


async def _send(api: Secured, call: Call, headers: dict[str, str], slots: dict[str, str]) -> Any:
    url = call.url or call.route
    url = url.replace("{key_id}", slots.get("key_id", "none"))
    return await api.client.request(
        call.method,
        url,
        json=_fill(call.json, slots),
        data=call.data,
        files=call.files,
        params=call.params,
        headers=headers,
    )


@pytest.fixture(params=["embedded", "production"])
def backing_store(request: pytest.FixtureRequest) -> FeatureStore:
    """Embedded: users in SQLite, audit next to the Parquet dataset; production: users in
    MongoDB, audit in PostgreSQL."""
    store: FeatureStore = request.getfixturevalue(
        "store" if request.param == "embedded" else "production_store"
    )
    return store


@pytest.fixture
async def api(backing_store: FeatureStore) -> Any:
    async with secured_api(backing_store) as secured:
        yield secured


async def test_every_route_is_in_the_matrix(api: Secured) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert documented == {(c.method, c.route) for c in CALLS}
    for call in CALLS:
        op = spec["paths"][call.route][call.method.lower()]
        assert op.get("x-required-role") == (call.least.value if call.least else None), call.route


async def test_auth_matrix(api: Secured) -> None:
    bad_credentials = {
        "no token": {},
        "expired": {"Authorization": f"Bearer {expired_token(api.secret)}"},
        "forged": {"Authorization": f"Bearer {forged_token()}"},
        "unknown API key": {"Authorization": "Bearer fsk_000000000000_nope"},
        "not bearer": {"Authorization": f"Basic {api.tokens['admin']}"},
    }
    auth = api.app.state.auth
    slots = {
        "refresh": (await auth.issue("viewer")).refresh_token,
        "logout": (await auth.issue("viewer")).refresh_token,
    }
    for call in CALLS:
        if call.least is not None:
            for label, headers in bad_credentials.items():
                r = await _send(api, call, headers, slots)
                problem = assert_problem(r, 401)
                assert r.headers["www-authenticate"] == "Bearer", (call.route, label)
                assert problem["detail"], (call.route, label)
            weaker = [role for role in Role if call.least.rank > role.rank]
            for role in weaker:
                problem = assert_problem(await _send(api, call, api.as_(role.value), slots), 403)
                assert problem["required"] == call.least.value, call.route
        who = call.least.value if call.least else "viewer"
        r = await _send(api, call, api.as_(who), slots)
        assert r.status_code == call.ok, f"{call.method} {call.route} as {who}: {r.status_code} {r.text}"
        if call.route == "/api/v1/api-keys" and call.method == "POST":
            slots["key_id"] = r.json()["id"]
