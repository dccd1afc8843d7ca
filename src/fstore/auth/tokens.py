"""JWT access and refresh tokens (HS256, signed with ``FSTORE_SECRET_KEY``)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt

from fstore.auth.roles import Principal, Role
from fstore.errors import AuthenticationError, ConfigurationError

ALGORITHM = "HS256"
ISSUER = "fstore"
MIN_SECRET_LENGTH = 32
_VERIFIED_TOKENS = 10_000  # at most this many remembered; then the memory starts over
# Values people paste from examples; a key equal to one of them is as good as none.
_DEFAULT_SECRETS = {"changeme", "change-me", "secret", "fstore", "dev", "development", "please-change-me"}


def check_secret(secret: str) -> None:
    if secret.lower() in _DEFAULT_SECRETS or len(secret) < MIN_SECRET_LENGTH:
        raise ConfigurationError(
            f"FSTORE_SECRET_KEY must be a random string of at least {MIN_SECRET_LENGTH} characters "
            '(e.g. python -c "import secrets; print(secrets.token_urlsafe(48))")'
        )


def throwaway_secret() -> str:
    return secrets.token_urlsafe(48)


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int  # seconds the access token is valid for
    token_type: str = "bearer"


class TokenIssuer:
    def __init__(self, secret: str, access_seconds: float, refresh_seconds: float) -> None:
        check_secret(secret)
        self._secret = secret
        self.access_seconds = int(access_seconds)
        self.refresh_seconds = int(refresh_seconds)
        # access token -> (principal, expiry): a client sends the same token many times, and
        # checking its signature costs ~25 us a request
        self._verified: dict[str, tuple[Principal, float]] = {}

    def _encode(self, principal: Principal, typ: str, lifetime: int) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": principal.name,
            "role": principal.role.value,
            "typ": typ,
            "iat": now,
            "exp": now + lifetime,
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def issue(self, principal: Principal) -> TokenPair:
        return TokenPair(
            access_token=self._encode(principal, "access", self.access_seconds),
            refresh_token=self._encode(principal, "refresh", self.refresh_seconds),
            expires_in=self.access_seconds,
        )

    def decode(self, token: str, typ: str = "access") -> dict[str, Any]:
        """The token's claims; AuthenticationError if it is expired, forged, malformed or of
        the other type (a refresh token is no access token)."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "typ"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("the token has expired", reason="expired") from None
        except jwt.InvalidTokenError:
            raise AuthenticationError("the token is not valid", reason="invalid") from None
        if claims.get("typ") != typ:
            raise AuthenticationError(f"not an {typ} token", reason="invalid")
        return claims

    def principal(self, token: str) -> Principal:
        known = self._verified.get(token)
        if known is not None and known[1] > time.time():
            return known[0]
        claims = self.decode(token)
        try:
            role = Role(claims.get("role"))
        except ValueError:
            raise AuthenticationError("the token is not valid", reason="invalid") from None
        principal = Principal(str(claims["sub"]), role, "user")
        if len(self._verified) >= _VERIFIED_TOKENS:
            self._verified.clear()
        self._verified[token] = (principal, float(claims["exp"]))
        return principal
