"""``fstore history`` (the change log) and ``fstore lineage`` (dependencies)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from fstore.cli.options import JsonOpt, ObjectTypeChoice
from fstore.cli.output import emit, message, table
from fstore.cli.runner import run

if TYPE_CHECKING:
    from fstore.store import FeatureStore


def history(
    type_: Annotated[
        ObjectTypeChoice | None, typer.Option("--type", "-t", help="Only changes of this kind of object.")
    ] = None,
    id_: Annotated[
        str | None, typer.Option("--id", help="Only changes of the object with this name.")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="At most N changes.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The change history of the registry, newest first."""
    kind = type_.value if type_ else None

    async def go(store: FeatureStore) -> list[Any]:
        if id_ is not None and kind is None:  # any kind of object with that name
            records = [r for r in await store.history() if r.object_id == id_]
            return records[:limit] if limit else records
        return await store.history(kind, id_, limit)

    records = run(go)
    emit(
        records,
        as_json,
        lambda: table(
            ["at", "action", "type", "name", "version", "actor"],
            ([r.at, r.action, r.object_type, r.object_id, r.version, r.actor] for r in records),
            "History",
        ),
    )


def lineage(
    feature: Annotated[str, typer.Argument(help="Feature name.")],
    transitive: Annotated[
        bool, typer.Option("--transitive", help="Follow dependencies through other features.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """What a feature depends on and what depends on it."""

    async def go(store: FeatureStore) -> dict[str, Any]:
        return {
            "feature": feature,
            "transitive": transitive,
            "dependencies": await store.dependencies(feature, transitive=transitive),
            "dependents": await store.dependents(feature, transitive=transitive),
        }

    result = run(go)

    def human() -> None:
        deps = ", ".join(result["dependencies"]) or "(none)"
        users = ", ".join(result["dependents"]) or "(none)"
        message(f"{feature}")
        message(f"  depends on:     {deps}")
        message(f"  depended on by: {users}")

    emit(result, as_json, human)
