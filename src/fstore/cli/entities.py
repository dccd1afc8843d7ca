"""``fstore entities …``: what features describe."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from fstore.cli.options import EntityTypeChoice, JsonOpt
from fstore.cli.output import emit, kv_table, message, table
from fstore.cli.runner import run

app = typer.Typer(help="Create, list, show and delete entities.", no_args_is_help=True)


def _row(e: Any) -> list[Any]:
    return [e.name, e.join_key, e.value_type, e.description, e.created_at]


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Entity name, e.g. customer.")],
    join_key: Annotated[
        str, typer.Option("--join-key", "-k", help="Id column name (default: NAME_id).")
    ] = "",
    value_type: Annotated[
        EntityTypeChoice, typer.Option("--value-type", help="Type of the entity ids.")
    ] = EntityTypeChoice.STRING,
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeatable).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register an entity."""
    doc = {
        "name": name,
        "join_key": join_key,
        "value_type": value_type.value,
        "description": description,
        "tags": tag or [],
    }
    entity = run(lambda store: store.create_entity(doc))
    emit(entity, as_json, f"created entity {entity.name} (join key {entity.join_key})")


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """List entities."""
    entities = run(lambda store: store.list_entities())
    emit(
        entities,
        as_json,
        lambda: table(
            ["name", "join key", "id type", "description", "created"],
            (_row(e) for e in entities),
            "Entities",
        ),
    )


@app.command("show")
def show(name: Annotated[str, typer.Argument(help="Entity name.")], as_json: JsonOpt = False) -> None:
    """Show one entity."""
    entity = run(lambda store: store.get_entity(name))
    emit(entity, as_json, lambda: kv_table(entity.model_dump(), f"Entity {entity.name}"))


@app.command("delete")
def delete(name: Annotated[str, typer.Argument(help="Entity name.")], as_json: JsonOpt = False) -> None:
    """Delete an entity (refused while features describe it)."""
    run(lambda store: store.delete_entity(name))
    emit({"deleted": name, "type": "entity"}, as_json, lambda: message(f"deleted entity {name}"))
