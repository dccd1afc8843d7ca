"""Building blocks of registry writes: definitions, history records, graph walks."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fstore.backends.metadata.base import Kind, Put
from fstore.errors import DefinitionError
from fstore.models import (
    CATEGORICAL_TRANSFORMERS,
    NUMERICAL_TRANSFORMERS,
    ChangeAction,
    ChangeRecord,
    Feature,
    FeatureType,
    TransformerSpec,
)

# Fields of a feature that are bookkeeping, not definition: they never make a version.
_VOLATILE = {"created_at", "updated_at", "current_version"}


def definition_of(feature: Feature) -> dict[str, Any]:
    return feature.model_dump(mode="json", exclude=_VOLATILE)


def history_key() -> str:
    now = datetime.now(UTC)
    return f"{int(now.timestamp() * 1_000_000):017d}-{os.urandom(4).hex()}"


def change(
    action: ChangeAction,
    object_type: str,
    object_id: str,
    actor: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    version: str | None = None,
) -> Put:
    key = history_key()
    record = ChangeRecord(
        id=key,
        object_type=object_type,
        object_id=object_id,
        action=action,
        actor=actor,
        before=before,
        after=after,
        version=version,
    )
    return Put(
        Kind.HISTORY, key, record.model_dump(mode="json"), create_only=True, ref=f"{object_type}:{object_id}"
    )


def check_transformer_fits(feature: Feature, spec: TransformerSpec | None) -> None:
    if spec is None:
        return
    allowed = NUMERICAL_TRANSFORMERS if feature.type is FeatureType.NUMERICAL else CATEGORICAL_TRANSFORMERS
    if spec.kind not in allowed:
        raise DefinitionError(
            f"transformer {spec.kind.value!r} does not apply to {feature.type.value} feature {feature.name!r}"
        )


def transformer_dict(spec: TransformerSpec | None, state: dict[str, Any] | None) -> dict[str, Any] | None:
    if spec is None:
        return None
    return {**spec.model_dump(mode="json"), "state": state}


def walk(graph: dict[str, Sequence[str]], start: str, transitive: bool) -> list[str]:
    seen: list[str] = []
    stack = list(graph.get(start, []))
    while stack:
        node = stack.pop()
        if node in seen or node == start:
            continue
        seen.append(node)
        if transitive:
            stack.extend(graph.get(node, []))
    return sorted(seen)


def find_cycle(graph: dict[str, list[str]], start: str) -> list[str] | None:
    """A path start -> … -> start if one exists (depth-first)."""
    stack: list[tuple[str, list[str]]] = [(d, [start, d]) for d in graph.get(start, [])]
    visited: set[str] = set()
    while stack:
        node, path = stack.pop()
        if node == start:
            return path
        if node in visited:
            continue
        visited.add(node)
        stack.extend((d, [*path, d]) for d in graph.get(node, []))
    return None
