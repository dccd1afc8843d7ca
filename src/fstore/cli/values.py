"""``fstore values …``: write and read feature values."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from fstore.cli.options import JsonOpt
from fstore.cli.output import emit, kv_table, message, table
from fstore.cli.runner import run

if TYPE_CHECKING:
    from fstore.models import Feature
    from fstore.store import FeatureStore

app = typer.Typer(help="Write and read feature values.", no_args_is_help=True)

FeatureArg = Annotated[str, typer.Argument(help="Feature name.")]
EntityArg = Annotated[str, typer.Argument(help="Entity id.")]
RawOpt = Annotated[bool, typer.Option("--raw", help="Untransformed values.")]

NULLS = {"", "null", "none"}


def parse_value(feature: Feature, raw: str) -> Any:
    """A command-line string as the feature's value: numbers for numerical features
    (``null`` for a null), the string itself for categorical ones."""
    from fstore.errors import TypeMismatchError

    if feature.dtype is not None and feature.dtype.value == "string":
        return raw
    text = raw.strip()
    if text.lower() in NULLS:
        return None
    try:
        return int(text) if feature.dtype is not None and feature.dtype.value == "int" else float(text)
    except ValueError:
        try:
            return float(text)  # "3.0" for an int feature; the store checks it is whole
        except ValueError:
            raise TypeMismatchError(
                f"feature {feature.name!r} is numerical: {raw!r} is not a number", feature=feature.name
            ) from None


@app.command("put")
def put(
    feature: FeatureArg,
    entity_id: EntityArg,
    value: Annotated[str, typer.Argument(help="The value (a number for numerical features).")],
    at: Annotated[str | None, typer.Option("--at", help="Event time, ISO-8601 (default: now).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Store one value of a feature for an entity."""

    async def go(store: FeatureStore) -> Any:
        parsed = parse_value(await store.get_feature(feature), value)
        await store.store_feature_value(feature, entity_id, parsed, at)
        return parsed

    parsed = run(go)
    emit(
        {"feature": feature, "entity_id": entity_id, "value": parsed, "event_timestamp": at, "stored": 1},
        as_json,
        f"stored {feature}[{entity_id}] = {parsed!r}",
    )


@app.command("get")
def get(feature: FeatureArg, entity_id: EntityArg, raw: RawOpt = False, as_json: JsonOpt = False) -> None:
    """The latest value of a feature for an entity (transformed by the current version).
    Its status says when it is expired (older than the feature's TTL: no value) or when the
    feature's transformer is not fitted (no transformed value)."""
    result = run(lambda store: store.get_feature_value(feature, entity_id))
    if result is None:
        from fstore.errors import NotFoundError

        raise NotFoundError(f"no value of feature {feature!r} for entity {entity_id!r}")
    data = result.model_dump(mode="json", exclude={"transformed"} if raw else None)
    shown = {
        "feature": result.feature_id,
        "entity": result.entity_id,
        "status": result.status.value,
        "value": result.value,
        **({} if raw else {"transformed": result.transformed}),
        "version": result.version,
        "event time": result.event_timestamp,
    }
    emit(data, as_json, lambda: kv_table(shown))


@app.command("vector")
def vector(
    entity_ids: Annotated[list[str], typer.Argument(help="Entity ids.")],
    feature: Annotated[list[str], typer.Option("--feature", "-f", help="A feature (repeatable).")],
    raw: RawOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Latest values of several features for several entities (one row per entity). A cell
    that is not present shows its status: <missing>, <expired> (older than the feature's
    TTL) or <not_fitted> (no fitted transformer); --json adds them under "$status"."""
    result = run(lambda store: store.get_feature_vector(feature, entity_ids, transformed=not raw))
    names = list(result.values)
    statuses = [result.status(n) for n in names]

    def cells(i: int) -> list[Any]:
        return [
            result.values[n][i] if s[i].value == "present" else f"<{s[i].value}>"
            for n, s in zip(names, statuses, strict=True)
        ]

    emit(
        result.to_json(),
        as_json,
        lambda: table(
            [result.join_key, *names],
            ([eid, *cells(i)] for i, eid in enumerate(result.entity_ids)),
            "Feature vector",
        ),
    )


@app.command("history")
def history(
    feature: FeatureArg,
    entity: Annotated[str | None, typer.Option("--entity", "-e", help="Only this entity id.")] = None,
    start: Annotated[str | None, typer.Option("--start", help="From this event time (ISO-8601).")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Up to this event time (ISO-8601).")] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="At most N rows.")] = None,
    include_superseded: Annotated[
        bool,
        typer.Option(
            "--include-superseded",
            help="Every stored row (audit): superseded values of an (entity, event time) come first.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """A feature's stored values over time (the offline history): the current value of each
    (entity, event time)."""
    result = run(
        lambda store: store.get_feature_history(
            feature, entity, start=start, end=end, limit=limit, include_superseded=include_superseded
        )
    )
    rows = result.to_pylist()

    def human() -> None:
        if not rows:
            message(f"(no values of {feature})")
            return
        table(list(result.column_names), ([r[c] for c in result.column_names] for r in rows), feature)

    emit(rows, as_json, human)
