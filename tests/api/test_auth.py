"""Logging in, refreshing, API keys, revocation, the audit trail and the start-up checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from api_helpers import assert_problem
from auth_helpers import PASSWORD, Secured, secured_api
from pydantic import SecretStr

from fstore import FeatureStore, Settings
from fstore.api import create_app
from fstore.auth import Role
from fstore.errors import ConfigurationError

T0 = "2025-01-01T00:00:00Z"
SECRET = "yT4-vK9qLm2_Zx7RbN5wEj3HcP8sUd6F"  # a fixed key that passes the entropy checks


@pytest.fixture
async def api(store: FeatureStore) -> AsyncIterator[Secured]:
    async with secured_api(store) as secured:
        yield secured


async def login(api: Secured, name: str, password: str = PASSWORD) -> dict[str, str]:
    r = await api.client.post("/api/v1/auth/token", data={"username": name, "password": password})
    assert r.status_code == 200, r.text
    body: dict[str, str] = r.json()
    assert body["token_type"] == "bearer" and int(body["expires_in"]) == 15 * 60
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_login_refresh_and_me(api: Secured) -> None:
    tokens = await login(api, "editor")
    me = await api.client.get("/api/v1/auth/me", headers=bearer(tokens["access_token"]))
    assert me.json() == {"name": "editor", "role": "editor", "kind": "user"}
    r = await api.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200, r.text
    fresh = r.json()["access_token"]
    assert (await api.client.get("/api/v1/auth/me", headers=bearer(fresh))).status_code == 200
    # each token does its own job only
    assert_problem(await api.client.get("/api/v1/auth/me", headers=bearer(tokens["refresh_token"])), 401)
    refresh_with_access = {"refresh_token": tokens["access_token"]}
    assert_problem(await api.client.post("/api/v1/auth/refresh", json=refresh_with_access), 401)


async def test_wrong_password_and_unknown_user_look_the_same(api: Secured) -> None:
    wrong = await api.client.post("/api/v1/auth/token", data={"username": "admin", "password": "nope-nope"})
    unknown = await api.client.post("/api/v1/auth/token", data={"username": "ghost", "password": "nope-nope"})
    assert assert_problem(wrong, 401)["detail"] == assert_problem(unknown, 401)["detail"]


async def test_the_last_admin_stays(api: Secured) -> None:
    assert_problem(await api.client.delete("/api/v1/users/admin", headers=api.as_("admin")), 409)
    demote = {"role": "editor"}
    assert_problem(await api.client.patch("/api/v1/users/admin", json=demote, headers=api.as_("admin")), 409)
    assert_problem(await api.client.get("/api/v1/users/ghost", headers=api.as_("admin")), 404)
    dup = {"name": "viewer", "password": PASSWORD}
    assert_problem(await api.client.post("/api/v1/users", json=dup, headers=api.as_("admin")), 409)
    short = {"name": "bob", "password": "short"}
    assert_problem(await api.client.post("/api/v1/users", json=short, headers=api.as_("admin")), 422)


async def test_api_keys_authenticate_until_revoked(api: Secured) -> None:
    r = await api.client.post(
        "/api/v1/api-keys", json={"name": "ranker", "role": "viewer"}, headers=api.as_("admin")
    )
    created = r.json()
    assert created["key"].startswith("fsk_") and created["owner"] == "admin"
    key = bearer(created["key"])
    me = (await api.client.get("/api/v1/auth/me", headers=key)).json()
    assert me == {"name": "ranker", "role": "viewer", "kind": "api_key"}
    listed = (await api.client.get("/api/v1/api-keys", headers=api.as_("admin"))).json()
    assert [k["name"] for k in listed] == ["ranker"] and "key" not in listed[0]
    assert_problem(await api.client.post("/api/v1/entities", json={"name": "shop"}, headers=key), 403)
    revoked = await api.client.delete(f"/api/v1/api-keys/{created['id']}", headers=api.as_("admin"))
    assert revoked.status_code == 204
    assert_problem(await api.client.get("/api/v1/auth/me", headers=key), 401)


async def test_every_write_is_audited_with_its_outcome(api: Secured) -> None:
    await api.client.post(
        "/api/v1/features", json={"name": "age", "entity": "customer"}, headers=api.as_("editor")
    )
    values = {"values": [{"entity_id": "c1", "value": 1.0, "event_timestamp": T0}]}
    await api.client.post("/api/v1/features/age/values/batch", json=values, headers=api.as_("editor"))
    await api.client.delete("/api/v1/features/age", headers=api.as_("editor"))  # admin only
    await api.client.post("/api/v1/entities", json={"name": "9bad"}, headers=api.as_("editor"))
    await api.client.post("/api/v1/entities", json={"name": "x"})  # no token
    await api.client.post("/api/v1/auth/token", data={"username": "viewer", "password": "wrong-password"})
    await api.client.get("/api/v1/features", headers=api.as_("viewer"))  # reads are not audited
    await api.client.post("/api/v1/online/features", json={"features": ["age"], "entities": ["c1"]})

    records = (await api.client.get("/api/v1/audit", headers=api.as_("admin"))).json()
    seen = [(r["actor"], r["action"], r["outcome"], r["details"].get("status")) for r in reversed(records)]
    assert seen == [
        ("editor", "POST /api/v1/features", "started", None),  # the intent, stored before the write
        ("editor", "POST /api/v1/features", "ok", 201),
        ("editor", "POST /api/v1/features/{name}/values/batch", "started", None),
        ("editor", "POST /api/v1/features/{name}/values/batch", "ok", 201),
        ("editor", "DELETE /api/v1/features/{name}", "denied", 403),
        ("editor", "POST /api/v1/entities", "started", None),
        ("editor", "POST /api/v1/entities", "failed", 422),
        (None, "POST /api/v1/entities", "denied", 401),
        ("viewer", "POST /api/v1/auth/token", "denied", 401),
    ]
    assert records[-1]["resource"] == "/api/v1/features" and records[-1]["details"]["role"] == "editor"
    mine = await api.client.get(
        "/api/v1/audit", params={"actor": "editor", "limit": 2}, headers=api.as_("admin")
    )
    assert [(r["action"], r["outcome"]) for r in mine.json()] == [
        ("POST /api/v1/entities", "failed"),
        ("POST /api/v1/entities", "started"),
    ]


async def test_changes_name_the_signed_in_principal(api: Secured) -> None:
    created = await api.client.post(
        "/api/v1/features", json={"name": "age", "entity": "customer"}, headers=api.as_("editor")
    )
    assert created.status_code == 201, created.text
    changed = await api.client.patch(
        "/api/v1/features/age", json={"description": "years"}, headers=api.as_("admin")
    )
    assert changed.status_code == 200 and changed.json()["created_by"] == "admin"
    versions = (await api.client.get("/api/v1/features/age/versions", headers=api.as_("viewer"))).json()
    assert sorted((v["version"], v["created_by"]) for v in versions) == [
        ("1.0.0", "editor"),
        ("1.0.1", "admin"),
    ]
    history = (await api.client.get("/api/v1/history", headers=api.as_("viewer"))).json()
    assert {(h["object_id"], h["actor"]) for h in history if h["object_type"] == "feature"} == {
        ("age", "editor"),
        ("age", "admin"),
    }


async def test_openapi_documents_the_security(api: Secured) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "password"}
    op = spec["paths"]["/api/v1/features"]["post"]
    assert op["x-required-role"] == "editor" and {"401", "403"} <= set(op["responses"])
    assert "security" not in spec["paths"]["/health/live"]["get"]


def test_start_up_refuses_unsafe_settings(tmp_path: Path) -> None:
    home = {"home": tmp_path}
    with pytest.raises(ConfigurationError, match="FSTORE_SECRET_KEY"):
        create_app(settings=Settings(**home))
    with pytest.raises(ConfigurationError, match="at least 32"):
        create_app(settings=Settings(**home, secret_key=SecretStr("changeme")))
    with pytest.raises(ConfigurationError, match="dev mode"):
        create_app(settings=Settings(**home, secret_key=SecretStr(SECRET), auth_disabled=True))
    create_app(settings=Settings(**home, secret_key=SecretStr(SECRET)))
    create_app(settings=Settings(**home, dev_mode=True))  # a throwaway key
    create_app(settings=Settings(**home, dev_mode=True, auth_disabled=True))


async def test_secret_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FSTORE_SECRET_KEY", SECRET)
    tokens = create_app(settings=Settings(home=tmp_path)).state.auth.tokens
    assert tokens.decode(tokens.issue("root", Role.ADMIN, 0, "s1")[0].access_token)["sub"] == "root"


async def test_failed_logins_pause_that_user_from_that_address(store: FeatureStore) -> None:
    async with secured_api(store, login_max_failures=3) as api:
        wrong = {"username": "editor", "password": "not-the-password"}
        for _ in range(3):
            assert_problem(await api.client.post("/api/v1/auth/token", data=wrong), 401)
        right = {"username": "editor", "password": PASSWORD}
        paused = await api.client.post("/api/v1/auth/token", data=right)  # even the right one
        problem = assert_problem(paused, 429)
        assert 0 < int(paused.headers["retry-after"]) <= 300 and problem["retry_after"] > 0
        other = await api.client.post("/api/v1/auth/token", data={"username": "viewer", "password": PASSWORD})
        assert other.status_code == 200  # other users are not affected
        records = (await api.client.get("/api/v1/audit", headers=api.as_("admin"))).json()
        assert [r["outcome"] for r in records if r["actor"] == "editor"] == ["denied"] * 4
