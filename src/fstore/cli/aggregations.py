"""``fstore aggregations``: real-time aggregation features (docs/streaming-aggregations.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fstore.cli.options import JsonOpt
from fstore.cli.output import emit, message, table
from fstore.cli.progress import progress
from fstore.cli.runner import LocalCommand, run

if TYPE_CHECKING:
    from fstore.store import FeatureStore

app = typer.Typer(no_args_is_help=True, help="Windowed aggregation features over topics of raw events.")


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """The aggregation features and their definitions."""

    async def go(store: FeatureStore) -> list[dict[str, Any]]:
        return [
            {"feature": f.name, "version": f.current_version, **f.aggregation.model_dump(mode="json")}
            for f in await store.list_features()
            if f.aggregation is not None
        ]

    rows = run(go)
    columns = ["feature", "version", "source_topic", "function", "value_field", "window", "size_seconds"]
    emit(rows, as_json, lambda: table(columns, ([r[c] for c in columns] for r in rows), "Aggregations"))


@app.command("backfill", cls=LocalCommand)
def backfill(
    feature: Annotated[str, typer.Argument(help="The aggregation feature.")],
    file: Annotated[
        Path | None,
        typer.Argument(help="A .csv or .parquet file of raw events, in arrival order.", show_default=False),
    ] = None,
    from_feature: Annotated[
        str | None,
        typer.Option(
            "--from-feature",
            help="Read the events from this feature's offline history instead of a file "
            "(entity id, event time and value, in ingestion order).",
        ),
    ] = None,
    timestamp_column: Annotated[
        str, typer.Option(help="The event time column when the definition takes the Kafka timestamp.")
    ] = "timestamp",
    batch_size: Annotated[int, typer.Option(min=1, help="Events per batch.")] = 100_000,
    as_json: JsonOpt = False,
) -> None:
    """Compute an aggregation over historical events and store its values, with the same
    results as the stream would have given."""
    from fstore.errors import ValidationError

    if (file is None) == (from_feature is None):
        raise typer.BadParameter("give a FILE or --from-feature, not both")

    async def go(store: FeatureStore) -> dict[str, Any]:
        from fstore.streaming.aggregations import backfill as run_backfill

        spec = (await store.get_feature(feature)).aggregation
        if spec is None:
            raise ValidationError(f"feature {feature!r} is not an aggregation")
        events = await _events(store, spec, file, from_feature, timestamp_column)
        with progress(f"aggregating {feature}", as_json, total=len(events)) as step:
            read, refused, dropped = await run_backfill(
                store,
                feature,
                events,
                batch_size=batch_size,
                timestamp_column=timestamp_column,
                on_batch=step.advance,
            )
        return {"feature": feature, "events": read, "refused": refused, "late_updates_dropped": dropped}

    result = run(go)
    emit(
        result,
        as_json,
        lambda: message(
            f"{feature}: {result['events']:,} events aggregated "
            f"({result['refused']:,} refused, {result['late_updates_dropped']:,} late window updates dropped)"
        ),
    )


async def _events(
    store: FeatureStore, spec: Any, file: Path | None, from_feature: str | None, timestamp_column: str
) -> Any:
    if file is not None:
        from fstore.cli.data import read_table

        return read_table(file, {spec.entity_field})
    assert from_feature is not None
    history = (await store.get_feature_history(from_feature)).to_pandas()
    history = history.sort_values("ingested_at", kind="stable")
    names = {"entity_id": spec.entity_field, "event_timestamp": spec.timestamp_field or timestamp_column}
    if spec.value_field:
        names["value"] = spec.value_field
    return history[list(names)].rename(columns=names)
