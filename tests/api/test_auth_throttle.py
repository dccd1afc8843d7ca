"""Login throttling through the API: spraying from one address, X-Forwarded-For only from
trusted proxies, and counters shared by server processes through Redis."""

from __future__ import annotations

from uuid import uuid4

import pytest
from api_helpers import assert_problem
from auth_helpers import PASSWORD, secured_api

from fstore import FeatureStore

WRONG = "not-the-password"


def form(name: str, password: str = WRONG) -> dict[str, str]:
    return {"username": name, "password": password}


def via(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": f"203.0.113.50, {address}"}


async def test_spraying_many_users_from_one_address_pauses_that_address(store: FeatureStore) -> None:
    async with secured_api(store, login_address_max_failures=3) as api:
        for name in ("viewer", "editor", "ghost"):
            assert_problem(await api.client.post("/api/v1/auth/token", data=form(name)), 401)
        r = await api.client.post("/api/v1/auth/token", data=form("admin", PASSWORD))
        problem = assert_problem(r, 429)
        assert "from this address" in problem["detail"] and int(r.headers["retry-after"]) > 0


async def test_forwarded_for_counts_only_from_trusted_proxies(store: FeatureStore) -> None:
    # the test client's peer address is 127.0.0.1
    async with secured_api(store, login_max_failures=2, trusted_proxies=["127.0.0.0/8"]) as api:
        for _ in range(2):
            r = await api.client.post("/api/v1/auth/token", data=form("editor"), headers=via("198.51.100.1"))
            assert_problem(r, 401)
        paused = await api.client.post(
            "/api/v1/auth/token", data=form("editor", PASSWORD), headers=via("198.51.100.1")
        )
        assert_problem(paused, 429)
        # the same user from another client behind the same proxy is not paused
        ok = await api.client.post(
            "/api/v1/auth/token", data=form("editor", PASSWORD), headers=via("198.51.100.2")
        )
        assert ok.status_code == 200, ok.text
    async with secured_api(store, login_max_failures=2) as api:  # no trusted proxy: the header is ignored
        for i in range(2):
            r = await api.client.post(
                "/api/v1/auth/token", data=form("editor"), headers=via(f"198.51.100.{i}")
            )
            assert_problem(r, 401)
        spoofed = await api.client.post(
            "/api/v1/auth/token", data=form("editor", PASSWORD), headers=via("198.51.100.9")
        )
        assert_problem(spoofed, 429)


async def test_a_successful_login_resets_its_address(store: FeatureStore) -> None:
    async with secured_api(store, login_max_failures=3, login_address_max_failures=3) as api:
        for _ in range(2):
            assert_problem(await api.client.post("/api/v1/auth/token", data=form("editor")), 401)
        assert (await api.client.post("/api/v1/auth/token", data=form("editor", PASSWORD))).status_code == 200
        for _ in range(2):  # the count started over
            assert_problem(await api.client.post("/api/v1/auth/token", data=form("editor")), 401)
        assert (await api.client.post("/api/v1/auth/token", data=form("editor", PASSWORD))).status_code == 200


async def test_counters_are_shared_through_redis(store: FeatureStore, redis_url: str) -> None:
    """Two apps (two server processes) over one Redis: failures on one pause logins on the other."""
    shared = {"login_max_failures": 2, "rate_limit_url": f"{redis_url}?prefix=fstore_test_{uuid4().hex[:8]}:"}
    async with secured_api(store, **shared) as one, secured_api(store, **shared) as two:
        user = f"u{uuid4().hex[:6]}"
        for api in (one, two):
            assert_problem(await api.client.post("/api/v1/auth/token", data=form(user)), 401)
        for api in (one, two):
            assert_problem(await api.client.post("/api/v1/auth/token", data=form(user)), 429)


async def test_the_throttle_store_down_refuses_logins(store: FeatureStore) -> None:
    async with secured_api(store, rate_limit_url="redis://127.0.0.1:1/0") as api:
        r = await api.client.post("/api/v1/auth/token", data=form("editor", PASSWORD))
        assert_problem(r, 503)


@pytest.mark.parametrize("proxies", [["nonsense"], ["10.0.0.0/33"]])
async def test_bad_trusted_proxies_are_a_configuration_error(store: FeatureStore, proxies: list[str]) -> None:
    from fstore.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="FSTORE_TRUSTED_PROXIES"):
        async with secured_api(store, trusted_proxies=proxies):
            pass
