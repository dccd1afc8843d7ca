"""The clients against a server with authentication on: login, the bearer credential (token,
API key, ``FSTORE_TOKEN``), refreshing an expired access token once, 401/403 mapping."""

from __future__ import annotations

import asyncio

import pytest
from client_helpers import PASSWORD, Secured

from fstore import AsyncClient, Client
from fstore.errors import AuthenticationError, PermissionDeniedError


def test_login_and_roles(secured: Secured) -> None:
    with Client.login(secured.url, "ana", PASSWORD) as ana:
        assert ana.whoami() == {"name": "ana", "role": "editor", "kind": "user"}
        assert ana.token is not None and ana.token.count(".") == 2  # a JWT
        ana.create_feature({"name": "age", "entity": "customer"})
    with Client.login(secured.url, "vic", PASSWORD) as vic:
        assert [f.name for f in vic.list_features()] == ["age"]
        with pytest.raises(PermissionDeniedError, match="editor") as caught:
            vic.store_feature_value("age", "c1", 30.0)
        assert caught.value.details["required"] == "editor"
    with pytest.raises(AuthenticationError):
        Client.login(secured.url, "ana", "wrong password")


def test_credentials_from_the_argument_or_the_environment(
    secured: Secured, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FSTORE_TOKEN", raising=False)
    with Client(secured.url) as anonymous, pytest.raises(AuthenticationError, match="bearer") as caught:
        anonymous.list_entities()
    assert caught.value.exit_code == 8
    with Client(secured.url, token=secured.api_key) as keyed:
        assert keyed.whoami() == {"name": "ranker", "role": "viewer", "kind": "api_key"}
    monkeypatch.setenv("FSTORE_TOKEN", secured.api_key)
    with Client(secured.url) as from_env:
        assert from_env.whoami()["name"] == "ranker"


def test_an_expired_access_token_is_refreshed_once(secured: Secured) -> None:
    with Client.login(secured.url, "ana", PASSWORD) as ana:
        ana.token = secured.expired("ana")
        assert [e.name for e in ana.list_entities()] == ["customer"]  # refreshed, then retried
        assert ana.token != secured.expired("ana")
        ana.refresh()
        assert ana.whoami()["name"] == "ana"
    with Client(secured.url, token=secured.expired("ana")) as stale:  # no refresh token: final
        with pytest.raises(AuthenticationError, match="expired"):
            stale.list_entities()
        with pytest.raises(AuthenticationError, match="log in"):
            stale.refresh()


async def test_async_login_and_refresh(secured: Secured) -> None:
    aio = await AsyncClient.login(secured.url, "ana", PASSWORD)
    async with aio:
        aio.token = secured.expired("ana")
        results = await asyncio.gather(*(aio.get_entity("customer") for _ in range(5)))
        assert {e.name for e in results} == {"customer"}
        assert (await aio.whoami())["role"] == "editor"
    with pytest.raises(AuthenticationError):
        await AsyncClient.login(secured.url, "vic", "nope")


def test_logout_ends_the_session_for_every_holder(secured: Secured) -> None:
    with (
        Client.login(secured.url, "ana", PASSWORD) as ana,
        Client.login(secured.url, "ana", PASSWORD) as laptop,
    ):
        stolen = ana.token
        ana.logout()
        assert ana.token is None
        with Client(secured.url, token=stolen) as thief, pytest.raises(AuthenticationError, match="session"):
            thief.whoami()
        assert laptop.whoami()["name"] == "ana"  # another session goes on
        with pytest.raises(AuthenticationError, match="not logged in"):
            ana.logout()


async def test_async_logout(secured: Secured) -> None:
    aio = await AsyncClient.login(secured.url, "vic", PASSWORD)
    async with aio:
        token = aio.token
        await aio.logout()
    async with AsyncClient(secured.url, token=token) as stale:
        with pytest.raises(AuthenticationError):
            await stale.whoami()
