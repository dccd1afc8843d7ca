"""``fstore users …``, ``fstore api-keys …`` and ``fstore audit``: who may use the REST API,
and what they did.

Locally they act on the configured stores directly (whoever can open the stores is already
trusted), which is how the first admin comes to exist: ``users create-admin`` works only
there. With ``--url`` they go through the server's admin routes: the commands call the same
methods on a ``Directory`` or on the client (``run_part``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from fstore.cli.options import JsonOpt
from fstore.cli.output import emit, message, table
from fstore.cli.runner import LocalCommand, run_part

if TYPE_CHECKING:
    from fstore.auth import Directory
    from fstore.backends.offline.base import OfflineStore

T = TypeVar("T")

app = typer.Typer(help="Users of the REST API and their roles.", no_args_is_help=True)
keys_app = typer.Typer(help="Service API keys for the REST API.", no_args_is_help=True)

ROLES = ("viewer", "editor", "admin")
Password = Annotated[
    str,
    typer.Option(
        "--password",
        envvar="FSTORE_PASSWORD",
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        help="The password (prompted for when not given; or FSTORE_PASSWORD).",
    ),
]
RoleOpt = Annotated[str, typer.Option("--role", "-r", help="viewer, editor or admin.")]


def _directory(fn: Callable[[Directory], Awaitable[T]]) -> T:
    """``fn`` on the users' ``Directory`` over the local metadata store, or on the ``--url``
    server's client (same methods)."""
    from fstore.auth import Directory

    return run_part(lambda store: Directory(store.metadata), fn)


def _role(value: str) -> Any:
    from fstore.auth import Role
    from fstore.errors import ValidationError

    try:
        return Role(value)
    except ValueError:
        raise ValidationError(f"unknown role {value!r}: use {', '.join(ROLES)}", field="role") from None


def _user_row(u: Any) -> list[Any]:
    return [u.name, u.role.value, "disabled" if u.disabled else "enabled", u.created_at]


@app.command("create-admin", cls=LocalCommand)  # bootstrapping needs the stores themselves
def create_admin(
    name: Annotated[str, typer.Argument(help="The admin's user name.")],
    password: Password,
    as_json: JsonOpt = False,
) -> None:
    """Create the first admin (refused once an admin exists: add more with `users add`)."""
    user = _directory(lambda d: d.create_first_admin(name, password))
    emit(user, as_json, f"created admin {user.name}")


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="User name.")],
    password: Password,
    role: RoleOpt = "viewer",
    as_json: JsonOpt = False,
) -> None:
    """Add a user with a role."""
    user = _directory(lambda d: d.create_user(name, password, _role(role)))
    emit(user, as_json, f"created user {user.name} ({user.role.value})")


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """List users."""
    users = _directory(lambda d: d.list_users())
    emit(users, as_json, lambda: table(["name", "role", "status", "created"], map(_user_row, users), "Users"))


@app.command("set-role")
def set_role(name: Annotated[str, typer.Argument()], role: Annotated[str, typer.Argument()]) -> None:
    """Change a user's role."""
    user = _directory(lambda d: d.update_user(name, role=_role(role)))
    message(f"{user.name} is now {user.role.value}")


@app.command("disable")
def disable(name: Annotated[str, typer.Argument()]) -> None:
    """Disable a user: their tokens stop working at once."""
    _directory(lambda d: d.update_user(name, disabled=True))
    message(f"disabled {name}")


@app.command("enable")
def enable(name: Annotated[str, typer.Argument()]) -> None:
    """Enable a disabled user."""
    _directory(lambda d: d.update_user(name, disabled=False))
    message(f"enabled {name}")


@app.command("remove")
def remove(name: Annotated[str, typer.Argument()]) -> None:
    """Delete a user."""
    _directory(lambda d: d.delete_user(name))
    message(f"removed {name}")


@keys_app.command("create")
def create_key(
    name: Annotated[str, typer.Argument(help="What the key is for, e.g. ranking-service.")],
    role: RoleOpt = "viewer",
    as_json: JsonOpt = False,
) -> None:
    """Create an API key; the key is printed once and stored only hashed."""
    record, key = _directory(lambda d: d.create_api_key(name, _role(role)))
    if as_json:
        emit({**record.model_dump(mode="json"), "key": key}, True)
    else:
        what = f"{record.id} for {record.name} ({record.role.value})"
        message(f"created API key {what}; keep it, it is not shown again:")
        typer.echo(key)


@keys_app.command("list")
def list_keys(as_json: JsonOpt = False) -> None:
    """List API keys (never the keys themselves)."""
    keys = _directory(lambda d: d.list_api_keys())
    rows = ([k.id, k.name, k.role.value, k.owner, k.created_at] for k in keys)
    emit(keys, as_json, lambda: table(["id", "name", "role", "owner", "created"], rows, "API keys"))


@keys_app.command("revoke")
def revoke_key(key_id: Annotated[str, typer.Argument(help="The key's id (see `api-keys list`).")]) -> None:
    """Revoke an API key: it stops working at once."""
    _directory(lambda d: d.revoke_api_key(key_id))
    message(f"revoked API key {key_id}")


def audit(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Newest records to show.")] = 50,
    actor: Annotated[str | None, typer.Option("--actor", help="Only this user or key.")] = None,
    since: Annotated[
        datetime | None, typer.Option("--since", help="Only records at or after this time.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The audit log of the REST API: every write, who made it, when, and the outcome."""

    async def fetch(log: OfflineStore) -> list[dict[str, Any]]:
        return await log.list_audit(limit=limit, actor=actor, since=since)

    records = run_part(lambda store: store.offline, fetch)
    rows = ([r["at"], r["actor"], r["action"], r["resource"], r["outcome"]] for r in records)
    emit(records, as_json, lambda: table(["at", "actor", "action", "resource", "outcome"], rows, "Audit log"))
