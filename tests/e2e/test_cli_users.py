"""``fstore users``, ``fstore api-keys`` and ``fstore audit``: the first admin comes from the
CLI, and what the CLI creates is what the API authenticates against."""

from __future__ import annotations

import asyncio
import secrets
from typing import TYPE_CHECKING

import httpx
import pytest
from pydantic import SecretStr

from fstore import Settings
from fstore.api import create_app

if TYPE_CHECKING:
    from conftest import Cli

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FSTORE_PASSWORD", PASSWORD)


async def use_the_api(cli: Cli, key: str) -> None:
    """What the CLI created authenticates: the key, and ana's password."""
    settings = Settings(home=cli.home, secret_key=SecretStr(secrets.token_urlsafe(48)))
    app = create_app(settings=settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        me = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {key}"})
        assert me.json() == {"name": "ranker", "role": "editor", "kind": "api_key"}
        login = await client.post("/api/v1/auth/token", data={"username": "ana", "password": PASSWORD})
        token = login.json()["access_token"]
        r = await client.post(
            "/api/v1/entities", json={"name": "shop"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 201


def test_first_admin_users_keys_and_audit(cli: Cli) -> None:
    assert cli.json("users", "create-admin", "root")["role"] == "admin"
    again = cli("users", "create-admin", "other", code=4)
    assert "admin already exists" in again.error_line()
    cli("users", "add", "ana", "--role", "editor")
    assert "unknown role" in cli("users", "add", "bob", "--role", "boss", code=2).error_line()
    assert "at least 8" in cli("users", "add", "bob", "--password", "short", code=2).error_line()
    users = cli.json("users", "list")
    assert [(u["name"], u["role"]) for u in users] == [("ana", "editor"), ("root", "admin")]
    assert all("password_hash" not in u for u in users)
    assert "last enabled admin" in cli("users", "remove", "root", code=5).error_line()
    key = cli.json("api-keys", "create", "ranker", "--role", "editor")
    assert key["key"].startswith("fsk_")

    asyncio.run(use_the_api(cli, key["key"]))

    records = cli.json("audit", "--limit", "5")
    assert [(r["actor"], r["action"], r["outcome"]) for r in records] == [
        ("ana", "POST /api/v1/entities", "ok"),
        ("ana", "POST /api/v1/entities", "started"),  # the intent, stored before the write
        ("ana", "POST /api/v1/auth/token", "ok"),
    ]
    assert cli.json("audit", "--actor", "nobody") == []
    cli("api-keys", "revoke", key["id"])
    assert cli.json("api-keys", "list") == []
    cli("users", "disable", "ana")
    assert {u["name"]: u["disabled"] for u in cli.json("users", "list")}["ana"] is True
