"""``fstore spark``: jobs on Apache Spark (docs/spark.md). Needs ``pip install 'fstore[spark]'``
and Java 17+; ``FSTORE_SPARK_MASTER`` chooses where they run (default ``local[*]``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from fstore.cli.options import JsonOpt
from fstore.cli.output import emit, message
from fstore.cli.progress import progress
from fstore.cli.runner import LocalCommand, run
from fstore.cli.spark_pipeline import add_pipeline_commands

if TYPE_CHECKING:
    from fstore.store import FeatureStore

app = typer.Typer(no_args_is_help=True, help="Backfills, fits and training sets computed on Apache Spark.")


def _spark(store: FeatureStore) -> Any:
    from fstore.spark.session import spark_session

    return spark_session(store.settings)


@app.command("backfill", cls=LocalCommand)
def backfill(
    feature: Annotated[str, typer.Argument(help="The feature to backfill.")],
    source: Annotated[
        str,
        typer.Option(
            "--source",
            help="A .parquet file or directory, a .csv file (header row), or a JDBC URL "
            "(jdbc:postgresql://… or postgresql://…) with --table.",
        ),
    ],
    table: Annotated[
        str | None, typer.Option(help="The table (or SELECT query) of a JDBC source.", show_default=False)
    ] = None,
    entity_column: Annotated[
        str | None,
        typer.Option(help="The entity id column [default: the entity's join key].", show_default=False),
    ] = None,
    timestamp_column: Annotated[str, typer.Option(help="The event time column.")] = "event_timestamp",
    value_column: Annotated[
        str | None, typer.Option(help="The value column [default: the feature's name].", show_default=False)
    ] = None,
    stage: Annotated[
        str,
        typer.Option(help="How rows reach PostgreSQL's staging table: jdbc, or copy (binary COPY)."),
    ] = "jdbc",
    as_json: JsonOpt = False,
) -> None:
    """Validate, transform and store a large source's values of a feature, offline and online;
    a re-run changes nothing."""

    async def go(store: FeatureStore) -> dict[str, Any]:
        from fstore.spark.backfill import backfill as run_backfill

        with progress(f"backfilling {feature} on Spark", as_json):
            result = await run_backfill(
                store,
                _spark(store),
                feature,
                source,
                entity_column=entity_column,
                timestamp_column=timestamp_column,
                value_column=value_column,
                table=table,
                stage_with=stage,
            )
        return result.as_dict()

    r = run(go)
    online = f"{r['online']:,} sent online" if r["online_ok"] else "online write failed (left for repair)"
    emit(
        r,
        as_json,
        lambda: message(
            f"{feature}: {r['received']:,} rows read, {r['stored']:,} stored, {r['unchanged']:,} unchanged, "
            f"{r['duplicates']:,} duplicates; {online} ({r['seconds']:.1f} s)"
        ),
    )


@app.command("fit", cls=LocalCommand)
def fit(
    feature: Annotated[str, typer.Argument(help="The feature whose transformer to fit.")],
    as_of: Annotated[
        str | None, typer.Option(help="Fit on values up to this time (ISO-8601).", show_default=False)
    ] = None,
    transformer: Annotated[
        str | None,
        typer.Option(help="Fit this transformer kind instead of the current one.", show_default=False),
    ] = None,
    version: Annotated[str | None, typer.Option(help="An explicit new version.", show_default=False)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit the feature's transformer over its whole offline history in Spark and register the
    state as a new version (as `fstore fit` does in-process)."""

    async def go(store: FeatureStore) -> dict[str, Any]:
        from fstore.spark.fit import spark_fit

        with progress(f"fitting {feature}'s transformer on Spark", as_json):
            fv = await spark_fit(
                store, _spark(store), feature, as_of=as_of, transformer=transformer, version=version
            )
        return fv.model_dump(mode="json")

    fv = run(go)
    emit(
        fv,
        as_json,
        lambda: message(f"{feature}: version {fv['version']} ({fv.get('reason') or 'unchanged'})"),
    )


@app.command("stats", cls=LocalCommand)
def stats(
    feature: Annotated[str, typer.Argument(help="The feature.")],
    end: Annotated[
        str | None, typer.Option(help="Only values up to this time (ISO-8601).", show_default=False)
    ] = None,
    exact_quantiles: Annotated[
        bool, typer.Option(help="Exact interpolated quantiles (holds the distinct values in memory).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Statistics of the feature's whole offline history, computed in Spark."""

    async def go(store: FeatureStore) -> dict[str, Any]:
        from fstore.spark.statistics import spark_statistics
        from fstore.values import to_datetime

        with progress(f"computing {feature}'s statistics on Spark", as_json):
            result = await spark_statistics(
                store,
                _spark(store),
                feature,
                end=to_datetime(end) if end is not None else None,
                exact_quantiles=exact_quantiles,
            )
        return result.model_dump(mode="json")

    s = run(go)
    emit(s, as_json, lambda: message("\n".join(f"{k}: {v}" for k, v in s.items())))


@app.command("training-set", cls=LocalCommand)
def training_set(
    entity_rows: Annotated[
        str,
        typer.Argument(
            help="Entity rows: a .parquet file or directory, a .csv file, or a JDBC URL with --table."
        ),
    ],
    feature: Annotated[list[str], typer.Option("--feature", "-f", help="A feature to join (repeatable).")],
    output: Annotated[str, typer.Option("--output", "-o", help="Output Parquet directory (replaced).")],
    table: Annotated[
        str | None, typer.Option(help="The table (or SELECT query) of a JDBC source.", show_default=False)
    ] = None,
    timestamp_column: Annotated[str, typer.Option(help="The entity rows' time column.")] = "event_timestamp",
    raw: Annotated[bool, typer.Option("--raw", help="Untransformed values.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """A point-in-time-correct training set computed in Spark, written as Parquet."""

    async def go(store: FeatureStore) -> dict[str, Any]:
        import time

        from fstore.spark.training import read_rows, spark_training_set, write_training_set

        started = time.perf_counter()
        with progress(f"building the training set on Spark ({len(feature)} features)", as_json):
            spark = _spark(store)
            frame = await spark_training_set(
                store,
                spark,
                read_rows(spark, store, entity_rows, table),
                feature,
                timestamp_column=timestamp_column,
                transformed=not raw,
            )
            rows = write_training_set(frame, output)
        return {"rows": rows, "output": output, "seconds": round(time.perf_counter() - started, 3)}

    r = run(go)
    emit(r, as_json, lambda: message(f"{r['rows']:,} rows written to {r['output']} ({r['seconds']:.1f} s)"))


# -- Structured Streaming (issue 11 point 6) ----------------------------------------------------


@app.command("stream", cls=LocalCommand)
def stream(
    checkpoint: Annotated[
        str | None,
        typer.Option(
            help="Where the queries keep offsets and aggregation state "
            "[default: FSTORE_SPARK_CHECKPOINT_LOCATION, else <home>/spark-checkpoints/stream].",
            show_default=False,
        ),
    ] = None,
    trigger_seconds: Annotated[float, typer.Option(help="Seconds between micro-batches.")] = 5.0,
    buckets: Annotated[
        int, typer.Option(help="Aggregation state buckets (fixed for the life of a checkpoint).")
    ] = 16,
    source: Annotated[
        str, typer.Option(help="auto (Spark's kafka source when its jar is present), kafka, or python.")
    ] = "auto",
    ingest: Annotated[bool, typer.Option(help="Consume the ingest topic.")] = True,
    aggregations: Annotated[bool, typer.Option(help="Compute the aggregation features.")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Run the Feature Processor's work as Spark Structured Streaming queries (ingest topic
    and windowed aggregations) until SIGTERM/SIGINT; a restart resumes from the checkpoint."""
    if source not in ("auto", "kafka", "python"):
        raise typer.BadParameter(f"unknown source {source!r}: auto, kafka or python", param_hint="--source")

    async def go(store: FeatureStore) -> dict[str, Any]:
        from fstore.spark.stream import StreamOptions, run_stream
        from fstore.streaming.kafka import client_config

        client_config(store.settings)  # fails before Spark starts when Kafka is not configured
        options = StreamOptions(
            checkpoint_location=checkpoint,
            trigger_seconds=trigger_seconds,
            buckets=buckets,
            source=source,  # type: ignore[arg-type]
            ingest=ingest,
            aggregations=aggregations,
        )
        counts = await run_stream(store, _spark(store), options)
        return counts.as_dict()

    r = run(go)
    emit(
        r,
        as_json,
        lambda: message(
            f"stopped: {r['batches']:,} batches, {r['events']:,} events and {r['aggregates']:,} "
            f"aggregates stored, {r['dead_lettered']:,} dead-lettered"
        ),
    )


# -- SQL feature pipelines: `fstore spark pipeline …` and `fstore spark run` (cli/spark_pipeline.py)
add_pipeline_commands(app, _spark)
