"""The token lifecycle: changes to a user void their tokens, refresh tokens rotate and a
replayed one ends its session, logging out ends the session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from api_helpers import assert_problem
from auth_helpers import PASSWORD, Secured, secured_api
from pydantic import SecretStr

from fstore import FeatureStore
from fstore.api import create_app

NEW_PASSWORD = "another long passphrase"


@pytest.fixture
async def api(store: FeatureStore) -> AsyncIterator[Secured]:
    async with secured_api(store) as secured:
        yield secured


async def login(api: Secured, name: str = "editor", password: str = PASSWORD) -> dict[str, str]:
    r = await api.client.post("/api/v1/auth/token", data={"username": name, "password": password})
    assert r.status_code == 200, r.text
    tokens: dict[str, str] = r.json()
    return tokens


def bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def me(api: Secured, tokens: dict[str, str]) -> int:
    return (await api.client.get("/api/v1/auth/me", headers=bearer(tokens))).status_code


async def refresh(api: Secured, tokens: dict[str, str]) -> tuple[int, dict[str, str]]:
    r = await api.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    return r.status_code, r.json()


@pytest.mark.parametrize(
    "change",
    [{"role": "viewer"}, {"password": NEW_PASSWORD}, {"disabled": True}],
    ids=lambda c: next(iter(c)),
)
async def test_a_change_to_the_user_voids_their_tokens(api: Secured, change: dict[str, object]) -> None:
    first, second = await login(api), await login(api)  # two sessions (two devices)
    assert await me(api, first) == 200
    r = await api.client.patch("/api/v1/users/editor", json=change, headers=api.as_("admin"))
    assert r.status_code == 200, r.text
    for tokens in (first, second):
        assert await me(api, tokens) == 401
        status, body = await refresh(api, tokens)
        assert status == 401 and body["reason"] == "revoked"
    others = await login(api, "viewer")  # other users keep working
    assert await me(api, others) == 200
    if "disabled" not in change:
        password = NEW_PASSWORD if "password" in change else PASSWORD
        assert await me(api, await login(api, password=password)) == 200


async def test_an_unchanged_patch_keeps_tokens(api: Secured) -> None:
    tokens = await login(api)
    r = await api.client.patch("/api/v1/users/editor", json={"role": "editor"}, headers=api.as_("admin"))
    assert r.status_code == 200
    assert await me(api, tokens) == 200


async def test_refresh_rotates_and_a_replayed_token_ends_the_session(api: Secured) -> None:
    first = await login(api)
    status, second = await refresh(api, first)
    assert status == 200 and second["refresh_token"] != first["refresh_token"]
    status, third = await refresh(api, second)
    assert status == 200
    assert await me(api, third) == 200 and await me(api, first) == 200  # same session
    other_session = await login(api)
    # a thief replays the first refresh token: refused, and the whole session ends
    status, body = await refresh(api, first)
    assert status == 401 and "already used" in body["detail"]
    assert await me(api, third) == 401
    status, _ = await refresh(api, third)
    assert status == 401
    assert await me(api, other_session) == 200  # another session of the same user is untouched


async def test_logout_ends_the_session(api: Secured) -> None:
    tokens, other = await login(api), await login(api)
    r = await api.client.post("/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 204 and r.headers["cache-control"] == "no-store"
    assert await me(api, tokens) == 401
    assert (await refresh(api, tokens))[0] == 401
    assert await me(api, other) == 200
    # with the access token alone
    r = await api.client.post("/api/v1/auth/logout", headers=bearer(other))
    assert r.status_code == 204
    assert await me(api, other) == 401
    assert_problem(await api.client.post("/api/v1/auth/logout"), 401)
    assert_problem(await api.client.post("/api/v1/auth/logout", json={"refresh_token": "nope"}), 401)
    records = (await api.client.get("/api/v1/audit", headers=api.as_("admin"))).json()
    logouts = [r for r in records if r["action"] == "POST /api/v1/auth/logout"]
    assert [(r["actor"], r["outcome"]) for r in logouts if r["outcome"] == "ok"] == [("editor", "ok")] * 2


async def test_spent_refresh_tokens_are_shared_through_the_metadata_store(store: FeatureStore) -> None:
    """Two server processes over one store: a token spent on one is spent on the other."""
    async with secured_api(store) as one:
        tokens = await login(one)
        status, _ = await refresh(one, tokens)
        assert status == 200
        two = create_app(store, store.settings.model_copy(update={"secret_key": SecretStr(one.secret)}))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=two), base_url="http://two") as c:
            r = await c.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
            assert r.status_code == 401 and "already used" in r.json()["detail"]
        assert await me(one, tokens) == 401
