"""Who may do what: users with argon2-hashed passwords, service API keys, JWT access and
refresh tokens, and the roles viewer < editor < admin.

The REST API (``fstore.api.security``) applies them; the CLI manages users and keys
directly on the metadata store (``fstore users``, ``fstore api-keys``), or through the API
with ``--url``.

The roles and the ``User`` / ``ApiKey`` records load at once (the HTTP client returns them);
``Directory`` and the tokens load on first use, with argon2 and PyJWT (``fstore[api]``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fstore.auth.models import ApiKey, User
from fstore.auth.roles import Principal, Role

if TYPE_CHECKING:
    from fstore.auth.directory import Directory
    from fstore.auth.tokens import TokenIssuer, TokenPair

_LAZY = {
    "Directory": "fstore.auth.directory",
    "TokenIssuer": "fstore.auth.tokens",
    "TokenPair": "fstore.auth.tokens",
}

__all__ = ["ApiKey", "Directory", "Principal", "Role", "TokenIssuer", "TokenPair", "User"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
