"""Bulk data commands: ``ingest``, ``training-set``, ``materialize`` and ``stats``.

``ingest`` keeps "a bad row stores nothing" true while writing in batches: it reads the whole
file, validates every row of every feature column first (a dry run with the same checks the
store applies), and only then hands the table to ``FeatureStore.ingest`` batch by batch
(schema problems — unknown columns, a missing id or timestamp column — fail on the first
batch, before anything is written). Each batch is one atomic write, and rows already stored
with the same value are not written again: a run killed part-way and run again ends with
the file stored exactly once, and says how many values were already there.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fstore.cli.options import JsonOpt
from fstore.cli.output import emit, kv_table, message, table
from fstore.cli.progress import progress
from fstore.cli.runner import guard, run
from fstore.errors import ValidationError

if TYPE_CHECKING:
    import pyarrow as pa

    from fstore.models import Feature
    from fstore.store import FeatureStore
    from fstore.write_result import IngestResult

TimestampOpt = Annotated[str, typer.Option("--timestamp-column", help="Column holding the event times.")]
StartOpt = Annotated[str | None, typer.Option("--start", help="From this event time (ISO-8601).")]
EndOpt = Annotated[str | None, typer.Option("--end", help="Up to this event time (ISO-8601).")]


# -- files --------------------------------------------------------------------------------------


def file_format(path: Path) -> str:
    from fstore.errors import ValidationError

    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    raise ValidationError(f"{path}: unsupported file type (use .csv or .parquet)")


def csv_header(path: Path) -> list[str]:
    import csv

    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
        return next(csv.reader(f), [])


def read_table(path: Path, string_columns: set[str] | None = None) -> pa.Table:
    """A CSV or Parquet file as an Arrow table. CSV columns in ``string_columns`` (``None``:
    all of them) are read as strings with empty cells as nulls; the rest are inferred."""
    import csv

    import pyarrow as pa

    from fstore.errors import ValidationError

    kind = file_format(path)
    if not path.exists():
        raise FileNotFoundError(2, "no such file", str(path))
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path)
        import pyarrow.csv as pacsv

        try:
            header = csv_header(path)
        except UnicodeDecodeError as exc:
            raise ValidationError(f"{path}: not UTF-8 text (save it as UTF-8: {exc.reason})") from None
        except csv.Error as exc:
            raise ValidationError(f"{path}: not a CSV file ({exc})") from None
        if not header:
            raise ValidationError(f"{path}: the file is empty (no header row)")
        dup = next((n for i, n in enumerate(header) if n in header[:i]), None)
        if dup is not None:
            raise ValidationError(f"{path}: column {dup!r} appears more than once in the header")
        names = set(header) if string_columns is None else set(header) & string_columns
        convert = pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names},
            strings_can_be_null=True,
            null_values=[""],
        )
        return pacsv.read_csv(path, convert_options=convert)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        if "UTF8" in str(exc):
            raise ValidationError(f"{path}: not UTF-8 text ({exc})") from None
        raise ValidationError(f"{path}: cannot read the file: {exc}") from None


def write_table(data: pa.Table, path: Path) -> None:
    import json

    import pyarrow as pa

    kind = file_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(data, path)
        return
    import pyarrow.csv as pacsv

    for i, field in enumerate(data.schema):  # CSV has no lists: one-hot vectors as JSON text
        if pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
            text = [None if v is None else json.dumps(v) for v in data.column(i).to_pylist()]
            data = data.set_column(i, field.name, pa.array(text, pa.string()))
    pacsv.write_csv(data, path)


def with_line(exc: Exception, path: Path, kind: str) -> Exception:
    """The same error, its message naming the CSV line of the bad row (header = line 1)."""
    row = getattr(exc, "details", {}).get("row")
    if kind != "csv" or not isinstance(row, int):
        return exc
    err = type(exc)(f"{exc.message} (line {row + 2} of {path.name})", **exc.details)  # type: ignore[attr-defined]
    return err


def to_numbers(column: Any, feature: Feature, ids: list[Any]) -> pa.Array:
    """A CSV string column as numbers for a numerical feature; a bad cell names its row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from fstore.errors import TypeMismatchError

    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return arr
    targets = [pa.int64(), pa.float64()] if feature.dtype == "int" else [pa.float64()]
    for target in targets:
        try:
            return pc.cast(arr, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    out: list[float | None] = []
    for i, text in enumerate(arr.to_pylist()):
        if text is None:
            out.append(None)
            continue
        try:
            out.append(float(text))
        except ValueError:
            raise TypeMismatchError(
                f"row {i} (entity {ids[i]!r}): feature {feature.name!r} is numerical: "
                f"{text!r} is not a number",
                row=i,
                feature=feature.name,
            ) from None
    return pa.array(out, pa.float64())


async def prepare(
    store: FeatureStore,
    data: pa.Table,
    features: list[str] | None,
    timestamp_column: str,
    entity_column: str | None,
) -> pa.Table:
    """Convert CSV text columns of numerical features to numbers and validate every row of
    every feature column with the store's own checks (a dry run: raises on the first bad row,
    stores nothing)."""
    registered = {f.name: f for f in await store.list_features()}
    names = features or [c for c in data.column_names if c in registered]
    chosen = [registered[n] for n in names if n in registered and n in data.column_names]
    key = entity_column or (await store.get_entity(chosen[0].entity)).join_key if chosen else None
    if key is not None and key in data.column_names:
        id_list = data.column(key).to_pylist()
        for f in chosen:
            if f.type == "numerical":
                index = data.column_names.index(f.name)
                data = data.set_column(index, f.name, to_numbers(data.column(f.name), f, id_list))
    await store.ingest(
        data,
        features=features or None,
        timestamp_column=timestamp_column,
        entity_column=entity_column,
        validate_only=True,
    )
    return data


# -- commands -----------------------------------------------------------------------------------


def ingest(
    file: Annotated[Path, typer.Argument(help="A .csv or .parquet file: id, timestamp, feature columns.")],
    feature: Annotated[
        list[str] | None,
        typer.Option("--feature", "-f", help="Only these feature columns (default: every registered one)."),
    ] = None,
    timestamp_column: TimestampOpt = "event_timestamp",
    entity_column: Annotated[
        str | None, typer.Option("--entity-column", help="Entity id column (default: the join key).")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Rows per write.")] = 100_000,
    as_json: JsonOpt = False,
) -> None:
    """Validate a wide file whole, then store it (nothing is stored if any row is bad)."""
    kind = file_format(file)
    with guard():
        data = read_table(file)
        if data.num_rows == 0:
            raise ValidationError(f"{file}: no rows to ingest (the file holds only a header)")

    async def go(store: FeatureStore) -> IngestResult:
        try:
            prepared = await prepare(store, data, feature, timestamp_column, entity_column)
        except Exception as exc:
            raise with_line(exc, file, kind) from None
        from fstore.write_result import IngestResult

        counts = IngestResult.empty()
        starts = range(0, max(prepared.num_rows, 1), batch_size)
        with progress(f"ingesting {file.name}", as_json, total=prepared.num_rows) as step:
            for start in starts:
                chunk = prepared.slice(start, batch_size)
                stored = await store.ingest(
                    chunk,
                    features=feature or None,
                    timestamp_column=timestamp_column,
                    entity_column=entity_column,
                )
                counts.merge(stored)
                step.advance(chunk.num_rows)
        return counts

    counts = run(go)
    result = {
        "file": str(file),
        "rows": data.num_rows,
        "features": dict(counts),
        "values": sum(counts.values()),
        "stored": sum(counts.stored.values()),
        "unchanged": sum(counts.unchanged.values()),
        "duplicates": sum(counts.duplicates.values()),
        "by_feature": {
            n: {
                "stored": counts.stored[n],
                "unchanged": counts.unchanged[n],
                "duplicates": counts.duplicates[n],
            }
            for n in counts
        },
    }

    def human() -> None:
        also = f", {result['unchanged']:,} already stored" if result["unchanged"] else ""
        if result["duplicates"]:
            also += f", {result['duplicates']:,} repeated in the file (the last row wins)"
        message(f"ingested {result['stored']:,} values{also} ({data.num_rows:,} rows from {file})")
        table(
            ["feature", "values", "stored", "already stored"],
            ([n, v, counts.stored[n], counts.unchanged[n]] for n, v in counts.items()),
        )

    emit(result, as_json, human)


def training_set(
    entity_file: Annotated[
        Path, typer.Argument(help="Entity rows (.csv/.parquet): the join key(s) and a timestamp column.")
    ],
    feature: Annotated[list[str], typer.Option("--feature", "-f", help="A feature to join (repeatable).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output file, .parquet or .csv.")],
    timestamp_column: TimestampOpt = "event_timestamp",
    raw: Annotated[bool, typer.Option("--raw", help="Untransformed values.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Export a point-in-time-correct training set."""
    file_format(entity_file)
    file_format(output)

    async def go(store: FeatureStore) -> pa.Table:
        import pyarrow as pa

        keys = set()
        for name in feature:
            keys.add((await store.get_entity((await store.get_feature(name)).entity)).join_key)
        rows = read_table(entity_file, string_columns=keys)
        for key in keys & set(rows.column_names):  # entity ids are strings in the store
            if pa.types.is_integer(rows.schema.field(key).type):
                index = rows.column_names.index(key)
                rows = rows.set_column(index, key, rows.column(key).cast(pa.string()))
        with progress(f"joining {len(feature)} features to {rows.num_rows:,} rows", as_json):
            return await store.get_historical_features(
                rows, feature, timestamp_column=timestamp_column, transformed=not raw
            )

    result = run(go)
    write_table(result, output)
    info = {"output": str(output), "rows": result.num_rows, "columns": result.column_names}
    emit(
        info,
        as_json,
        f"wrote {result.num_rows:,} rows × {result.num_columns} columns to {output} "
        f"({', '.join(result.column_names)})",
    )


def materialize(
    start: StartOpt = None,
    end: EndOpt = None,
    feature: Annotated[
        list[str] | None, typer.Option("--feature", "-f", help="Only these features (repeatable).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Copy each entity's latest offline value into the online store."""

    async def go(store: FeatureStore) -> dict[str, int]:
        with progress("materializing the latest values online", as_json):
            return dict(await store.materialize(start, end, feature or None))

    counts = run(go)

    def human() -> None:
        message(f"materialized {sum(counts.values()):,} values")
        table(["feature", "values"], counts.items())

    emit(counts, as_json, human)


def stats(
    feature: Annotated[str, typer.Argument(help="Feature name.")],
    start: StartOpt = None,
    end: EndOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Statistics of a feature's stored values."""
    result = run(lambda store: store.statistics(feature, start=start, end=end))

    def human() -> None:
        fields = result.model_dump(exclude={"quantiles", "top_categories"})
        fields.update({f"quantile {k}": v for k, v in result.quantiles.items()})
        kv_table({k: v for k, v in fields.items() if v is not None}, f"Statistics of {feature}")
        if result.top_categories:
            table(["value", "count"], ([c.value, c.count] for c in result.top_categories), "Top categories")

    emit(result, as_json, human)
