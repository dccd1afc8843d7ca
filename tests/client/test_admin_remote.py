"""Users, API keys and the audit log over HTTP, with authentication on: the clients' admin
operations (``Directory``'s names, the offline store's ``list_audit``) and
``fstore --url … --token … users / api-keys / audit``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from client_helpers import PASSWORD, Secured, fstore
from typer.testing import Result

from fstore import AsyncClient, Client, FeatureStore
from fstore.auth import ApiKey, Directory, Role, User
from fstore.errors import (
    AlreadyExistsError,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
)


def audited(admin: Client, actor: str, since: datetime, count: int) -> list[dict[str, Any]]:
    """The actor's outcome records since ``since`` (not the intents written before each write),
    newest first, once there are ``count``."""
    deadline = time.monotonic() + 10
    while True:
        records = [r for r in admin.list_audit(actor=actor, since=since) if r["outcome"] != "started"]
        if len(records) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.02)


def test_users_keys_and_the_audit_log(secured: Secured) -> None:
    started = datetime.now(UTC)
    with Client.login(secured.url, "root", PASSWORD) as admin:
        created = admin.create_user("uma", PASSWORD, "editor")
        assert isinstance(created, User) and (created.role, created.disabled) == (Role.EDITOR, False)
        assert admin.get_user("uma") == created
        assert created in admin.list_users() and "root" in {u.name for u in admin.list_users()}
        with pytest.raises(AlreadyExistsError):
            admin.create_user("uma", PASSWORD, Role.VIEWER)
        updated = admin.update_user("uma", role=Role.VIEWER, disabled=True)
        assert (updated.role, updated.disabled) == (Role.VIEWER, True)
        assert admin.update_user("uma", password="another passphrase", disabled=False).disabled is False
        Client.login(secured.url, "uma", "another passphrase").close()
        with pytest.raises(ConflictError, match="last enabled admin"):
            admin.update_user("root", role="viewer")

        record, key = admin.create_api_key("uma-svc", Role.EDITOR, owner="ignored")
        assert isinstance(record, ApiKey) and key.startswith("fsk_")
        assert (record.name, record.role, record.owner) == ("uma-svc", Role.EDITOR, "root")  # the caller
        assert record in admin.list_api_keys()
        with Client(secured.url, token=key) as keyed:
            assert keyed.whoami() == {"name": "uma-svc", "role": "editor", "kind": "api_key"}
            admin.revoke_api_key(record.id)
            with pytest.raises(AuthenticationError, match="revoked"):
                keyed.whoami()
        assert record.id not in {k.id for k in admin.list_api_keys()}
        with pytest.raises(NotFoundError):
            admin.revoke_api_key(record.id)

        admin.delete_user("uma")
        with pytest.raises(NotFoundError):
            admin.get_user("uma")

        records = audited(admin, "root", started, 10)
        assert [(r["action"], r["outcome"], r["details"]["status"]) for r in reversed(records)] == [
            ("POST /api/v1/auth/token", "ok", 200),
            ("POST /api/v1/users", "ok", 201),
            ("POST /api/v1/users", "failed", 409),
            ("PATCH /api/v1/users/{name}", "ok", 200),
            ("PATCH /api/v1/users/{name}", "ok", 200),
            ("PATCH /api/v1/users/{name}", "failed", 409),
            ("POST /api/v1/api-keys", "ok", 201),
            ("DELETE /api/v1/api-keys/{key_id}", "ok", 204),
            ("DELETE /api/v1/api-keys/{key_id}", "failed", 404),
            ("DELETE /api/v1/users/{name}", "ok", 204),
        ]
        assert records[0]["resource"] == "/api/v1/users/uma" and records[0]["actor"] == "root"
        assert all(isinstance(r["at"], datetime) and r["at"] >= started for r in records)
        assert [r["id"] for r in admin.list_audit(limit=1)] == [records[0]["id"]]


async def test_the_async_client_answers_what_the_stores_hold(secured: Secured) -> None:
    started = datetime.now(UTC)
    admin = await AsyncClient.login(secured.url, "root", PASSWORD)
    with Client(secured.url, token=secured.token("root")) as waiter:
        audited(waiter, "root", started, 1)  # the login's record, written after its response
    async with admin:
        there = (await admin.list_users(), await admin.list_api_keys(), await admin.list_audit(limit=20))
        assert await admin.get_user("vic") in there[0]
    async with FeatureStore(secured.settings) as fs:
        directory = Directory(fs.metadata)
        here = (
            await directory.list_users(),
            await directory.list_api_keys(),
            await fs.offline.list_audit(20),
        )
    assert there == here


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("list_users", ()),
        ("get_user", ("ana",)),
        ("create_user", ("eve", PASSWORD, "admin")),
        ("update_user", ("vic",)),
        ("delete_user", ("ana",)),
        ("create_api_key", ("mine", "admin")),
        ("list_api_keys", ()),
        ("revoke_api_key", ("0123456789ab",)),
        ("list_audit", ()),
    ],
)
def test_only_admins_may(secured: Secured, method: str, args: tuple[Any, ...]) -> None:
    denied = pytest.raises(PermissionDeniedError, match="needs the admin role; vic is viewer")
    with Client(secured.url, token=secured.token("vic")) as viewer, denied as caught:
        getattr(viewer, method)(*args)
    assert caught.value.details["required"] == "admin"


def test_the_cli_with_a_url_and_a_token(secured: Secured) -> None:
    started = datetime.now(UTC)

    def admin(*args: str, code: int = 0) -> Result:
        remote = ("--url", secured.url, "--token", secured.token("root"))
        return fstore(*remote, *args, code=code, env={"FSTORE_PASSWORD": PASSWORD})

    assert admin("users", "add", "cli-ed", "--role", "editor").stdout == "created user cli-ed (editor)\n"
    assert "unknown role" in admin("users", "add", "cli-x", "--role", "boss", code=2).stderr
    admin("users", "set-role", "cli-ed", "viewer")
    admin("users", "disable", "cli-ed")
    users = {u["name"]: u for u in json.loads(admin("users", "list", "--json").stdout)}
    assert (users["cli-ed"]["role"], users["cli-ed"]["disabled"]) == ("viewer", True)
    assert {"root", "ana", "vic"} <= set(users)
    admin("users", "enable", "cli-ed")
    assert "last enabled admin" in admin("users", "remove", "root", code=5).stderr

    key = json.loads(admin("api-keys", "create", "cli-svc", "--role", "editor", "--json").stdout)
    assert (key["name"], key["role"], key["owner"]) == ("cli-svc", "editor", "root")
    with Client(secured.url, token=key["key"]) as keyed:
        assert keyed.whoami() == {"name": "cli-svc", "role": "editor", "kind": "api_key"}
        assert key["id"] in admin("api-keys", "list").stdout
        assert admin("api-keys", "revoke", key["id"]).stdout == f"revoked API key {key['id']}\n"
        with pytest.raises(AuthenticationError):
            keyed.whoami()
    admin("users", "remove", "cli-ed")

    with Client(secured.url, token=secured.token("root")) as client:
        records = audited(client, "root", started, 8)
    assert [r["action"] for r in reversed(records)] == [
        "POST /api/v1/users",
        "PATCH /api/v1/users/{name}",
        "PATCH /api/v1/users/{name}",
        "PATCH /api/v1/users/{name}",
        "DELETE /api/v1/users/{name}",  # refused: the last admin
        "POST /api/v1/api-keys",
        "DELETE /api/v1/api-keys/{key_id}",
        "DELETE /api/v1/users/{name}",
    ]
    audit = ("audit", "--json", "--actor", "root", "--limit", "16")
    printed = admin(*audit).stdout
    outcomes = [r["outcome"] for r in json.loads(printed)]
    assert [o for o in outcomes if o != "started"] == ["ok", "ok", "ok", "failed", *["ok"] * 4]
    assert printed == fstore("--home", str(secured.settings.home), *audit).stdout  # as on the stores
    since = ("--since", started.strftime("%Y-%m-%dT%H:%M:%S"))
    assert json.loads(admin("audit", "--json", "--actor", "nobody", *since).stdout) == []
    assert "Audit log" in admin("audit", "--limit", "3").stdout
    assert "works on the local stores only" in admin("users", "create-admin", "other", code=2).stderr


def test_the_client_needs_no_server_libraries() -> None:
    """``fstore[client]`` is httpx alone: the admin operations' models load without argon2,
    PyJWT or FastAPI."""
    code = "import sys, fstore.client; print(sorted({'argon2', 'jwt', 'fastapi'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
