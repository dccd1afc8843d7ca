"""An in-process cache of resolved feature metadata for the hot read and write paths.

Resolving a feature (its definition, entity, current version and fitted transformer) takes
several metadata reads; serving a vector must not. The catalog keeps resolved features and
drops them all when the metadata store's ``generation()`` says another client wrote, or
when this process writes (``invalidate``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fstore.backends.metadata.base import MetadataStore
from fstore.models import Entity, Feature, TransformerSpec
from fstore.registry import Registry
from fstore.transformers import Transformer, lenient, transformer_from_state


@dataclass(slots=True, frozen=True)
class ResolvedFeature:
    feature: Feature
    entity: Entity
    version: str
    spec: TransformerSpec | None
    transformer: Transformer | None  # None when absent or not fitted yet

    @property
    def name(self) -> str:
        return self.feature.name

    @property
    def transforms(self) -> bool:
        return self.transformer is not None

    @property
    def unfitted(self) -> bool:
        """It has a transformer that is not fitted yet: no transformed value can be served."""
        return self.transformer is None and self.spec is not None

    def transform_one(self, value: Any) -> Any:
        """The served value for a raw value: transformed, raw if no transformer, None if unfitted."""
        if self.transformer is not None:
            return None if value is None else self.transformer.transform_one(value)
        return None if self.spec is not None else value


def build_transformer(
    spec: TransformerSpec | None, state: dict[str, Any] | None, *, strict: bool = True
) -> Transformer | None:
    """The fitted transformer of a version (None when absent or unfitted). ``strict=False``
    for the write, serve and training paths: an unknown category never raises there."""
    if spec is None or state is None:
        return None
    params = spec.params if strict else lenient(spec.params)
    return transformer_from_state({"kind": spec.kind.value, "params": params, "state": state})


class Catalog:
    def __init__(self, registry: Registry, metadata: MetadataStore, cache_seconds: float = 0.0) -> None:
        self._registry = registry
        self._metadata = metadata
        self._cache_seconds = cache_seconds
        self._features: dict[str, ResolvedFeature] = {}
        self._generation: tuple[int, int] | None = None
        self._checked_at = 0.0

    def invalidate(self) -> None:
        self._features.clear()

    async def _check(self) -> None:
        if self._cache_seconds:
            now = time.monotonic()
            if now - self._checked_at < self._cache_seconds:
                return
            self._checked_at = now
        generation = (await self._metadata.generation(), self._registry.revision)
        if generation != self._generation:
            self._generation = generation
            self._features.clear()

    async def resolve(self, names: Sequence[str]) -> list[ResolvedFeature]:
        await self._check()
        cache = self._features
        try:
            return [cache[n] for n in names]
        except KeyError:
            pass
        out = []
        for name in names:
            resolved = cache.get(name)
            if resolved is None:
                resolved = cache[name] = await self._load(name)
            out.append(resolved)
        return out

    async def _load(self, name: str) -> ResolvedFeature:
        feature = await self._registry.get_feature(name)
        entity = await self._registry.get_entity(feature.entity)
        version = await self._registry.get_version(name)
        return ResolvedFeature(
            feature=feature,
            entity=entity,
            version=version.version,
            spec=version.transformer,
            transformer=build_transformer(version.transformer, version.transformer_state, strict=False),
        )
