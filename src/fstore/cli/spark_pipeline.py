"""``fstore spark pipeline …`` and ``fstore spark run``: SQL feature pipelines (docs/spark.md).

Kept apart from ``cli/spark.py``, which attaches them with ``add_pipeline_commands``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fstore.cli.options import JsonOpt
from fstore.cli.output import emit, message
from fstore.cli.runner import LocalCommand, fail, run

if TYPE_CHECKING:
    from fstore.store import FeatureStore

pipeline_app = typer.Typer(no_args_is_help=True, help="SQL feature pipelines: register, list, show.")
_session: dict[str, Callable[[FeatureStore], Any]] = {}


def _source(text: str) -> tuple[str, dict[str, str]]:
    """``VIEW=PATH``, ``VIEW=feature:NAME`` or ``VIEW=table:TABLE`` (the offline store's database)."""
    view, sep, what = text.partition("=")
    if not sep or not view or not what:
        raise fail(f"--source {text!r}: give VIEW=PATH, VIEW=feature:NAME or VIEW=table:TABLE", 2)
    for kind in ("feature", "table"):
        if what.startswith(f"{kind}:"):
            return view, {kind: what.removeprefix(f"{kind}:")}
    return view, {"path": what}


@pipeline_app.command("register", cls=LocalCommand)
def register(
    file: Annotated[
        str | None, typer.Argument(help="A YAML definition (name, query, sources, entity_column, …).")
    ] = None,
    sql: Annotated[str | None, typer.Option(help="The Spark SQL query (instead of FILE).")] = None,
    name: Annotated[str | None, typer.Option(help="The pipeline's name (with --sql).")] = None,
    source: Annotated[
        list[str] | None,
        typer.Option(
            help="A view the query reads (with --sql): VIEW=PATH, VIEW=feature:NAME, VIEW=table:TABLE."
        ),
    ] = None,
    entity_column: Annotated[
        str | None, typer.Option(help="The result's entity key column (with --sql).")
    ] = None,
    timestamp_column: Annotated[
        str, typer.Option(help="The result's event-time column.")
    ] = "event_timestamp",
    feature: Annotated[
        list[str] | None,
        typer.Option("--feature", "-f", help="An output feature [default: every other result column]."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a pipeline with Spark and store it in its output features' definitions (a new
    version of each one it changes); a bad definition stores nothing."""
    if (file is None) == (sql is None):
        raise fail("give a definition FILE or --sql (with --name, --source, --entity-column)", 2)
    definition: Any = file
    if sql is not None:
        if not name or not entity_column or not source:
            raise fail("--sql needs --name, --entity-column and at least one --source", 2)
        definition = {
            "name": name,
            "query": sql,
            "sources": dict(_source(s) for s in source),
            "entity_column": entity_column,
            "timestamp_column": timestamp_column,
            "features": feature or None,
        }
    elif feature:
        raise fail("--feature goes with --sql; list the features in the FILE", 2)

    async def go(store: FeatureStore) -> list[dict[str, Any]]:
        from fstore.spark.pipeline import register_pipeline

        versions = await register_pipeline(store, _session["spark"](store), definition)
        return [v.model_dump(mode="json") for v in versions]

    versions = run(go)
    emit(
        versions,
        as_json,
        lambda: message(
            "\n".join(
                f"{v['feature_id']}: version {v['version']} ({v.get('reason') or ''})" for v in versions
            )
        ),
    )


@pipeline_app.command("list", cls=LocalCommand)
def list_pipelines(as_json: JsonOpt = False) -> None:
    """The registered pipelines and their output features."""

    async def go(store: FeatureStore) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for f in await store.list_features():
            if f.pipeline is not None:
                found.setdefault(f.pipeline.name, []).append(f.name)
        return dict(sorted(found.items()))

    found = run(go)
    emit(found, as_json, lambda: message("\n".join(f"{k}: {', '.join(v)}" for k, v in found.items())))


@pipeline_app.command("show", cls=LocalCommand)
def show(name: Annotated[str, typer.Argument(help="The pipeline.")], as_json: JsonOpt = False) -> None:
    """A pipeline's definition, output features and their dependencies."""

    async def go(store: FeatureStore) -> dict[str, Any]:
        from fstore.spark.pipeline import pipeline_features

        spec, features = await pipeline_features(store, name)
        return {
            **spec.model_dump(mode="json"),
            "features": {
                f.name: {"version": f.current_version, "dependencies": f.dependencies} for f in features
            },
        }

    out = run(go)
    emit(out, as_json, lambda: message("\n".join(f"{k}: {v}" for k, v in out.items())))


def run_command(
    pipeline: Annotated[str, typer.Argument(help="The pipeline to run.")],
    start: Annotated[
        str | None,
        typer.Option(help="Event times from this one on (ISO-8601, inclusive).", show_default=False),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option(help="Event times before this one (ISO-8601, exclusive).", show_default=False),
    ] = None,
    stage: Annotated[
        str, typer.Option(help="How rows reach PostgreSQL's staging table: jdbc, or copy (binary COPY).")
    ] = "jdbc",
    as_json: JsonOpt = False,
) -> None:
    """Compute a SQL pipeline for a time range and store its features like a backfill; a
    re-run changes nothing."""

    async def go(store: FeatureStore) -> dict[str, Any]:
        from fstore.spark.pipeline import run_pipeline
        from fstore.values import to_datetime

        result = await run_pipeline(
            store,
            _session["spark"](store),
            pipeline,
            start=None if start is None else to_datetime(start),
            end=None if end is None else to_datetime(end),
            stage_with=stage,
        )
        return result.as_dict()

    r = run(go)

    def human() -> None:
        message(f"{pipeline}: {r['rows']:,} result rows ({r['seconds']:.1f} s)")
        for name, f in r["features"].items():
            message(
                f"  {name}: {f['stored']:,} stored, {f['unchanged']:,} unchanged, {f['online']:,} sent online"
            )

    emit(r, as_json, human)


def add_pipeline_commands(app: typer.Typer, spark: Callable[[FeatureStore], Any]) -> None:
    """``pipeline …`` and ``run`` on ``app`` (``fstore spark``); ``spark`` gives the session."""
    _session["spark"] = spark
    app.add_typer(pipeline_app, name="pipeline")
    app.command("run", cls=LocalCommand)(run_command)
