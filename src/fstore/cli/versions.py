"""``fstore versions …`` and ``fstore fit``: feature versions and fitted transformers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from fstore.cli.options import JsonOpt, TransformerChoice, parse_params
from fstore.cli.output import emit, kv_table, message, table
from fstore.cli.progress import progress
from fstore.cli.runner import run

if TYPE_CHECKING:
    from fstore.models import FeatureVersion
    from fstore.store import FeatureStore

app = typer.Typer(help="List, show, compare and roll back feature versions.", no_args_is_help=True)

FeatureArg = Annotated[str, typer.Argument(help="Feature name.")]


def _transformer_text(fv: FeatureVersion) -> str | None:
    if fv.transformer is None:
        return None
    params = fv.transformer.params
    text = fv.transformer.kind.value + (f" {params}" if params else "")
    return text + (" (fitted)" if fv.transformer_state is not None else " (not fitted)")


def version_fields(fv: FeatureVersion) -> dict[str, Any]:
    return {
        "feature": fv.feature_id,
        "version": fv.version,
        "bump": fv.bump,
        "transformer": _transformer_text(fv),
        "state": fv.transformer_state,
        "dependencies": fv.dependencies,
        "reason": fv.reason,
        "created by": fv.created_by,
        "created at": fv.created_at,
        "definition": fv.definition,
    }


@app.command("list")
def list_(feature: FeatureArg, as_json: JsonOpt = False) -> None:
    """List a feature's versions (* marks the current one)."""

    async def go(store: FeatureStore) -> tuple[list[FeatureVersion], str | None]:
        versions = await store.list_versions(feature)
        return versions, (await store.get_feature(feature)).current_version

    versions, current = run(go)
    rows = [{**v.model_dump(mode="json"), "current": v.version == current} for v in versions]
    emit(
        rows,
        as_json,
        lambda: table(
            ["", "version", "bump", "transformer", "reason", "by", "created"],
            (
                [
                    "*" if v.version == current else "",
                    v.version,
                    v.bump,
                    _transformer_text(v),
                    v.reason,
                    v.created_by,
                    v.created_at,
                ]
                for v in versions
            ),
            f"Versions of {feature}",
        ),
    )


@app.command("show")
def show(
    feature: FeatureArg,
    version: Annotated[str | None, typer.Argument(help="Version (default: the current one).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one version: definition, transformer and fitted state."""
    fv = run(lambda store: store.get_version(feature, version))
    emit(fv, as_json, lambda: kv_table(version_fields(fv), f"{fv.feature_id} {fv.version}"))


@app.command("diff")
def diff(
    feature: FeatureArg,
    a: Annotated[str, typer.Argument(help="From version.")],
    b: Annotated[str, typer.Argument(help="To version.")],
    as_json: JsonOpt = False,
) -> None:
    """What changed between two versions."""
    result = run(lambda store: store.diff_versions(feature, a, b))

    def human() -> None:
        changes = result.get("changes", {})
        if not changes:
            message(f"{feature}: {a} and {b} do not differ")
            return
        table(
            ["field", a, b],
            ([k, c.get("from"), c.get("to")] for k, c in changes.items()),
            f"{feature}: {a} → {b}",
        )

    emit(result, as_json, human)


@app.command("rollback")
def rollback(
    feature: FeatureArg,
    version: Annotated[str, typer.Argument(help="The version to make current again.")],
    as_json: JsonOpt = False,
) -> None:
    """Make an earlier version current again (recorded in the history)."""
    restored = run(lambda store: store.rollback(feature, version))
    emit(restored, as_json, f"feature {feature} is at version {restored.current_version}")


def fit(
    feature: FeatureArg,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Fit on values up to this ISO-8601 time.")
    ] = None,
    transformer: Annotated[
        TransformerChoice | None,
        typer.Option("--transformer", help="Fit a new transformer instead of the current one."),
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Transformer parameter key=value.")
    ] = None,
    version: Annotated[str | None, typer.Option("--version", help="Explicit version X.Y.Z.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit the feature's transformer on its offline history; registers a new version."""
    spec: dict[str, Any] | None = None
    if transformer is not None:
        spec = {"kind": transformer.value, "params": parse_params(param)}
    elif param:
        from fstore.errors import ValidationError

        raise ValidationError("--param needs --transformer (to refit the current one, give neither)")

    async def go(store: FeatureStore) -> FeatureVersion:
        with progress(f"fitting {feature}'s transformer", as_json):
            return await store.fit_transformer(feature, as_of=as_of, transformer=spec, version=version)

    fv = run(go)
    emit(fv, as_json, lambda: message(f"fitted {feature}: version {fv.version} ({fv.reason})"))
