"""Who may do what: users with argon2-hashed passwords, service API keys, JWT access and
refresh tokens, and the roles viewer < editor < admin.

The REST API (``fstore.api.security``) applies them; the CLI manages users and keys
directly on the metadata store (``fstore users``, ``fstore api-keys``).
"""

from fstore.auth.directory import ApiKey, Directory, User
from fstore.auth.roles import Principal, Role
from fstore.auth.tokens import TokenIssuer, TokenPair

__all__ = ["ApiKey", "Directory", "Principal", "Role", "TokenIssuer", "TokenPair", "User"]
