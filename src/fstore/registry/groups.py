"""Entities, feature groups and the change history."""

from __future__ import annotations

from typing import Any

from fstore.backends.metadata.base import Delete, Kind, MetadataStore, Put, Write
from fstore.errors import (
    DependencyError,
    NotFoundError,
    ValidationError,
)
from fstore.models import (
    ChangeAction,
    ChangeRecord,
    Entity,
    Feature,
    FeatureGroup,
    parse,
    utcnow,
)
from fstore.registry.records import (
    change,
)


class GroupOps:
    metadata: MetadataStore
    actor: str

    async def _write(self, ops: list[Write]) -> None: ...

    # -- entities ---------------------------------------------------------------------------

    async def create_entity(self, entity: Entity, *, actor: str | None = None) -> Entity:
        doc = entity.model_dump(mode="json")
        await self._write(
            [
                Put(Kind.ENTITIES, entity.name, doc, create_only=True),
                change(ChangeAction.CREATE, "entity", entity.name, actor or self.actor, after=doc),
            ]
        )
        return entity

    async def get_entity(self, name: str) -> Entity:
        doc = await self.metadata.get(Kind.ENTITIES, name)
        if doc is None:
            raise NotFoundError(f"entity {name!r} does not exist", entity=name)
        return Entity.model_validate(doc)

    async def list_entities(self) -> list[Entity]:
        return [Entity.model_validate(d) for d in await self.metadata.list(Kind.ENTITIES)]

    async def delete_entity(self, name: str, *, actor: str | None = None) -> None:
        entity = await self.get_entity(name)
        users = [f.name for f in await self.list_features() if f.entity == name]
        if users:
            raise DependencyError(
                f"entity {name!r} is used by features: {', '.join(users)}", dependents=users
            )
        before = entity.model_dump(mode="json")
        await self._write(
            [
                Delete(Kind.ENTITIES, name, must_exist=True),
                change(ChangeAction.DELETE, "entity", name, actor or self.actor, before=before),
            ]
        )

    # -- groups -----------------------------------------------------------------------------

    async def create_group(self, group: FeatureGroup, *, actor: str | None = None) -> FeatureGroup:
        if group.entity is not None:
            await self.get_entity(group.entity)
        members = [await self.get_feature(n) for n in group.features]
        now = utcnow()
        group = group.model_copy(update={"created_at": now, "updated_at": now})
        ops: list[Write] = [Put(Kind.GROUPS, group.name, group.model_dump(mode="json"), create_only=True)]
        for feature in members:
            ops += await self._membership_ops(feature, group.name, skip_group=group.name)
        ops.append(
            change(
                ChangeAction.CREATE,
                "group",
                group.name,
                actor or self.actor,
                after=group.model_dump(mode="json"),
            )
        )
        await self._write(ops)
        return group

    async def get_group(self, name: str) -> FeatureGroup:
        doc = await self.metadata.get(Kind.GROUPS, name)
        if doc is None:
            raise NotFoundError(f"feature group {name!r} does not exist", group=name)
        return FeatureGroup.model_validate(doc)

    async def list_groups(self) -> list[FeatureGroup]:
        return [FeatureGroup.model_validate(d) for d in await self.metadata.list(Kind.GROUPS)]

    async def update_group(
        self, name: str, changes: dict[str, Any], *, actor: str | None = None
    ) -> FeatureGroup:
        old = await self.get_group(name)
        if "features" in changes or "name" in changes:
            raise ValidationError("use add/remove to change a group's features; a group cannot be renamed")
        new = parse(FeatureGroup, {**old.model_dump(), **changes, "updated_at": utcnow()})
        if new.entity is not None and new.entity != old.entity:
            await self.get_entity(new.entity)
        await self._write(
            [
                Put(Kind.GROUPS, name, new.model_dump(mode="json")),
                change(
                    ChangeAction.UPDATE,
                    "group",
                    name,
                    actor or self.actor,
                    before=old.model_dump(mode="json"),
                    after=new.model_dump(mode="json"),
                ),
            ]
        )
        return new

    async def add_to_group(self, group: str, feature: str, *, actor: str | None = None) -> FeatureGroup:
        target = await self.get_group(group)
        f = await self.get_feature(feature)
        if target.entity is not None and f.entity != target.entity:
            raise ValidationError(
                f"feature {feature!r} describes {f.entity!r}, group {group!r} holds {target.entity!r}"
            )
        await self.update_feature(feature, {"group": group}, actor=actor, reason=f"added to group {group}")
        return await self.get_group(group)

    async def remove_from_group(self, group: str, feature: str, *, actor: str | None = None) -> FeatureGroup:
        target = await self.get_group(group)
        if feature not in target.features:
            raise NotFoundError(
                f"feature {feature!r} is not in group {group!r}", feature=feature, group=group
            )
        await self.update_feature(feature, {"group": None}, actor=actor, reason=f"removed from group {group}")
        return await self.get_group(group)

    async def delete_group(self, name: str, *, actor: str | None = None) -> None:
        group = await self.get_group(name)
        if group.features:
            raise DependencyError(
                f"group {name!r} still holds features: {', '.join(group.features)}", dependents=group.features
            )
        await self._write(
            [
                Delete(Kind.GROUPS, name, must_exist=True),
                change(
                    ChangeAction.DELETE,
                    "group",
                    name,
                    actor or self.actor,
                    before=group.model_dump(mode="json"),
                ),
            ]
        )

    async def _group_move_ops(self, feature: str, old: str | None, new: str | None) -> list[Write]:
        if old == new:
            return []
        ops: list[Write] = []
        if old is not None:
            try:
                g = await self.get_group(old)
            except NotFoundError:
                g = None
            if g is not None:
                g.remove_feature(feature)
                g.updated_at = utcnow()
                ops.append(Put(Kind.GROUPS, old, g.model_dump(mode="json")))
        if new is not None:
            g = await self.get_group(new)
            g.add_feature(feature)
            g.updated_at = utcnow()
            ops.append(Put(Kind.GROUPS, new, g.model_dump(mode="json")))
        return ops

    async def _membership_ops(self, feature: Feature, group: str, skip_group: str) -> list[Write]:
        """Ops that move an existing feature into a group being created (no new version:
        the group's creation is the recorded change)."""
        ops: list[Write] = []
        if feature.group not in (None, skip_group):
            ops += [op for op in await self._group_move_ops(feature.name, feature.group, None)]
        moved = feature.model_copy(update={"group": group, "updated_at": utcnow()})
        ops.append(Put(Kind.FEATURES, feature.name, moved.model_dump(mode="json")))
        return ops

    # -- history ----------------------------------------------------------------------------

    async def history(
        self, object_type: str | None = None, object_id: str | None = None, limit: int | None = None
    ) -> list[ChangeRecord]:
        """Change records, newest first."""
        ref = f"{object_type}:{object_id}" if object_type and object_id else None
        docs = list(reversed(await self.metadata.list(Kind.HISTORY, ref=ref)))
        if ref is None:  # filtered before validation: only the records returned become models
            docs = [
                d
                for d in docs
                if (object_type is None or d.get("object_type") == object_type)
                and (object_id is None or d.get("object_id") == object_id)
            ]
        return [ChangeRecord.model_validate(d) for d in (docs[:limit] if limit else docs)]
