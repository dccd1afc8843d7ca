"""JWT access and refresh tokens (HS256, signed with ``FSTORE_SECRET_KEY``).

Every token names its user (``sub``), the user's token epoch when it was issued (``ep``: a
change of password or role, or disabling the user, moves the epoch and so voids every token
issued before) and its session (``fam``: the family of refresh tokens a login starts; logging
out or reusing a spent refresh token ends it). The directory checks both on every request.
"""

from __future__ import annotations

import math
import secrets
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from typing import Any

import jwt

from fstore.auth.roles import Role
from fstore.errors import AuthenticationError, ConfigurationError

ALGORITHM = "HS256"
ISSUER = "fstore"
MIN_SECRET_LENGTH = 32
MIN_DISTINCT_CHARACTERS = 10
MIN_ENTROPY_BITS = 100  # by character frequencies
MIN_COMPRESSED_BITS = 160  # what zlib cannot squeeze out: catches repeated words
_VERIFIED_TOKENS = 10_000  # at most this many remembered; then the memory starts over
# Values people paste from examples; a key equal to one of them is as good as none.
_DEFAULT_SECRETS = {"changeme", "change-me", "secret", "fstore", "dev", "development", "please-change-me"}
_HOW = (
    'e.g. python -c "import secrets; print(secrets.token_urlsafe(48))"; '
    "for development only, `fstore serve --dev` needs none"
)


def _entropy_bits(secret: str) -> float:
    n = len(secret)
    return -sum(c * math.log2(c / n) for c in Counter(secret).values())


def _compressed_bits(secret: str) -> int:
    return (len(zlib.compress(secret.encode(), 9)) - 8) * 8  # 8: zlib's header and checksum


def check_secret(secret: str) -> None:
    """Refuse a secret an attacker could guess: short, a known placeholder, or of low entropy
    (``aaaa…``, few distinct characters, a word repeated)."""
    if secret.lower() in _DEFAULT_SECRETS or len(secret) < MIN_SECRET_LENGTH:
        raise ConfigurationError(
            f"FSTORE_SECRET_KEY must be a random string of at least {MIN_SECRET_LENGTH} characters ({_HOW})"
        )
    if (
        len(set(secret)) < MIN_DISTINCT_CHARACTERS
        or _entropy_bits(secret) < MIN_ENTROPY_BITS
        or _compressed_bits(secret) < MIN_COMPRESSED_BITS
    ):
        raise ConfigurationError(
            "FSTORE_SECRET_KEY is too predictable (few distinct characters or repeated parts); "
            f"use a random one ({_HOW})"
        )


def throwaway_secret() -> str:
    return secrets.token_urlsafe(48)


def new_id() -> str:
    return secrets.token_hex(12)


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int  # seconds the access token is valid for
    token_type: str = "bearer"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a verified access token says."""

    name: str
    role: Role
    epoch: int
    family: str
    expires: float


class TokenIssuer:
    def __init__(self, secret: str, access_seconds: float, refresh_seconds: float) -> None:
        check_secret(secret)
        self._secret = secret
        self.access_seconds = int(access_seconds)
        self.refresh_seconds = int(refresh_seconds)
        # access token -> its claims: a client sends the same token many times, and checking
        # its signature costs ~25 us a request
        self._verified: dict[str, AccessClaims] = {}

    def _encode(self, name: str, role: Role, epoch: int, family: str, typ: str, jti: str) -> str:
        lifetime = self.access_seconds if typ == "access" else self.refresh_seconds
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": name,
            "role": role.value,
            "typ": typ,
            "ep": epoch,
            "fam": family,
            "iat": now,
            "exp": now + lifetime,
            "jti": jti,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def issue(self, name: str, role: Role, epoch: int, family: str) -> tuple[TokenPair, str]:
        """A token pair for session ``family`` and the refresh token's id (``jti``)."""
        refresh_id = new_id()
        pair = TokenPair(
            access_token=self._encode(name, role, epoch, family, "access", new_id()),
            refresh_token=self._encode(name, role, epoch, family, "refresh", refresh_id),
            expires_in=self.access_seconds,
        )
        return pair, refresh_id

    def decode(self, token: str, typ: str = "access") -> dict[str, Any]:
        """The token's claims; AuthenticationError if it is expired, forged, malformed or of
        the other type (a refresh token is no access token)."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "typ", "jti", "ep", "fam"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("the token has expired", reason="expired") from None
        except jwt.InvalidTokenError:
            raise AuthenticationError("the token is not valid", reason="invalid") from None
        if claims.get("typ") != typ:
            raise AuthenticationError(f"not an {typ} token", reason="invalid")
        return claims

    def access(self, token: str) -> AccessClaims:
        """The claims of a valid access token (cached until it expires)."""
        known = self._verified.get(token)
        if known is not None and known.expires > time.time():
            return known
        claims = self.decode(token)
        try:
            verified = AccessClaims(
                str(claims["sub"]),
                Role(claims["role"]),
                int(claims["ep"]),
                str(claims["fam"]),
                float(claims["exp"]),
            )
        except (ValueError, TypeError, KeyError):
            raise AuthenticationError("the token is not valid", reason="invalid") from None
        if len(self._verified) >= _VERIFIED_TOKENS:
            self._verified.clear()
        self._verified[token] = verified
        return verified
