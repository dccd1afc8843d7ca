"""A real server over an embedded store with a little hand-made data (``client_helpers``),
shared by the whole session so the client tests stay fast. It runs with authentication off
(dev mode); ``test_client_auth.py`` starts one with it on.

Tests that change things use names of their own, so they do not disturb each other.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from client_helpers import Server, seed

from fstore import Client, FeatureStore, Settings, SyncFeatureStore
from server_api import api_server


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
