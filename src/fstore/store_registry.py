"""The registry half of ``FeatureStore``: entities, features, groups, versions, lineage and
history. Each method opens the store if needed, delegates to the ``Registry`` and keeps the
serving caches in step (``_changed``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fstore.catalog import Catalog
from fstore.errors import ValidationError
from fstore.models import (
    ChangeAction,
    ChangeRecord,
    Entity,
    Feature,
    FeatureGroup,
    FeatureVersion,
    TransformerSpec,
    parse,
)
from fstore.registry import Registry
from fstore.transformers.specs import TransformerLike, transformer_parts


def changes_of(changes: Any) -> dict[str, Any]:
    if changes is None:
        return {}
    if not isinstance(changes, Mapping) or not all(isinstance(k, str) for k in changes):
        raise ValidationError(f"changes are a mapping of field names to values, got {changes!r}")
    return dict(changes)


class RegistryMethods:
    registry: Registry
    catalog: Catalog
    offline: Any
    online: Any
    guard: Any

    async def _ready(self) -> None: ...

    async def _changed(self, *features: Feature) -> None: ...

    # -- entities -----------------------------------------------------------------------------

    async def create_entity(self, entity: Entity | Mapping[str, Any]) -> Entity:
        """Register an entity (what features describe); refused if the name exists."""
        await self._ready()
        return await self.registry.create_entity(parse(Entity, entity))

    async def get_entity(self, name: str) -> Entity:
        """The entity named ``name``; ``NotFoundError`` if there is none."""
        await self._ready()
        return await self.registry.get_entity(name)

    async def list_entities(self) -> list[Entity]:
        """Every registered entity."""
        await self._ready()
        return await self.registry.list_entities()

    async def delete_entity(self, name: str) -> None:
        """Delete an entity (refused while features describe it)."""
        await self._ready()
        await self.registry.delete_entity(name)

    # -- features -----------------------------------------------------------------------------

    async def create_feature(
        self,
        feature: Feature | Mapping[str, Any],
        transformer: TransformerLike | None = None,
        *,
        version: str | None = None,
        reason: str = "",
    ) -> Feature:
        """Register a new feature (version 1.0.0 unless ``version``), optionally with a transformer."""
        await self._ready()
        spec, state = transformer_parts(transformer)
        created, _ = await self.registry.create_feature(
            parse(Feature, feature), spec, state, version=version, reason=reason
        )
        await self._changed(created)
        return created

    async def register_feature(
        self,
        feature: Feature | Mapping[str, Any],
        transformer: TransformerLike | None = None,
        *,
        version: str | None = None,
        reason: str = "",
    ) -> FeatureVersion:
        """The specification's ``registry.register_feature``: create the feature, or register a
        new version of it with this definition and transformer."""
        await self._ready()
        fv = await self.registry.register_feature(feature, transformer, version=version, reason=reason)
        await self._changed(await self.registry.get_feature(fv.feature_id))
        return fv

    async def get_feature(self, name: str) -> Feature:
        """The feature named ``name`` (its current definition); ``NotFoundError`` if none."""
        await self._ready()
        return await self.registry.get_feature(name)

    async def list_features(self, **filters: Any) -> list[Feature]:
        """The registered features; keyword filters narrow them (``entity``, ``group``,
        ``tag``, ``type``, ``name_contains``, ``owner``)."""
        await self._ready()
        return await self.registry.list_features(**filters)

    async def page_features(self, **filters: Any) -> tuple[list[Feature], int]:
        """One page of the features that match (``limit``, ``offset``; by name) and how many match."""
        await self._ready()
        return await self.registry.page_features(**filters)

    async def update_feature(
        self,
        name: str,
        changes: Mapping[str, Any] | None = None,
        *,
        transformer: TransformerLike | str | None = "keep",
        version: str | None = None,
        reason: str = "",
        new_version: bool = False,
    ) -> Feature | FeatureVersion:
        """Change a feature; returns the new ``FeatureVersion`` when ``new_version`` else the feature.

        ``transformer="keep"`` keeps the current one; ``None`` removes it.
        """
        await self._ready()
        spec: TransformerSpec | str | None
        state: dict[str, Any] | str | None
        if transformer == "keep":
            spec, state = "keep", "keep"
        else:
            spec, state = transformer_parts(transformer)
        feature, fv = await self.registry.update_feature(
            name,
            changes_of(changes),
            transformer=spec,
            transformer_state=state,
            version=version,
            reason=reason,
        )
        await self._changed(feature)
        if new_version:
            return fv or await self.registry.get_version(name)
        return feature

    async def delete_feature(self, name: str, *, force: bool = False) -> None:
        """Delete a feature, its versions and all its values (refused if others depend on it;
        with ``force``, each dependent gets a new version without the dependency)."""
        await self._ready()
        dependents = await self.registry.dependents(name) if force else []
        feature = await self.registry.delete_feature(name, force=force)
        await self.offline.delete_feature(feature.id)
        await self.guard.delete_feature(feature.entity, feature.id)  # never fails the call
        if feature.aggregation is not None:
            await self._forget_windows(feature.name)
        self.catalog.invalidate()
        await self._changed(*[await self.registry.get_feature(d) for d in dependents])

    async def _forget_windows(self, name: str) -> None:
        """A deleted aggregation's window state goes with it: a feature registered again under
        its name starts afresh instead of resuming the old windows."""
        from fstore.streaming.aggregations import open_window_state

        state = open_window_state(self)  # type: ignore[arg-type]
        try:
            await state.forget_features([name])
        finally:
            await state.close()

    # -- groups -------------------------------------------------------------------------------

    async def create_group(self, group: FeatureGroup | Mapping[str, Any]) -> FeatureGroup:
        """Register a feature group (a named set of features of one entity)."""
        await self._ready()
        created = await self.registry.create_group(parse(FeatureGroup, group))
        self.catalog.invalidate()
        return created

    async def get_group(self, name: str) -> FeatureGroup:
        """The feature group named ``name``; ``NotFoundError`` if there is none."""
        await self._ready()
        return await self.registry.get_group(name)

    async def list_groups(self) -> list[FeatureGroup]:
        """Every feature group."""
        await self._ready()
        return await self.registry.list_groups()

    async def update_group(self, name: str, changes: Mapping[str, Any]) -> FeatureGroup:
        """Change a group's fields (``description``, ``tags``, ``features``, ...); returns it."""
        await self._ready()
        return await self.registry.update_group(name, changes_of(changes))

    async def delete_group(self, name: str) -> None:
        """Delete a group (its features stay registered)."""
        await self._ready()
        await self.registry.delete_group(name)

    async def add_to_group(self, group: str, feature: str) -> FeatureGroup:
        """Add a feature to a group; returns the group."""
        await self._ready()
        result = await self.registry.add_to_group(group, feature)
        self.catalog.invalidate()
        return result

    async def remove_from_group(self, group: str, feature: str) -> FeatureGroup:
        """Take a feature out of a group (the feature stays registered); returns the group."""
        await self._ready()
        result = await self.registry.remove_from_group(group, feature)
        self.catalog.invalidate()
        return result

    async def get_group_features(self, name: str) -> list[Feature]:
        """The features of a group (their current definitions), in the group's order."""
        group = await self.get_group(name)
        return [await self.registry.get_feature(f) for f in group.features]

    # -- versions, lineage, history -------------------------------------------------------------

    async def list_versions(self, name: str) -> list[FeatureVersion]:
        """Every version of a feature, oldest first."""
        await self._ready()
        return await self.registry.list_versions(name)

    async def get_version(self, name: str, version: str | None = None) -> FeatureVersion:
        """One version of a feature (the current one when ``version`` is None)."""
        await self._ready()
        return await self.registry.get_version(name, version)

    async def diff_versions(self, name: str, a: str, b: str) -> dict[str, Any]:
        """What changed between two versions of a feature, field by field."""
        await self._ready()
        return await self.registry.diff_versions(name, a, b)

    async def rollback(self, name: str, version: str) -> Feature:
        """Make an earlier version current again (recorded as a new change); returns the feature."""
        await self._ready()
        feature = await self.registry.rollback(name, version)
        await self._changed(feature)
        return feature

    async def dependencies(self, name: str, *, transitive: bool = False) -> list[str]:
        """The features ``name`` depends on (with ``transitive``, theirs too)."""
        await self._ready()
        return await self.registry.dependencies(name, transitive=transitive)

    async def dependents(self, name: str, *, transitive: bool = False) -> list[str]:
        """The features that depend on ``name`` (with ``transitive``, theirs too)."""
        await self._ready()
        return await self.registry.dependents(name, transitive=transitive)

    async def history(
        self, object_type: str | None = None, object_id: str | None = None, limit: int | None = None
    ) -> list[ChangeRecord]:
        """The change log (newest first), optionally of one object type (``feature``, ``group``,
        ``entity``) and id, at most ``limit`` records."""
        await self._ready()
        return await self.registry.history(object_type, object_id, limit)

    async def register_fit(
        self,
        name: str,
        spec: TransformerSpec,
        state: dict[str, Any],
        fitted_on: int,
        cutoff: datetime | None,
        version: str | None = None,
    ) -> FeatureVersion:
        """Register a fitted state (of ``fitted_on`` non-null values up to ``cutoff``) as the
        feature's new version; the current version when the state is the same again. Shared
        by ``fit_transformer`` and the Spark fit (``fstore.spark.fit``)."""
        current = await self.registry.get_version(name)
        when = f" as of {cutoff.isoformat()}" if cutoff else ""
        feature, fv = await self.registry.update_feature(
            name,
            {},
            transformer=spec,
            transformer_state=state,
            version=version,
            reason=f"fitted on {fitted_on} values{when}",
            action=ChangeAction.FIT,
        )
        if fv is None:  # the same state again: nothing new to register
            return current
        await self._changed(feature)
        return fv
