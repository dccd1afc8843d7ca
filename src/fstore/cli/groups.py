"""``fstore groups …``: feature groups."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from fstore.cli.options import JsonOpt
from fstore.cli.output import emit, kv_table, message, table
from fstore.cli.runner import run

if TYPE_CHECKING:
    from fstore.store import FeatureStore

app = typer.Typer(help="Create, list, show and change feature groups.", no_args_is_help=True)

GroupArg = Annotated[str, typer.Argument(help="Group name.")]
FeatureArg = Annotated[str, typer.Argument(help="Feature name.")]


@app.command("create")
def create(
    name: GroupArg,
    entity: Annotated[str | None, typer.Option("--entity", "-e", help="Entity of its features.")] = None,
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    feature: Annotated[
        list[str] | None, typer.Option("--feature", "-f", help="A member feature (repeatable).")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeatable).")] = None,
    owner: Annotated[str, typer.Option("--owner")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Create a feature group."""
    doc = {
        "name": name,
        "entity": entity,
        "description": description,
        "features": feature or [],
        "tags": tag or [],
        "owner": owner,
    }
    group = run(lambda store: store.create_group(doc))
    emit(group, as_json, f"created group {group.name} ({len(group.features)} features)")


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """List feature groups."""
    groups = run(lambda store: store.list_groups())
    emit(
        groups,
        as_json,
        lambda: table(
            ["name", "entity", "features", "description"],
            ([g.name, g.entity, g.features, g.description] for g in groups),
            "Groups",
        ),
    )


@app.command("show")
def show(name: GroupArg, as_json: JsonOpt = False) -> None:
    """Show a group and its features."""

    async def go(store: FeatureStore) -> tuple[Any, list[Any]]:
        return await store.get_group(name), await store.get_group_features(name)

    group, features = run(go)

    def human() -> None:
        kv_table(group.model_dump(exclude={"features"}), f"Group {name}")
        table(
            ["name", "type", "dtype", "version", "description"],
            ([f.name, f.type, f.dtype, f.current_version, f.description] for f in features),
            "Features",
        )

    emit({"group": group, "features": features}, as_json, human)


@app.command("update")
def update(
    name: GroupArg,
    entity: Annotated[str | None, typer.Option("--entity", "-e")] = None,
    description: Annotated[str | None, typer.Option("--description", "-d")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Replace the tags (repeatable).")] = None,
    owner: Annotated[str | None, typer.Option("--owner")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a group's description, entity, tags or owner (use add/remove for features)."""
    given = {"entity": entity, "description": description, "tags": tag, "owner": owner}
    changes = {k: v for k, v in given.items() if v is not None}
    group = run(lambda store: store.update_group(name, changes))
    emit(group, as_json, lambda: message(f"updated group {name}"))


@app.command("add")
def add(group: GroupArg, feature: FeatureArg, as_json: JsonOpt = False) -> None:
    """Put a feature in a group (moving it out of its current group)."""
    result = run(lambda store: store.add_to_group(group, feature))
    emit(result, as_json, lambda: message(f"added {feature} to group {group}"))


@app.command("remove")
def remove(group: GroupArg, feature: FeatureArg, as_json: JsonOpt = False) -> None:
    """Take a feature out of a group."""
    result = run(lambda store: store.remove_from_group(group, feature))
    emit(result, as_json, lambda: message(f"removed {feature} from group {group}"))


@app.command("delete")
def delete(name: GroupArg, as_json: JsonOpt = False) -> None:
    """Delete a group (refused while it holds features)."""
    run(lambda store: store.delete_group(name))
    emit({"deleted": name, "type": "group"}, as_json, lambda: message(f"deleted group {name}"))
