"""``fstore spark``: jobs on Apache Spark (docs/spark.md). Needs ``pip install 'fstore[spark]'``
and Java 17+; ``FSTORE_SPARK_MASTER`` chooses where they run (default ``local[*]``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from fstore.cli.options import JsonOpt
from fstore.cli.output import emit, message
from fstore.cli.runner import LocalCommand, run

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
    as_json: JsonOpt = False,
) -> None:
    """Validate, transform and store a large source's values of a feature, offline and online;
    a re-run changes nothing."""

    async def go(store: FeatureStore) -> dict[str, Any]:
        from fstore.spark.backfill import backfill as run_backfill

        result = await run_backfill(
            store,
            _spark(store),
            feature,
            source,
            entity_column=entity_column,
            timestamp_column=timestamp_column,
            value_column=value_column,
            table=table,
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
