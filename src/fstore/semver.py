"""Semantic versions of features, and the rules that pick the next one.

Bump rules (documented in docs/architecture.md):
* major: a breaking change — value type, dtype, entity, or transformer kind changes,
  or the transformer is added or removed; an aggregation's source, fields, function or
  window changes, or the aggregation is added or removed; a SQL pipeline's query, sources,
  entity or event-time column changes, or the pipeline is added or removed;
* minor: the transformer is refitted or its parameters change; dependencies change; an
  aggregation's allowed lateness changes;
* patch: anything else — description, tags, owner, metadata, TTL, a pipeline's name.
"""

from __future__ import annotations

import re
from functools import total_ordering

from fstore.errors import VersionConflictError, VersionError
from fstore.models import BumpKind
from fstore.spark.pipeline_spec import same_pipeline
from fstore.streaming.spec import SEMANTIC_FIELDS

# MAJOR.MINOR.PATCH without leading zeros; unanchored, for callers that embed it (URL paths)
SEMVER_PATTERN = r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
_SEMVER = re.compile(f"^{SEMVER_PATTERN}$")


@total_ordering
class Version:
    __slots__ = ("major", "minor", "patch")

    def __init__(self, major: int, minor: int, patch: int) -> None:
        self.major, self.minor, self.patch = major, minor, patch

    @classmethod
    def parse(cls, text: str) -> Version:
        match = _SEMVER.match(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise VersionError(f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH)")
        return cls(*(int(part) for part in match.groups()))

    def bump(self, kind: BumpKind) -> Version:
        if kind is BumpKind.MAJOR:
            return Version(self.major + 1, 0, 0)
        if kind is BumpKind.MINOR:
            return Version(self.major, self.minor + 1, 0)
        return Version(self.major, self.minor, self.patch + 1)

    def _key(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self._key() == other._key()

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    def __repr__(self) -> str:
        return f"Version({self})"


INITIAL = Version(1, 0, 0)

_MAJOR_FIELDS = ("type", "dtype", "entity")
_MINOR_FIELDS = ("dependencies",)


def classify_change(
    before: dict, after: dict, transformer_before: dict | None, transformer_after: dict | None
) -> BumpKind | None:
    """Which bump a change from ``before`` to ``after`` needs; None when nothing changed.

    ``before``/``after`` are feature definitions (model dumps); the transformer dicts hold
    ``kind``, ``params`` and the fitted ``state``.
    """
    if any(before.get(f) != after.get(f) for f in _MAJOR_FIELDS):
        return BumpKind.MAJOR
    ab, aa = before.get("aggregation"), after.get("aggregation")
    if (ab is None) != (aa is None) or any(ab.get(f) != aa.get(f) for f in SEMANTIC_FIELDS if ab and aa):
        return BumpKind.MAJOR
    if not same_pipeline(before.get("pipeline"), after.get("pipeline")):
        return BumpKind.MAJOR
    tb, ta = transformer_before or {}, transformer_after or {}
    if tb.get("kind") != ta.get("kind"):
        return BumpKind.MAJOR
    if tb.get("params") != ta.get("params") or tb.get("state") != ta.get("state"):
        return BumpKind.MINOR
    if any(before.get(f) != after.get(f) for f in _MINOR_FIELDS) or ab != aa:
        return BumpKind.MINOR
    if before != after:
        return BumpKind.PATCH
    return None


def next_version(current: str | None, kind: BumpKind, explicit: str | None = None) -> str:
    """The version to register: ``explicit`` if given (must exceed ``current``), else a bump."""
    if explicit is not None:
        wanted = Version.parse(explicit)
        if current is not None and not wanted > Version.parse(current):
            raise VersionConflictError(f"version {wanted} must be greater than the latest version {current}")
        return str(wanted)
    return str(INITIAL if current is None else Version.parse(current).bump(kind))
