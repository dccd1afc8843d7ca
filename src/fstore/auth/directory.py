"""Users and service API keys, kept in the metadata store (kinds ``users`` and ``api_keys``).

Requests are authenticated against a snapshot of both, re-read only when the metadata
store's ``generation()`` says another client wrote (or this one did): a disabled user, a
changed role or a revoked key takes effect on the next request, at the cost of a dict lookup.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fstore.auth.models import ApiKey, User
from fstore.auth.models import UserName as UserName  # re-exported
from fstore.auth.passwords import dummy_hash, hash_password, needs_rehash, verify_password
from fstore.auth.roles import Principal, Role
from fstore.backends.metadata.base import Delete, Kind, MetadataStore, Put
from fstore.errors import AlreadyExistsError, AuthenticationError, ConflictError, NotFoundError

API_KEY_PREFIX = "fsk_"


def _now() -> datetime:
    return datetime.now(UTC)


def _key_digest(key: str) -> str:
    # keys carry 256 random bits: a fast hash is enough (argon2 is for guessable passwords)
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass
class _Snapshot:
    generation: tuple[int, int] | None = None
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)  # by digest


class Directory:
    def __init__(self, metadata: MetadataStore) -> None:
        self.metadata = metadata
        self.revision = 0  # own writes (the embedded store's generation ignores them)
        self._snapshot = _Snapshot()

    async def _write(self, ops: list[Put | Delete]) -> None:
        try:
            await self.metadata.write(ops)
        finally:
            self.revision += 1

    async def _current(self) -> _Snapshot:
        generation = (await self.metadata.generation(), self.revision)
        if generation != self._snapshot.generation:
            users = {d["name"]: d for d in await self.metadata.list(Kind.USERS)}
            keys = {d["key_hash"]: d for d in await self.metadata.list(Kind.API_KEYS)}
            self._snapshot = _Snapshot(generation, users, keys)
        return self._snapshot

    # -- users ----------------------------------------------------------------------------------

    async def _user_doc(self, name: str) -> dict[str, Any]:
        doc = await self.metadata.get(Kind.USERS, name)
        if doc is None:
            raise NotFoundError(f"user {name!r} not found", user=name)
        return doc

    async def get_user(self, name: str) -> User:
        return _user(await self._user_doc(name))

    async def list_users(self) -> list[User]:
        return [_user(d) for d in await self.metadata.list(Kind.USERS)]

    async def create_user(self, name: str, password: str, role: Role | str) -> User:
        now = _now()
        user = User(name=name, role=Role(role), created_at=now, updated_at=now)
        doc = {**user.model_dump(mode="json"), "password_hash": hash_password(password)}
        await self._write([Put(Kind.USERS, user.name, doc, create_only=True)])
        return user

    async def create_first_admin(self, name: str, password: str) -> User:
        """The bootstrap admin; refused once any admin exists (add more with ``create_user``)."""
        admins = [u.name for u in await self.list_users() if u.role is Role.ADMIN]
        if admins:
            raise AlreadyExistsError(f"an admin already exists ({', '.join(admins)})", user=admins[0])
        return await self.create_user(name, password, Role.ADMIN)

    async def update_user(
        self,
        name: str,
        *,
        role: Role | str | None = None,
        password: str | None = None,
        disabled: bool | None = None,
    ) -> User:
        doc = dict(await self._user_doc(name))
        if role is not None:
            doc["role"] = Role(role).value
        if disabled is not None:
            doc["disabled"] = disabled
        if password is not None:
            doc["password_hash"] = hash_password(password)
        doc["updated_at"] = _now().isoformat()
        if doc["role"] != Role.ADMIN.value or doc.get("disabled"):
            await self._keep_an_admin(name)
        await self._write([Put(Kind.USERS, name, doc)])
        return _user(doc)

    async def delete_user(self, name: str) -> None:
        await self._user_doc(name)
        await self._keep_an_admin(name)
        await self._write([Delete(Kind.USERS, name, must_exist=True)])

    async def _keep_an_admin(self, leaving: str) -> None:
        """Refuse a change that would take away the last enabled admin."""
        admins = {u.name for u in await self.list_users() if u.role is Role.ADMIN and not u.disabled}
        if admins == {leaving}:
            message = f"{leaving!r} is the last enabled admin; make another admin first"
            raise ConflictError(message, user=leaving)

    # -- authentication -------------------------------------------------------------------------

    async def authenticate(self, name: str, password: str) -> Principal:
        """The user's principal if the password is right and the user is enabled."""
        doc = await self.metadata.get(Kind.USERS, name)
        hashed = doc["password_hash"] if doc else dummy_hash()
        if not verify_password(hashed, password) or doc is None or doc.get("disabled"):
            raise AuthenticationError("wrong user name or password, or the user is disabled")
        if needs_rehash(hashed):
            doc = {**doc, "password_hash": hash_password(password)}
            await self._write([Put(Kind.USERS, name, doc)])
        return Principal(name, Role(doc["role"]), "user")

    async def user_principal(self, name: str) -> Principal:
        """The current principal of a token's subject (role as it is now; deleted or disabled
        users are refused)."""
        doc = (await self._current()).users.get(name)
        if doc is None or doc.get("disabled"):
            raise AuthenticationError("the token's user no longer exists or is disabled", reason="revoked")
        return Principal(name, Role(doc["role"]), "user")

    async def key_principal(self, key: str) -> Principal:
        doc = (await self._current()).keys.get(_key_digest(key))
        if doc is None:
            raise AuthenticationError("unknown or revoked API key", reason="invalid")
        return Principal(doc["name"], Role(doc["role"]), "api_key")

    # -- API keys -------------------------------------------------------------------------------

    async def create_api_key(
        self, name: str, role: Role | str, owner: str | None = None
    ) -> tuple[ApiKey, str]:
        """The key's record and the key itself (returned only here)."""
        key_id = secrets.token_hex(6)
        key = f"{API_KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
        record = ApiKey(id=key_id, name=name, role=Role(role), owner=owner, created_at=_now())
        doc = {**record.model_dump(mode="json"), "key_hash": _key_digest(key)}
        await self._write([Put(Kind.API_KEYS, key_id, doc, create_only=True)])
        return record, key

    async def list_api_keys(self) -> list[ApiKey]:
        return [_api_key(d) for d in await self.metadata.list(Kind.API_KEYS)]

    async def revoke_api_key(self, key_id: str) -> None:
        await self._write([Delete(Kind.API_KEYS, key_id, must_exist=True)])


def _user(doc: dict[str, Any]) -> User:
    return User.model_validate({k: v for k, v in doc.items() if k != "password_hash"})


def _api_key(doc: dict[str, Any]) -> ApiKey:
    return ApiKey.model_validate({k: v for k, v in doc.items() if k != "key_hash"})
