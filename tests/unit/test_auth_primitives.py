"""Roles, password hashing and JWTs on their own."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time

import jwt
import pytest

from fstore.auth import Role, TokenIssuer, TokenPair
from fstore.auth.passwords import hash_password, needs_rehash, verify_password, verify_password_async
from fstore.auth.throttle import LoginThrottle
from fstore.auth.tokens import check_secret
from fstore.errors import AuthenticationError, ConfigurationError, TooManyRequestsError, ValidationError

SECRET = secrets.token_urlsafe(48)


def issuer(access: float = 600, refresh: float = 3600, secret: str = SECRET) -> TokenIssuer:
    return TokenIssuer(secret, access, refresh)


def test_roles_are_ordered() -> None:
    assert Role.ADMIN.allows(Role.EDITOR) and Role.EDITOR.allows(Role.VIEWER)
    assert Role.VIEWER.allows(Role.VIEWER)
    assert not Role.VIEWER.allows(Role.EDITOR) and not Role.EDITOR.allows(Role.ADMIN)


def test_passwords_hash_with_argon2id_and_verify() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$") and not needs_rehash(hashed)
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "correct horsE")
    assert not verify_password("not a hash", "correct horse")
    with pytest.raises(ValidationError, match="at least 8"):
        hash_password("short")


def issue(role: Role = Role.EDITOR, **kw: float) -> TokenPair:
    return issuer(**kw).issue("ana", role, 3, "s1")[0]


def test_tokens_round_trip_and_keep_their_type() -> None:
    pair = issue()
    claims = issuer().access(pair.access_token)
    assert (claims.name, claims.role, claims.epoch, claims.family) == ("ana", Role.EDITOR, 3, "s1")
    refresh = issuer().decode(pair.refresh_token, "refresh")
    assert (refresh["sub"], refresh["ep"], refresh["fam"]) == ("ana", 3, "s1")
    with pytest.raises(AuthenticationError, match="not an access token"):
        issuer().decode(pair.refresh_token)
    with pytest.raises(AuthenticationError, match="not an refresh token"):
        issuer().decode(pair.access_token, "refresh")


def test_expired_forged_tampered_and_unsigned_tokens_are_refused() -> None:
    with pytest.raises(AuthenticationError, match="expired") as info:
        issuer(access=-1).access(issue(Role.VIEWER, access=-1).access_token)
    assert info.value.details["reason"] == "expired"
    other = issuer(secret=secrets.token_urlsafe(48)).issue("ana", Role.VIEWER, 0, "s")[0].access_token
    with pytest.raises(AuthenticationError, match="not valid"):
        issuer().access(other)
    header, payload, signature = issue(Role.VIEWER).access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "admin"  # a viewer promoting themselves
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    with pytest.raises(AuthenticationError):
        issuer().access(f"{header}.{forged}.{signature}")
    unsigned = jwt.encode({**claims, "role": "viewer"}, key=None, algorithm="none")
    with pytest.raises(AuthenticationError):
        issuer().access(unsigned)
    with pytest.raises(AuthenticationError):
        issuer().access("not-a-jwt")
    old_style = jwt.encode({k: v for k, v in claims.items() if k not in ("ep", "fam")}, SECRET, "HS256")
    with pytest.raises(AuthenticationError):  # a token from before sessions: no epoch, no session
        issuer().access(old_style)


@pytest.mark.parametrize(
    "weak",
    [
        "changeme",
        "secret",
        "x" * 31,
        "a" * 64,
        "ab" * 20,
        "password" * 5,
        "correcthorse" * 4,
        "0123456789" * 4,
        "abcdefgh" * 6,
    ],
)
def test_weak_secrets_are_refused(weak: str) -> None:
    with pytest.raises(ConfigurationError):
        check_secret(weak)


@pytest.mark.parametrize(
    "strong",
    [
        secrets.token_urlsafe(48),
        secrets.token_urlsafe(32),
        secrets.token_hex(16),
        secrets.token_hex(32),
        "correct horse battery staple on a tuesday",
    ],
)
def test_random_secrets_pass(strong: str) -> None:
    check_secret(strong)


async def test_login_throttle_counts_failures_per_name_and_address() -> None:
    throttle = LoginThrottle(max_failures=2, window=60)
    await throttle.failed("ana", "10.0.0.1")
    await throttle.check("ana", "10.0.0.1")  # one failure: still allowed
    await throttle.failed("ana", "10.0.0.1")
    with pytest.raises(TooManyRequestsError) as info:
        await throttle.check("ana", "10.0.0.1")
    assert 0 < info.value.details["retry_after"] <= 60
    await throttle.check("ana", "10.0.0.2")  # another address
    await throttle.check("bob", "10.0.0.1")  # another user
    await throttle.succeeded("ana", "10.0.0.1")
    await throttle.check("ana", "10.0.0.1")  # a success forgets the failures
    short = LoginThrottle(max_failures=1, window=1)
    await short.failed("ana", "x")
    with pytest.raises(TooManyRequestsError):
        await short.check("ana", "x")
    await asyncio.sleep(1.1)
    await short.check("ana", "x")  # the failure left the window


async def test_spraying_from_one_address_is_stopped() -> None:
    throttle = LoginThrottle(max_failures=5, window=60, address_max_failures=3)
    for name in ("ana", "bob", "cy"):
        await throttle.check(name, "10.0.0.9")
        await throttle.failed(name, "10.0.0.9")
    with pytest.raises(TooManyRequestsError, match="from this address"):
        await throttle.check("dee", "10.0.0.9")
    await throttle.check("dee", "10.0.0.10")


async def test_guessing_one_user_from_many_addresses_spares_known_addresses() -> None:
    throttle = LoginThrottle(max_failures=5, window=60, user_max_failures=4)
    await throttle.succeeded("ana", "192.0.2.1")  # ana's own machine
    for i in range(4):
        await throttle.failed("ana", f"10.0.1.{i}")
    with pytest.raises(TooManyRequestsError, match="too many failed logins for 'ana'"):
        await throttle.check("ana", "10.0.2.1")
    await throttle.check("ana", "192.0.2.1")  # the real user still gets in from a known address
    await throttle.check("bob", "10.0.2.1")


async def test_password_checks_leave_the_event_loop_free() -> None:
    hashed = hash_password("correct horse")
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    results = await asyncio.gather(*(verify_password_async(hashed, "wrong password") for _ in range(6)))
    elapsed = time.perf_counter() - started
    task.cancel()
    assert results == [False] * 6
    # six argon2 checks took tens of ms each, yet the loop kept ticking while they ran: run on
    # the loop they would allow one tick per check (counted, not timed: a loaded machine
    # stretches every gap)
    assert elapsed > 0.1 and len(ticks) > 3 * len(results), (elapsed, len(ticks))
    assert await verify_password_async(hashed, "correct horse")
    assert not await verify_password_async(None, "correct horse")  # no such user
