"""A real server over an embedded store with a little hand-made data (``client_helpers``),
shared by the whole session so the client tests stay fast. It runs with authentication off
(dev mode); ``secured`` starts one with it on, for each test module that uses it.

Tests that change things use names of their own, so they do not disturb each other.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import pytest
from client_helpers import PASSWORD, Secured, Server, seed
from pydantic import SecretStr

from fstore import Client, FeatureStore, Settings, SyncFeatureStore
from fstore.auth import Role
from server_api import api_server, create_users


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("client") / "home"
    settings = Settings(home=home, actor="tester", dev_mode=True, auth_disabled=True)
    with FeatureStore.sync(settings) as fs:
        seed(fs)
    with api_server(settings) as url:
        yield Server(url, home, settings)


@pytest.fixture
def client(server: Server) -> Iterator[Client]:
    with Client(server.url) as c:
        yield c


@pytest.fixture
def local(server: Server) -> Iterator[SyncFeatureStore]:
    """The same stores, opened locally (as a second process would): the reference answers."""
    with FeatureStore.sync(server.settings) as fs:
        yield fs


async def _users(settings: Settings) -> str:
    """The users and the API key ``Secured`` describes, and the entity ``customer``; returns the key."""
    async with FeatureStore(settings) as fs:
        directory = await create_users(fs, PASSWORD, {"ana": Role.EDITOR, "vic": Role.VIEWER})
        _, key = await directory.create_api_key("ranker", Role.VIEWER, owner="ana")
        await fs.create_entity({"name": "customer"})
        return key


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    """A server with authentication on (a secret key, users, an API key), one per test module."""
    secret = secrets.token_urlsafe(48)
    settings = Settings(home=tmp_path_factory.mktemp("secured"), actor="tester", secret_key=SecretStr(secret))
    key = asyncio.run(_users(settings))
    with api_server(settings) as url:
        yield Secured(url, secret, key, settings)
