"""The feature registry: lifecycle of entities, features and groups, semantic versions,
dependencies and the change history, kept in a ``MetadataStore``.

Every change is one atomic ``MetadataStore.write``: the object, its new version and the
history record land together or not at all.
"""

from __future__ import annotations

from fstore.backends.metadata.base import MetadataStore, Write
from fstore.registry.acting import acting_as
from fstore.registry.features import FeatureOps
from fstore.registry.groups import GroupOps
from fstore.registry.records import check_transformer_fits, definition_of


class Registry(FeatureOps, GroupOps):
    def __init__(self, metadata: MetadataStore, actor: str = "") -> None:
        self.metadata = metadata
        self.default_actor = actor
        # Counts this client's own writes: the store's generation() only reflects other
        # clients', and caches must notice both.
        self.revision = 0

    @property
    def actor(self) -> str:
        """Who changes are recorded as: the API request's principal, else the default."""
        return acting_as(self.default_actor)

    async def _write(self, ops: list[Write]) -> None:
        try:
            await self.metadata.write(ops)
        finally:
            self.revision += 1


__all__ = ["Registry", "check_transformer_fits", "definition_of"]
