"""The registry half of the client: entities, features, groups, versions, lineage, history.

Names and arguments follow ``FeatureStore`` (``store_registry.py``); each method is a
generator of HTTP steps (see ``http.py``), turned into a blocking or async method by
``@operation``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fstore.client.http import Exchange, Steps, operation, path
from fstore.errors import ValidationError
from fstore.models import ChangeRecord, Entity, Feature, FeatureGroup, FeatureVersion

PAGE = 1000  # the API's largest page of features

# The fields the API takes when creating: the model's own fields minus the server-set ones.
_ENTITY_IN = {"name", "join_key", "value_type", "description", "tags"}
_FEATURE_IN = {
    "name", "entity", "type", "dtype", "description", "group", "tags", "metadata", "owner",
    "nullable", "ttl_seconds", "dependencies",
}  # fmt: skip
_GROUP_IN = {"name", "description", "entity", "features", "tags", "metadata", "owner"}


def transformer_body(transformer: Any) -> dict[str, Any] | None:
    """A transformer as the API takes it, ``{"kind", "params"}``. A fitted state cannot be
    sent: the server fits on its own history (``fit_transformer``)."""
    from fstore.transformers.specs import transformer_parts

    spec, state = transformer_parts(transformer)
    if spec is None:
        return None
    if state is not None:
        raise ValidationError(
            "a fitted transformer cannot be sent to the server: give its kind and parameters, "
            "then call fit_transformer"
        )
    return spec.model_dump(mode="json")


class RegistryOperations(Exchange):
    # -- entities -------------------------------------------------------------------------------

    @operation
    def create_entity(self, entity: Entity | Mapping[str, Any]) -> Steps[Entity]:
        """Register an entity on the server; returns it as stored."""
        body = Entity.model_validate(entity).model_dump(mode="json", include=_ENTITY_IN)
        return Entity.model_validate((yield from self._json("POST", path("entities"), json=body)))

    @operation
    def get_entity(self, name: str) -> Steps[Entity]:
        """The entity named ``name`` (``NotFoundError`` when the server has none)."""
        return Entity.model_validate((yield from self._json("GET", path("entities", name))))

    @operation
    def list_entities(self) -> Steps[list[Entity]]:
        """The server's entities."""
        return [Entity.model_validate(e) for e in (yield from self._json("GET", path("entities")))]

    @operation
    def delete_entity(self, name: str) -> Steps[None]:
        """Delete an entity on the server (refused while features describe it)."""
        yield from self._json("DELETE", path("entities", name))

    # -- features -------------------------------------------------------------------------------

    @operation
    def create_feature(
        self,
        feature: Feature | Mapping[str, Any],
        transformer: Any = None,
        *,
        version: str | None = None,
        reason: str = "",
    ) -> Steps[Feature]:
        """Register a new feature (version 1.0.0 unless ``version``), optionally with a transformer."""
        body = Feature.model_validate(feature).model_dump(mode="json", include=_FEATURE_IN)
        body.update(transformer=transformer_body(transformer), version=version, reason=reason)
        return Feature.model_validate((yield from self._json("POST", path("features"), json=body)))

    @operation
    def get_feature(self, name: str) -> Steps[Feature]:
        """The feature named ``name``, as the server holds it now."""
        return Feature.model_validate((yield from self._json("GET", path("features", name))))

    @operation
    def list_features(
        self,
        *,
        group: str | None = None,
        entity: str | None = None,
        tag: str | None = None,
        type: str | None = None,
        name_contains: str | None = None,
    ) -> Steps[list[Feature]]:
        """Every feature matching the filters, sorted by name (all pages)."""
        params = {"group": group, "entity": entity, "tag": tag, "type": type, "q": name_contains}
        found: list[Feature] = []
        while True:
            page = yield from self._json(
                "GET", path("features"), params={**params, "limit": PAGE, "offset": len(found)}
            )
            found.extend(Feature.model_validate(f) for f in page["items"])
            if not page["items"] or len(found) >= page["total"]:
                return found

    @operation
    def update_feature(
        self,
        name: str,
        changes: Mapping[str, Any] | None = None,
        *,
        transformer: Any = "keep",
        version: str | None = None,
        reason: str = "",
        new_version: bool = False,
    ) -> Steps[Any]:
        """Change a feature; returns the new ``FeatureVersion`` when ``new_version`` else the feature.

        ``transformer="keep"`` keeps the current one; ``None`` removes it.
        """
        body: dict[str, Any] = {**(changes or {}), "version": version, "reason": reason}
        if transformer != "keep":
            body["transformer"] = transformer_body(transformer)
        fv = FeatureVersion.model_validate(
            (yield from self._json("PATCH", path("features", name), json=body))
        )
        if new_version:
            return fv
        return Feature.model_validate((yield from self._json("GET", path("features", name))))

    @operation
    def delete_feature(self, name: str, *, force: bool = False) -> Steps[None]:
        """Delete a feature, its versions and all its values (refused if others depend on it)."""
        yield from self._json("DELETE", path("features", name), params={"force": force})

    # -- groups ---------------------------------------------------------------------------------

    @operation
    def create_group(self, group: FeatureGroup | Mapping[str, Any]) -> Steps[FeatureGroup]:
        """Register a feature group on the server; returns it as stored."""
        body = FeatureGroup.model_validate(group).model_dump(mode="json", include=_GROUP_IN)
        return FeatureGroup.model_validate((yield from self._json("POST", path("groups"), json=body)))

    @operation
    def get_group(self, name: str) -> Steps[FeatureGroup]:
        """The group named ``name`` (``NotFoundError`` when the server has none)."""
        return FeatureGroup.model_validate((yield from self._json("GET", path("groups", name))))

    @operation
    def list_groups(self) -> Steps[list[FeatureGroup]]:
        """The server's feature groups."""
        return [FeatureGroup.model_validate(g) for g in (yield from self._json("GET", path("groups")))]

    @operation
    def update_group(self, name: str, changes: Mapping[str, Any]) -> Steps[FeatureGroup]:
        """Change fields of a group on the server; returns the group."""
        body = dict(changes)
        return FeatureGroup.model_validate((yield from self._json("PATCH", path("groups", name), json=body)))

    @operation
    def delete_group(self, name: str) -> Steps[None]:
        """Delete a group on the server (its features stay)."""
        yield from self._json("DELETE", path("groups", name))

    @operation
    def add_to_group(self, group: str, feature: str) -> Steps[FeatureGroup]:
        """Add a feature to a group on the server; returns the group."""
        data = yield from self._json("POST", path("groups", group, "features", feature))
        return FeatureGroup.model_validate(data)

    @operation
    def remove_from_group(self, group: str, feature: str) -> Steps[FeatureGroup]:
        """Take a feature out of a group on the server; returns the group."""
        data = yield from self._json("DELETE", path("groups", group, "features", feature))
        return FeatureGroup.model_validate(data)

    @operation
    def get_group_features(self, name: str) -> Steps[list[Feature]]:
        """The group's features, in the group's order."""
        group = FeatureGroup.model_validate((yield from self._json("GET", path("groups", name))))
        found: list[Feature] = []
        for feature in group.features:
            found.append(Feature.model_validate((yield from self._json("GET", path("features", feature)))))
        return found

    # -- versions, lineage, history -------------------------------------------------------------

    @operation
    def list_versions(self, name: str) -> Steps[list[FeatureVersion]]:
        """A feature's versions, in version order."""
        data = yield from self._json("GET", path("features", name, "versions"))
        return [FeatureVersion.model_validate(v) for v in data]

    @operation
    def get_version(self, name: str, version: str | None = None) -> Steps[FeatureVersion]:
        """One version of a feature; its current one when ``version`` is None."""
        if version is None:
            feature = yield from self._json("GET", path("features", name))
            version = str(feature["current_version"])
        data = yield from self._json("GET", path("features", name, "versions", version))
        return FeatureVersion.model_validate(data)

    @operation
    def diff_versions(self, name: str, a: str, b: str) -> Steps[dict[str, Any]]:
        """The fields that differ between versions ``a`` and ``b`` of a feature."""
        params = {"from": a, "to": b}
        result: dict[str, Any] = yield from self._json(
            "GET", path("features", name, "versions", "diff"), params=params
        )
        return result

    @operation
    def rollback(self, name: str, version: str) -> Steps[Feature]:
        """Make version ``version`` of a feature current again; returns the feature."""
        body = {"version": version}
        data = yield from self._json("POST", path("features", name, "versions", "rollback"), json=body)
        return Feature.model_validate(data)

    @operation
    def fit_transformer(
        self,
        name: str,
        *,
        as_of: datetime | str | None = None,
        transformer: Any = None,
        version: str | None = None,
    ) -> Steps[FeatureVersion]:
        """Fit the feature's transformer (or ``transformer``, a kind and parameters) on the
        server's history up to ``as_of``; registers the fitted state as a new version."""
        body: dict[str, Any] = {"as_of": as_of, "version": version}
        if transformer is not None:
            body["transformer"] = transformer_body(transformer)
        body = {k: v for k, v in body.items() if v is not None}
        data = yield from self._json("POST", path("features", name, "versions", "fit"), json=body)
        return FeatureVersion.model_validate(data)

    @operation
    def dependencies(self, name: str, *, transitive: bool = False) -> Steps[list[str]]:
        """What a feature depends on (``transitive``: all the way down)."""
        data = yield from self._json(
            "GET", path("features", name, "dependencies"), params={"transitive": transitive}
        )
        return list(data["features"])

    @operation
    def dependents(self, name: str, *, transitive: bool = False) -> Steps[list[str]]:
        """What depends on a feature (``transitive``: all the way up)."""
        data = yield from self._json(
            "GET", path("features", name, "dependents"), params={"transitive": transitive}
        )
        return list(data["features"])

    @operation
    def history(
        self, object_type: str | None = None, object_id: str | None = None, limit: int | None = None
    ) -> Steps[list[ChangeRecord]]:
        """The server's change records, newest first (optionally of one object, at most ``limit``)."""
        params = {"object_type": object_type, "object_id": object_id, "limit": limit}
        return [
            ChangeRecord.model_validate(r)
            for r in (yield from self._json("GET", path("history"), params=params))
        ]
