"""Users, service API keys and login sessions, kept in the metadata store (kinds ``users``,
``api_keys`` and ``sessions``).

Requests are authenticated against a snapshot of them, re-read only when the metadata
store's ``generation()`` says another client wrote (or this one did): a disabled user, a
changed role, a revoked key or an ended session takes effect on the next request, in every
server process, at the cost of a dict lookup.

Token lifecycle. Each user has a token epoch; every token carries the epoch it was issued
under, and changing the user's password or role, or disabling the user, moves the epoch, so
all their tokens stop working at once. A login starts a session (a refresh-token family);
its tokens work while the session exists. A refresh token is spent by use: using it marks its
id spent (an insert that fails if the id is already there, so two processes cannot both spend
it) and returns a new pair of the same session. Presenting a spent refresh token again means
it was stolen or replayed: the whole session ends. Logging out ends the session.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fstore.auth.models import ApiKey, User
from fstore.auth.models import UserName as UserName  # re-exported
from fstore.auth.passwords import hash_password_async, needs_rehash, verify_password_async
from fstore.auth.roles import Principal, Role
from fstore.auth.tokens import AccessClaims, new_id
from fstore.backends.metadata.base import Delete, Kind, MetadataStore, Put
from fstore.errors import AlreadyExistsError, AuthenticationError, ConflictError, NotFoundError

API_KEY_PREFIX = "fsk_"
_FAMILY, _SPENT = "family", "spent"  # the refs of the two kinds of session documents
_REVOKED = "revoked"
_PRUNE_EVERY = 3600.0  # seconds between two sweeps of expired sessions, per process


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
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)  # by family id


class Directory:
    def __init__(self, metadata: MetadataStore) -> None:
        self.metadata = metadata
        self.revision = 0  # own writes (the embedded store's generation ignores them)
        self._snapshot = _Snapshot()
        self._pruned_at = 0.0

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
            sessions = {d["family"]: d for d in await self.metadata.list(Kind.SESSIONS, ref=_FAMILY)}
            self._snapshot = _Snapshot(generation, users, keys, sessions)
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
        hashed = await hash_password_async(password)
        doc = {**user.model_dump(mode="json"), "password_hash": hashed, "token_epoch": 0}
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
        before = (doc["role"], doc.get("disabled", False))
        if role is not None:
            doc["role"] = Role(role).value
        if disabled is not None:
            doc["disabled"] = disabled
        if password is not None:
            doc["password_hash"] = await hash_password_async(password)
        if password is not None or (doc["role"], doc.get("disabled", False)) != before:
            doc["token_epoch"] = _epoch(doc) + 1  # every token issued before stops working
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
        hashed = doc["password_hash"] if doc else None
        if not await verify_password_async(hashed, password) or doc is None or doc.get("disabled"):
            raise AuthenticationError("wrong user name or password, or the user is disabled")
        if needs_rehash(doc["password_hash"]):
            doc = {**doc, "password_hash": await hash_password_async(password)}
            await self._write([Put(Kind.USERS, name, doc)])
        return Principal(name, Role(doc["role"]), "user")

    # -- sessions and tokens --------------------------------------------------------------------

    async def start_session(self, name: str, lifetime: float) -> tuple[Principal, int, str]:
        """A new session for user ``name``: (principal, token epoch, session id). Sessions and
        spent refresh-token ids past their lifetime are cleared on the way."""
        doc = (await self._current()).users.get(name)
        if doc is None or doc.get("disabled"):
            raise AuthenticationError("the user no longer exists or is disabled", reason="revoked")
        now = time.time()
        family = new_id()
        session = {"family": family, "user": name, "expires": now + lifetime, "started": now}
        ops: list[Put | Delete] = [Put(Kind.SESSIONS, f"f:{family}", session, create_only=True, ref=_FAMILY)]
        if now - self._pruned_at > _PRUNE_EVERY:
            self._pruned_at = now
            ops += await self._expired_sessions(now)
        await self._write(ops)
        return Principal(name, Role(doc["role"]), "user"), _epoch(doc), family

    async def _expired_sessions(self, now: float) -> list[Put | Delete]:
        ops: list[Put | Delete] = []
        for kind_ref, prefix in ((_FAMILY, "f:"), (_SPENT, "r:")):
            for old in await self.metadata.list(Kind.SESSIONS, ref=kind_ref):
                if old["expires"] < now:
                    key = old["family"] if kind_ref == _FAMILY else old["jti"]
                    ops.append(Delete(Kind.SESSIONS, prefix + key))
        return ops

    async def spend_refresh(self, claims: dict[str, Any]) -> tuple[Principal, int, str]:
        """Spend a verified refresh token: (principal, epoch, session) for the new pair.
        AuthenticationError if its session ended, its user changed, or it was spent before
        (which also ends the session)."""
        name, family, jti = str(claims["sub"]), str(claims["fam"]), str(claims["jti"])
        principal = await self._token_principal(name, int(claims["ep"]), family)
        spent = {"jti": jti, "family": family, "expires": float(claims["exp"])}
        try:
            await self._write([Put(Kind.SESSIONS, f"r:{jti}", spent, create_only=True, ref=_SPENT)])
        except AlreadyExistsError:
            await self.end_session(family)
            raise AuthenticationError(
                "this refresh token was already used: the session is ended; log in again", reason=_REVOKED
            ) from None
        return principal, int(claims["ep"]), family

    async def end_session(self, family: str) -> None:
        """End a session: its access and refresh tokens stop working (no error if it had ended)."""
        await self._write([Delete(Kind.SESSIONS, f"f:{family}")])

    async def access_principal(self, claims: AccessClaims) -> Principal:
        """The principal of a verified access token, as the user is now."""
        return await self._token_principal(claims.name, claims.epoch, claims.family)

    async def _token_principal(self, name: str, epoch: int, family: str) -> Principal:
        snapshot = await self._current()
        doc = snapshot.users.get(name)
        if doc is None or doc.get("disabled"):
            raise AuthenticationError("the token's user no longer exists or is disabled", reason=_REVOKED)
        if _epoch(doc) != epoch:
            message = "the user's password or role changed since the token was issued; log in again"
            raise AuthenticationError(message, reason=_REVOKED)
        if family not in snapshot.sessions:
            raise AuthenticationError(
                "the token's session has ended (logged out); log in again", reason=_REVOKED
            )
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


_PRIVATE = frozenset({"password_hash", "token_epoch"})


def _epoch(doc: dict[str, Any]) -> int:
    return int(doc.get("token_epoch", 0))


def _user(doc: dict[str, Any]) -> User:
    return User.model_validate({k: v for k, v in doc.items() if k not in _PRIVATE})


def _api_key(doc: dict[str, Any]) -> ApiKey:
    return ApiKey.model_validate({k: v for k, v in doc.items() if k != "key_hash"})
