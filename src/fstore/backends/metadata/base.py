"""Metadata store protocol: a small document store the registry keeps its objects in.

The registry owns the meaning of the documents; a backend only stores JSON-compatible
dicts by ``(kind, key)``, finds them by an optional secondary ``ref`` and applies a list
of writes atomically.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable


class Kind(StrEnum):
    """Document kinds; the MongoDB backend names its collections after them."""

    ENTITIES = "entities"
    FEATURES = "features"
    GROUPS = "feature_groups"
    VERSIONS = "feature_versions"
    TRANSFORMERS = "transformers"
    HISTORY = "history"
    USERS = "users"
    API_KEYS = "api_keys"
    SESSIONS = "sessions"  # login sessions (refresh-token families) and spent refresh tokens


# How errors name a document of each kind ("feature 'x' already exists").
KIND_NOUNS = {
    Kind.ENTITIES: "entity",
    Kind.FEATURES: "feature",
    Kind.GROUPS: "feature group",
    Kind.VERSIONS: "feature version",
    Kind.TRANSFORMERS: "transformer",
    Kind.HISTORY: "history record",
    Kind.USERS: "user",
    Kind.API_KEYS: "API key",
    Kind.SESSIONS: "session",
}


@dataclass(frozen=True, slots=True)
class Put:
    """Insert or replace ``doc`` at ``(kind, key)``.

    ``create_only`` makes the whole write fail with ``AlreadyExistsError`` if the key exists.
    ``ref`` is a secondary value that ``list(kind, ref=...)`` filters on (a feature id for
    versions, an object id for history records).
    """

    kind: Kind
    key: str
    doc: dict[str, Any]
    create_only: bool = False
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Delete:
    """Delete ``(kind, key)``; with ``must_exist`` a missing key fails the whole write."""

    kind: Kind
    key: str
    must_exist: bool = False


Write = Put | Delete

_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Query:
    """Which documents of a kind ``find`` answers with; every condition must hold. Fields are
    top-level fields of the registry's documents.

    ``equals``: the field's value equals the value. ``contains``: the field is a list that holds
    the value. ``key_contains``: the document's key contains the text, ignoring case (a
    feature's key is its name; stores answer it without reading the documents).
    """

    equals: Mapping[str, Any] = field(default_factory=dict)
    contains: Mapping[str, Any] = field(default_factory=dict)
    key_contains: str | None = None

    def __post_init__(self) -> None:
        for name in [*self.equals, *self.contains]:
            if not _FIELD.fullmatch(name):
                raise ValueError(f"not a document field name: {name!r}")


@runtime_checkable
class MetadataStore(Protocol):
    url: str

    async def open(self) -> None:
        """Connect and create tables/collections/indexes if missing (idempotent)."""

    async def close(self) -> None: ...

    async def get(self, kind: Kind, key: str) -> dict[str, Any] | None: ...

    async def list(self, kind: Kind, ref: str | None = None) -> list[dict[str, Any]]:
        """All documents of ``kind`` (those whose ref equals ``ref`` if given), ordered by key."""

    async def find(
        self, kind: Kind, query: Query, *, limit: int | None = None, offset: int = 0
    ) -> tuple[list[dict[str, Any]], int]:
        """The documents of ``kind`` that match ``query``, ordered by key, from ``offset`` (at
        most ``limit``; ``0`` for none), and how many match. The store filters, counts and
        pages: a page of a large kind never reads the whole kind."""

    async def write(self, ops: Sequence[Write]) -> None:
        """Apply all ops atomically: either every op lands or none does.

        Raises ``AlreadyExistsError`` (create_only conflict) or ``NotFoundError`` (must_exist).
        """

    async def generation(self) -> int:
        """A number that changes whenever another client commits a write.

        Callers cache metadata and re-read it when this changes; it must be cheap.
        """

    async def ping(self) -> dict[str, Any]:
        """Reachability facts for `fstore doctor`: at least ``backend`` and ``version``."""
