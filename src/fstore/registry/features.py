"""Features, their versions and their dependencies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fstore.backends.metadata.base import Delete, Kind, MetadataStore, Put, Query, Write
from fstore.errors import (
    DependencyCycleError,
    DependencyError,
    NotFoundError,
    ValidationError,
)
from fstore.models import (
    BumpKind,
    ChangeAction,
    Feature,
    FeatureType,
    FeatureVersion,
    TransformerSpec,
    parse,
    utcnow,
)
from fstore.registry.records import (
    change,
    check_transformer_fits,
    definition_of,
    find_cycle,
    transformer_dict,
    walk,
)
from fstore.semver import Version, classify_change, next_version
from fstore.transformers.specs import TransformerLike, transformer_parts


class FeatureOps:
    metadata: MetadataStore
    actor: str

    async def _write(self, ops: list[Write]) -> None: ...

    # -- features ---------------------------------------------------------------------------

    async def get_feature(self, name: str) -> Feature:
        doc = await self.metadata.get(Kind.FEATURES, name)
        if doc is None:
            raise NotFoundError(f"feature {name!r} does not exist", feature=name)
        return Feature.model_validate(doc)

    async def list_features(self, **filters: Any) -> list[Feature]:
        """The features that match the filters of ``page_features``, by name."""
        features, _ = await self.page_features(**filters)
        return features

    async def page_features(
        self,
        *,
        limit: int | None = None,
        offset: int = 0,
        group: str | None = None,
        entity: str | None = None,
        tag: str | None = None,
        type: FeatureType | str | None = None,
        name_contains: str | None = None,
        owner: str | None = None,
    ) -> tuple[list[Feature], int]:
        """The features that match, sorted by name, from ``offset`` (at most ``limit``), and
        how many match. The metadata store filters, counts and pages (a page of 10,000
        features reads and validates only its own)."""
        equals = {"group": group, "entity": entity, "owner": owner}
        equals["type"] = None if type is None else FeatureType(type).value
        query = Query(
            equals={k: v for k, v in equals.items() if v is not None},
            contains={} if tag is None else {"tags": tag},
            key_contains=name_contains,  # a feature's key is its name
        )
        docs, total = await self.metadata.find(Kind.FEATURES, query, limit=limit, offset=offset)
        return [Feature.model_validate(d) for d in docs], total

    async def register_feature(
        self,
        feature: Feature | Mapping[str, Any],
        transformer: TransformerLike | None = None,
        *,
        version: str | None = None,
        reason: str = "",
        actor: str | None = None,
    ) -> FeatureVersion:
        """The specification's ``registry.register_feature(feature, transformer)``: create the
        feature (version 1.0.0), or register a new version with this definition and transformer."""
        spec, state = transformer_parts(transformer)
        feature = parse(Feature, feature)
        try:
            await self.get_feature(feature.name)
        except NotFoundError:
            _, created = await self.create_feature(
                feature, spec, state, version=version, reason=reason, actor=actor
            )
            return created
        changes = feature.model_dump(exclude={"created_at", "updated_at", "current_version", "id"})
        _, fv = await self.update_feature(
            feature.name,
            changes,
            transformer=spec,
            transformer_state=state,
            version=version,
            reason=reason,
            actor=actor,
        )
        return fv or await self.get_version(feature.name)

    async def create_feature(
        self,
        feature: Feature,
        transformer: TransformerSpec | None = None,
        transformer_state: dict[str, Any] | None = None,
        *,
        version: str | None = None,
        reason: str = "",
        actor: str | None = None,
    ) -> tuple[Feature, FeatureVersion]:
        actor = actor or self.actor
        await self.get_entity(feature.entity)
        check_transformer_fits(feature, transformer)
        await self._check_dependencies(feature.name, feature.dependencies)
        ver = next_version(None, BumpKind.MAJOR, version)
        now = utcnow()
        feature = feature.model_copy(update={"current_version": ver, "created_at": now, "updated_at": now})
        fv = self._version(feature, ver, transformer, transformer_state, None, reason, actor)
        ops: list[Write] = [
            Put(Kind.FEATURES, feature.name, feature.model_dump(mode="json"), create_only=True)
        ]
        ops += self._version_ops(fv)
        if feature.group is not None:
            group = await self.get_group(feature.group)
            group.add_feature(feature.name)
            group.updated_at = now
            ops.append(Put(Kind.GROUPS, group.name, group.model_dump(mode="json")))
        ops.append(
            change(
                ChangeAction.CREATE,
                "feature",
                feature.name,
                actor,
                after=feature.model_dump(mode="json"),
                version=ver,
            )
        )
        await self._write(ops)
        return feature, fv

    async def update_feature(
        self,
        name: str,
        changes: dict[str, Any] | None = None,
        *,
        transformer: TransformerSpec | str | None = "keep",
        transformer_state: dict[str, Any] | str | None = "keep",
        version: str | None = None,
        reason: str = "",
        action: ChangeAction = ChangeAction.UPDATE,
        actor: str | None = None,
    ) -> tuple[Feature, FeatureVersion | None]:
        """Apply ``changes`` (field → value) and/or a new transformer; registers a new version
        when the definition or transformer changed (bump by the rules in ``semver``).

        ``transformer="keep"`` keeps the current spec; ``None`` removes it. A new spec drops the
        fitted state unless ``transformer_state`` is given.
        """
        actor = actor or self.actor
        old = await self.get_feature(name)
        current = await self.get_version(name)
        fields = dict(changes or {})
        for frozen in ("name", "id", "created_at", "current_version"):
            if frozen in fields and fields[frozen] != getattr(old, frozen):
                raise ValidationError(f"feature field {frozen!r} cannot be changed")
            fields.pop(frozen, None)
        new = parse(Feature, {**old.model_dump(), **fields, "updated_at": utcnow()})
        if new.entity != old.entity:
            await self.get_entity(new.entity)
        spec = current.transformer if transformer == "keep" else transformer
        if transformer_state == "keep":
            state = (
                current.transformer_state if transformer == "keep" or spec == current.transformer else None
            )
        else:
            state = transformer_state
        assert not isinstance(spec, str) and not isinstance(state, str)
        check_transformer_fits(new, spec)
        if new.dependencies != old.dependencies:
            await self._check_dependencies(name, new.dependencies)
        bump = classify_change(
            definition_of(old),
            definition_of(new),
            transformer_dict(current.transformer, current.transformer_state),
            transformer_dict(spec, state),
        )
        if bump is None and version is None:
            return old, None
        ver = next_version(await self._latest_version(name), bump or BumpKind.PATCH, version)
        new = new.model_copy(update={"current_version": ver})
        fv = self._version(new, ver, spec, state, bump, reason, actor)
        ops: list[Write] = [Put(Kind.FEATURES, name, new.model_dump(mode="json"))]
        ops += self._version_ops(fv)
        ops += await self._group_move_ops(name, old.group, new.group)
        ops.append(
            change(
                action,
                "feature",
                name,
                actor,
                before=old.model_dump(mode="json"),
                after=new.model_dump(mode="json"),
                version=ver,
            )
        )
        await self._write(ops)
        return new, fv

    async def delete_feature(self, name: str, *, force: bool = False, actor: str | None = None) -> Feature:
        feature = await self.get_feature(name)
        dependents = await self.dependents(name)
        if dependents and not force:
            raise DependencyError(
                f"feature {name!r} is a dependency of {', '.join(dependents)}; delete those first or force",
                dependents=dependents,
            )
        ops: list[Write] = [Delete(Kind.FEATURES, name, must_exist=True)]
        for dependent in dependents:
            ops += await self._unlink_ops(dependent, name, actor or self.actor)
        for doc in await self.metadata.list(Kind.VERSIONS, ref=name):
            ops.append(Delete(Kind.VERSIONS, f"{name}@{doc['version']}"))
        for doc in await self.metadata.list(Kind.TRANSFORMERS, ref=name):
            ops.append(Delete(Kind.TRANSFORMERS, f"{name}@{doc['version']}"))
        ops += await self._group_move_ops(name, feature.group, None)
        ops.append(
            change(
                ChangeAction.DELETE,
                "feature",
                name,
                actor or self.actor,
                before=feature.model_dump(mode="json"),
            )
        )
        await self._write(ops)
        return feature

    async def _unlink_ops(self, name: str, deleted: str, actor: str) -> list[Write]:
        """Writes that drop ``deleted`` from the dependencies of ``name``: a new (minor) version
        saying why, and its history record. Done in the same write as the delete, so no
        feature is ever left naming a dependency that is gone (or that a later feature of the
        same name would silently stand in for)."""
        old = await self.get_feature(name)
        current = await self.get_version(name)
        ver = next_version(await self._latest_version(name), BumpKind.MINOR)
        new = old.model_copy(
            update={
                "dependencies": [d for d in old.dependencies if d != deleted],
                "current_version": ver,
                "updated_at": utcnow(),
            }
        )
        reason = f"dependency {deleted!r} was deleted"
        fv = self._version(
            new, ver, current.transformer, current.transformer_state, BumpKind.MINOR, reason, actor
        )
        ops: list[Write] = [Put(Kind.FEATURES, name, new.model_dump(mode="json"))]
        ops += self._version_ops(fv)
        before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
        ops.append(
            change(ChangeAction.UPDATE, "feature", name, actor, before=before, after=after, version=ver)
        )
        return ops

    # -- versions ---------------------------------------------------------------------------

    def _version(
        self,
        feature: Feature,
        ver: str,
        spec: TransformerSpec | None,
        state: dict[str, Any] | None,
        bump: BumpKind | None,
        reason: str,
        actor: str,
    ) -> FeatureVersion:
        return FeatureVersion(
            feature_id=feature.name,
            version=ver,
            definition=definition_of(feature),
            transformer=spec,
            transformer_state=state,
            dependencies=list(feature.dependencies),
            metadata=dict(feature.metadata),
            bump=bump,
            reason=reason,
            created_by=actor,
        )

    def _version_ops(self, fv: FeatureVersion) -> list[Write]:
        doc = fv.model_dump(mode="json", exclude={"transformer_state"})
        ops: list[Write] = [Put(Kind.VERSIONS, fv.id, doc, create_only=True, ref=fv.feature_id)]
        if fv.transformer is not None:
            tdoc = {
                "feature_id": fv.feature_id,
                "version": fv.version,
                **fv.transformer.model_dump(mode="json"),
                "state": fv.transformer_state,
            }
            ops.append(Put(Kind.TRANSFORMERS, fv.id, tdoc, create_only=True, ref=fv.feature_id))
        return ops

    async def _latest_version(self, name: str) -> str | None:
        versions = [Version.parse(d["version"]) for d in await self.metadata.list(Kind.VERSIONS, ref=name)]
        return str(max(versions)) if versions else None

    async def list_versions(self, name: str) -> list[FeatureVersion]:
        await self.get_feature(name)
        docs = await self.metadata.list(Kind.VERSIONS, ref=name)
        states = {d["version"]: d.get("state") for d in await self.metadata.list(Kind.TRANSFORMERS, ref=name)}
        versions = [
            FeatureVersion.model_validate({**d, "transformer_state": states.get(d["version"])}) for d in docs
        ]
        return sorted(versions, key=lambda v: Version.parse(v.version))

    async def get_version(self, name: str, version: str | None = None) -> FeatureVersion:
        if version is None:
            version = (await self.get_feature(name)).current_version
        else:
            version = str(Version.parse(version))
        doc = await self.metadata.get(Kind.VERSIONS, f"{name}@{version}")
        if doc is None:
            raise NotFoundError(f"feature {name!r} has no version {version}", feature=name, version=version)
        tdoc = await self.metadata.get(Kind.TRANSFORMERS, f"{name}@{version}")
        return FeatureVersion.model_validate(
            {**doc, "transformer_state": tdoc.get("state") if tdoc else None}
        )

    async def diff_versions(self, name: str, a: str, b: str) -> dict[str, Any]:
        """Fields that differ between two versions: ``{field: {"from": …, "to": …}}``."""
        va, vb = await self.get_version(name, a), await self.get_version(name, b)
        left = {**va.definition, "transformer": transformer_dict(va.transformer, va.transformer_state)}
        right = {**vb.definition, "transformer": transformer_dict(vb.transformer, vb.transformer_state)}
        changes = {
            k: {"from": left.get(k), "to": right.get(k)}
            for k in sorted(set(left) | set(right))
            if left.get(k) != right.get(k)
        }
        return {"feature": name, "from": va.version, "to": vb.version, "changes": changes}

    async def rollback(self, name: str, version: str, *, actor: str | None = None) -> Feature:
        """Make an earlier version current again; the history records the rollback."""
        actor = actor or self.actor
        target = await self.get_version(name, version)
        old = await self.get_feature(name)
        if old.current_version == target.version:
            return old
        restored = Feature.model_validate(
            {
                **target.definition,
                "current_version": target.version,
                "created_at": old.created_at,
                "updated_at": utcnow(),
            }
        )
        if restored.dependencies != old.dependencies:
            await self._check_dependencies(name, restored.dependencies)
            for dep in set(restored.dependencies) - set(old.dependencies):
                if (await self.get_feature(dep)).created_at > target.created_at:
                    raise DependencyError(
                        f"version {target.version} of {name!r} depended on an earlier feature {dep!r}, "
                        f"deleted since; the {dep!r} of today is another feature",
                        dependency=dep,
                    )
        ops: list[Write] = [Put(Kind.FEATURES, name, restored.model_dump(mode="json"))]
        ops += await self._group_move_ops(name, old.group, restored.group)
        ops.append(
            change(
                ChangeAction.ROLLBACK,
                "feature",
                name,
                actor,
                before=old.model_dump(mode="json"),
                after=restored.model_dump(mode="json"),
                version=target.version,
            )
        )
        await self._write(ops)
        return restored

    # -- dependencies -----------------------------------------------------------------------

    async def _check_dependencies(self, name: str, deps: Iterable[str]) -> None:
        deps = list(deps)
        if not deps:  # no edges out of this feature: it cannot close a cycle
            return
        features = {f.name: f for f in await self.list_features()}
        for dep in deps:
            if dep not in features:
                raise NotFoundError(f"dependency {dep!r} of feature {name!r} does not exist", feature=dep)
        graph = {n: list(f.dependencies) for n, f in features.items()}
        graph[name] = list(deps)
        path = find_cycle(graph, name)
        if path:
            raise DependencyCycleError(f"dependency cycle: {' -> '.join(path)}", cycle=path)

    async def dependencies(self, name: str, *, transitive: bool = False) -> list[str]:
        features = {f.name: f for f in await self.list_features()}
        if name not in features:
            raise NotFoundError(f"feature {name!r} does not exist", feature=name)
        return walk({n: f.dependencies for n, f in features.items()}, name, transitive)

    async def dependents(self, name: str, *, transitive: bool = False) -> list[str]:
        """What depends on ``name`` (directly, or through other features when transitive)."""
        features = await self.list_features()
        reverse: dict[str, list[str]] = {}
        for f in features:
            for dep in f.dependencies:
                reverse.setdefault(dep, []).append(f.name)
        return walk(reverse, name, transitive)
