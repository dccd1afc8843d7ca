"""The feature registry: lifecycle of entities, features and groups, semantic versions,
dependencies and the change history, kept in a ``MetadataStore``.

Every change is one atomic ``MetadataStore.write``: the object, its new version and the
history record land together or not at all.
"""

from __future__ import annotations

from fstore.backends.metadata.base import MetadataStore, Write
from fstore.registry.features import FeatureOps
from fstore.registry.groups import GroupOps
from fstore.registry.records import check_transformer_fits, definition_of


class Registry(FeatureOps, GroupOps):
    def __init__(self, metadata: MetadataStore, actor: str = "") -> None:
        self.metadata = metadata
        self.actor = actor
        # Counts this client's own writes: the store's generation() only reflects other
        # clients', and caches must notice both.
        self.revision = 0

    async def _write(self, ops: list[Write]) -> None:
        try:
            await self.metadata.write(ops)
        finally:
            self.revision += 1


__all__ = ["Registry", "check_transformer_fits", "definition_of"]
