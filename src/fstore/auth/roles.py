"""Roles and the principal a request acts as."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """Ordered: each role may do everything the ones before it may."""

    VIEWER = "viewer"  # read features, values, vectors, training sets
    EDITOR = "editor"  # write values and features
    ADMIN = "admin"  # users, API keys, deletes, version rollback, the audit log

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, required: Role) -> bool:
        return self.rank >= required.rank


_RANKS = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: a user (by JWT), an API key (by its name), or the dev user when
    authentication is disabled."""

    name: str
    role: Role
    kind: str = "user"  # "user" | "api_key" | "dev"
