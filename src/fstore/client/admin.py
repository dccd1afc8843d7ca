"""The admin half of the client: users, service API keys and the audit log (admin only).

Names and arguments follow ``fstore.auth.Directory`` and the offline store's ``list_audit``,
so the CLI's ``users``, ``api-keys`` and ``audit`` commands run the same code on either.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fstore.auth import ApiKey, Role, User
from fstore.client.http import Exchange, Steps, operation, path
from fstore.errors import AuthenticationError


class AdminOperations(Exchange):
    # -- the session (any user) -------------------------------------------------------------------

    @operation
    def logout(self) -> Steps[None]:
        """End the session this client logged in with: its access and refresh tokens stop
        working on the server (for every holder) and the client forgets them."""
        session = self._session
        if session.refresh_token:
            body = {"refresh_token": session.refresh_token}
            yield from self._json("POST", path("auth", "logout"), json=body, authenticated=False)
        elif session.access_token:
            yield from self._json("POST", path("auth", "logout"), authenticated=True)
        else:
            raise AuthenticationError("not logged in", reason="missing")
        session.access_token = session.refresh_token = None

    # -- users ----------------------------------------------------------------------------------

    @operation
    def create_user(self, name: str, password: str, role: Role | str) -> Steps[User]:
        """Add a user with a password and a role (admins only)."""
        body = {"name": name, "password": password, "role": role}
        return User.model_validate((yield from self._json("POST", path("users"), json=body)))

    @operation
    def list_users(self) -> Steps[list[User]]:
        """Every user (admins only)."""
        return [User.model_validate(u) for u in (yield from self._json("GET", path("users")))]

    @operation
    def get_user(self, name: str) -> Steps[User]:
        """The user named ``name`` (admins only)."""
        return User.model_validate((yield from self._json("GET", path("users", name))))

    @operation
    def update_user(
        self,
        name: str,
        *,
        role: Role | str | None = None,
        password: str | None = None,
        disabled: bool | None = None,
    ) -> Steps[User]:
        """Change a user's role, password or status (what is None stays as it is)."""
        changes = {"role": role, "password": password, "disabled": disabled}
        body = {k: v for k, v in changes.items() if v is not None}
        return User.model_validate((yield from self._json("PATCH", path("users", name), json=body)))

    @operation
    def delete_user(self, name: str) -> Steps[None]:
        """Remove a user (admins only)."""
        yield from self._json("DELETE", path("users", name))

    # -- API keys -------------------------------------------------------------------------------

    @operation
    def create_api_key(
        self, name: str, role: Role | str, owner: str | None = None
    ) -> Steps[tuple[ApiKey, str]]:
        """The key's record and the key itself (returned only here). The server records the
        caller as the key's ``owner``: the argument is there for ``Directory``'s signature and
        is not sent."""
        data = yield from self._json("POST", path("api-keys"), json={"name": name, "role": role})
        key = str(data.pop("key"))
        return ApiKey.model_validate(data), key

    @operation
    def list_api_keys(self) -> Steps[list[ApiKey]]:
        """The API keys' records, never the keys themselves (admins only)."""
        return [ApiKey.model_validate(k) for k in (yield from self._json("GET", path("api-keys")))]

    @operation
    def revoke_api_key(self, key_id: str) -> Steps[None]:
        """Revoke an API key by its id (admins only): requests with it fail from now on."""
        yield from self._json("DELETE", path("api-keys", key_id))

    # -- the audit log --------------------------------------------------------------------------

    @operation
    def list_audit(
        self, limit: int = 100, actor: str | None = None, since: datetime | str | None = None
    ) -> Steps[list[dict[str, Any]]]:
        """The newest audit records first, at most ``limit``; by ``actor``; ``at`` at or after
        ``since``: dicts with ``id``, ``at`` (a datetime, UTC), ``actor``, ``action``,
        ``resource``, ``outcome`` and ``details``, as the offline store's ``list_audit``."""
        params = {"limit": limit, "actor": actor, "since": since}
        records: list[dict[str, Any]] = yield from self._json("GET", path("audit"), params=params)
        for record in records:
            record["at"] = datetime.fromisoformat(record["at"])
        return records
