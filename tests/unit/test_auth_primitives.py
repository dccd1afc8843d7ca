"""Roles, password hashing and JWTs on their own."""

from __future__ import annotations

import base64
import json
import secrets
import time

import jwt
import pytest

from fstore.auth import Principal, Role, TokenIssuer
from fstore.auth.passwords import hash_password, needs_rehash, verify_password
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


def test_tokens_round_trip_and_keep_their_type() -> None:
    pair = issuer().issue(Principal("ana", Role.EDITOR))
    assert issuer().principal(pair.access_token) == Principal("ana", Role.EDITOR, "user")
    assert issuer().decode(pair.refresh_token, "refresh")["sub"] == "ana"
    with pytest.raises(AuthenticationError, match="not an access token"):
        issuer().decode(pair.refresh_token)
    with pytest.raises(AuthenticationError, match="not an refresh token"):
        issuer().decode(pair.access_token, "refresh")


def test_expired_forged_tampered_and_unsigned_tokens_are_refused() -> None:
    who = Principal("ana", Role.VIEWER)
    with pytest.raises(AuthenticationError, match="expired") as info:
        issuer(access=-1).principal(issuer(access=-1).issue(who).access_token)
    assert info.value.details["reason"] == "expired"
    other = issuer(secret=secrets.token_urlsafe(48)).issue(who).access_token
    with pytest.raises(AuthenticationError, match="not valid"):
        issuer().principal(other)
    header, payload, signature = issuer().issue(who).access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "admin"  # a viewer promoting themselves
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    with pytest.raises(AuthenticationError):
        issuer().principal(f"{header}.{forged}.{signature}")
    unsigned = jwt.encode({**claims, "role": "viewer"}, key=None, algorithm="none")
    with pytest.raises(AuthenticationError):
        issuer().principal(unsigned)
    with pytest.raises(AuthenticationError):
        issuer().principal("not-a-jwt")


def test_weak_secrets_are_refused() -> None:
    for weak in ("changeme", "secret", "x" * 31):
        with pytest.raises(ConfigurationError):
            check_secret(weak)
    check_secret("x" * 32)


def test_login_throttle_counts_failures_per_name_and_address() -> None:
    throttle = LoginThrottle(max_failures=2, window=60)
    throttle.failed("ana", "10.0.0.1")
    throttle.check("ana", "10.0.0.1")  # one failure: still allowed
    throttle.failed("ana", "10.0.0.1")
    with pytest.raises(TooManyRequestsError) as info:
        throttle.check("ana", "10.0.0.1")
    assert 0 < info.value.details["retry_after"] <= 60
    throttle.check("ana", "10.0.0.2")  # another address
    throttle.check("bob", "10.0.0.1")  # another user
    throttle.succeeded("ana", "10.0.0.1")
    throttle.check("ana", "10.0.0.1")  # a success forgets the failures
    short = LoginThrottle(max_failures=1, window=0.01)
    short.failed("ana", "x")
    time.sleep(0.02)
    short.check("ana", "x")  # the failure left the window
