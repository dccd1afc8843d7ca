"""``fstore features …``: the feature registry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from fstore.cli.options import (
    DtypeChoice,
    FeatureTypeChoice,
    JsonOpt,
    TransformerChoice,
    TransformerOrNoneChoice,
    parse_params,
)
from fstore.cli.output import emit, kv_table, message, table
from fstore.cli.runner import run

if TYPE_CHECKING:
    from fstore.models import Feature, FeatureVersion
    from fstore.store import FeatureStore

app = typer.Typer(help="Create, list, show, update and delete features.", no_args_is_help=True)

EntityOpt = Annotated[str, typer.Option("--entity", "-e", help="The entity the feature describes.")]
TypeOpt = Annotated[FeatureTypeChoice, typer.Option("--type", "-t", help="Feature type.")]
DtypeOpt = Annotated[
    DtypeChoice | None,
    typer.Option("--dtype", help="Value type (default: float for numerical, string for categorical)."),
]
GroupOpt = Annotated[str | None, typer.Option("--group", "-g", help="Feature group to put it in.")]
DescriptionOpt = Annotated[str | None, typer.Option("--description", "-d")]
TagOpt = Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeatable).")]
OwnerOpt = Annotated[str | None, typer.Option("--owner")]
TtlOpt = Annotated[
    int | None, typer.Option("--ttl", min=1, help="Seconds after which a value counts as missing.")
]
DependsOpt = Annotated[
    list[str] | None, typer.Option("--depends-on", help="A feature this one is derived from (repeatable).")
]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="Transformer parameter key=value, value as JSON if it parses."),
]
VersionOpt = Annotated[str | None, typer.Option("--version", help="Explicit semantic version X.Y.Z.")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (recorded with the version).")]


def spec_of(kind: str | None, params: list[str] | None) -> dict[str, Any] | None:
    if kind is None:
        if params:
            from fstore.errors import ValidationError

            raise ValidationError("--param needs --transformer")
        return None
    return {"kind": kind, "params": parse_params(params)}


def feature_summary(feature: Feature, fv: FeatureVersion | None = None) -> dict[str, Any]:
    """The feature's fields plus its current transformer (for show/create/update)."""
    data = feature.model_dump(mode="json")
    if fv is not None:
        data["transformer"] = fv.transformer.model_dump(mode="json") if fv.transformer else None
        data["fitted"] = fv.transformer_state is not None
    return data


def show_feature(data: dict[str, Any], title: str) -> None:
    shown = dict(data)
    spec = shown.pop("transformer", None)
    fitted = shown.pop("fitted", None)
    if spec is not None:
        params = spec.get("params") or {}
        detail = spec["kind"] + (f" {params}" if params else "")
        shown["transformer"] = f"{detail} ({'fitted' if fitted else 'not fitted'})"
    elif "fitted" in data:
        shown["transformer"] = None
    kv_table(shown, title)


async def _with_version(store: FeatureStore, feature: Feature) -> dict[str, Any]:
    return feature_summary(feature, await store.get_version(feature.name))


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Feature name (an identifier).")],
    entity: EntityOpt,
    type_: TypeOpt = FeatureTypeChoice.NUMERICAL,
    dtype: DtypeOpt = None,
    group: GroupOpt = None,
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    tag: TagOpt = None,
    owner: Annotated[str, typer.Option("--owner")] = "",
    nullable: Annotated[bool, typer.Option("--nullable", help="Allow null values.")] = False,
    ttl: TtlOpt = None,
    depends_on: DependsOpt = None,
    transformer: Annotated[
        TransformerChoice | None, typer.Option("--transformer", help="Transformer to use.")
    ] = None,
    param: ParamOpt = None,
    version: VersionOpt = None,
    reason: ReasonOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """Register a feature (version 1.0.0 unless --version)."""
    doc: dict[str, Any] = {
        "name": name,
        "entity": entity,
        "type": type_.value,
        "dtype": dtype.value if dtype else None,
        "group": group,
        "description": description,
        "tags": tag or [],
        "owner": owner,
        "nullable": nullable,
        "ttl_seconds": ttl,
        "dependencies": depends_on or [],
    }
    spec = spec_of(transformer.value if transformer else None, param)

    async def go(store: FeatureStore) -> dict[str, Any]:
        created = await store.create_feature(doc, spec, version=version, reason=reason)
        return await _with_version(store, created)

    data = run(go)
    emit(data, as_json, f"created feature {data['name']} version {data['current_version']}")


@app.command("list")
def list_(
    group: Annotated[str | None, typer.Option("--group", "-g")] = None,
    entity: Annotated[str | None, typer.Option("--entity", "-e")] = None,
    tag: Annotated[str | None, typer.Option("--tag")] = None,
    type_: Annotated[FeatureTypeChoice | None, typer.Option("--type", "-t")] = None,
    search: Annotated[str | None, typer.Option("--search", "-s", help="Text in the name.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List features, optionally filtered."""
    filters = {
        "group": group,
        "entity": entity,
        "tag": tag,
        "type": type_.value if type_ else None,
        "name_contains": search,
    }
    features = run(lambda store: store.list_features(**{k: v for k, v in filters.items() if v is not None}))
    emit(
        features,
        as_json,
        lambda: table(
            ["name", "entity", "type", "dtype", "group", "version", "tags", "description"],
            (
                [f.name, f.entity, f.type, f.dtype, f.group, f.current_version, f.tags, f.description]
                for f in features
            ),
            "Features",
        ),
    )


@app.command("show")
def show(name: Annotated[str, typer.Argument(help="Feature name.")], as_json: JsonOpt = False) -> None:
    """Show a feature and its current transformer."""

    async def go(store: FeatureStore) -> dict[str, Any]:
        return await _with_version(store, await store.get_feature(name))

    data = run(go)
    emit(data, as_json, lambda: show_feature(data, f"Feature {name}"))


@app.command("update")
def update(
    name: Annotated[str, typer.Argument(help="Feature name.")],
    entity: Annotated[str | None, typer.Option("--entity", "-e")] = None,
    type_: Annotated[FeatureTypeChoice | None, typer.Option("--type", "-t")] = None,
    dtype: DtypeOpt = None,
    group: GroupOpt = None,
    description: DescriptionOpt = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Replace the tags (repeatable).")] = None,
    owner: OwnerOpt = None,
    nullable: Annotated[bool | None, typer.Option("--nullable/--not-nullable")] = None,
    ttl: TtlOpt = None,
    depends_on: Annotated[
        list[str] | None, typer.Option("--depends-on", help="Replace the dependencies (repeatable).")
    ] = None,
    transformer: Annotated[
        TransformerOrNoneChoice | None,
        typer.Option("--transformer", help="New transformer; 'none' removes it."),
    ] = None,
    param: ParamOpt = None,
    version: VersionOpt = None,
    reason: ReasonOpt = "",
    as_json: JsonOpt = False,
) -> None:
    """Change a feature; registers a new version when the definition or transformer changes."""
    given = {
        "entity": entity,
        "type": type_.value if type_ else None,
        "dtype": dtype.value if dtype else None,
        "group": group,
        "description": description,
        "tags": tag,
        "owner": owner,
        "nullable": nullable,
        "ttl_seconds": ttl,
        "dependencies": depends_on,
    }
    changes = {k: v for k, v in given.items() if v is not None}
    kind = transformer.value if transformer else None

    async def go(store: FeatureStore) -> dict[str, Any]:
        new: Any = "keep"
        if kind == "none":
            new = None
        elif kind is not None:
            new = spec_of(kind, param)
        elif param:  # new parameters for the current transformer
            current = await store.get_version(name)
            if current.transformer is None:
                from fstore.errors import ValidationError

                raise ValidationError(f"feature {name!r} has no transformer; give --transformer")
            new = spec_of(current.transformer.kind.value, param)
        before = await store.get_feature(name)
        updated = await store.update_feature(name, changes, transformer=new, version=version, reason=reason)
        data = await _with_version(store, updated)
        data["previous_version"] = before.current_version
        return data

    data = run(go)
    if data["previous_version"] == data["current_version"]:
        text = f"feature {name} unchanged (version {data['current_version']})"
    else:
        text = f"updated feature {name}: version {data['previous_version']} → {data['current_version']}"
    emit(data, as_json, text)


@app.command("delete")
def delete(
    name: Annotated[str, typer.Argument(help="Feature name.")],
    force: Annotated[bool, typer.Option("--force", "-f", help="Delete even if others depend on it.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete a feature with its versions and values (refused if others depend on it)."""
    run(lambda store: store.delete_feature(name, force=force))
    emit({"deleted": name, "type": "feature"}, as_json, lambda: message(f"deleted feature {name}"))
