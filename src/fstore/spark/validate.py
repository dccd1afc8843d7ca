"""Validating a source's rows in Spark with the in-process rules.

The rows go through ``values.coerce_entity_ids`` / ``coerce_timestamps`` / ``coerce_column`` in
Spark's Python workers (``mapInArrow``, one Arrow batch at a time), so a backfill accepts and
refuses exactly what ``store_feature_values`` does. A batch with a bad row yields a single row
whose ``__error`` names it (by entity id and event time: positions within a batch mean nothing
to the user); the job reads the first error before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa

from fstore.errors import FStoreError, TypeMismatchError
from fstore.models import Feature, ValueType
from fstore.values import TS_TYPE, arrow_type, coerce_column, coerce_entity_ids, coerce_timestamps

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

ERROR = "__error"
ROW = "__row"
_WHERE = re.compile(r"^row \d+(?: \(entity .*?\))?: ")
_SPARK_TYPES = {ValueType.FLOAT: "double", ValueType.INT: "bigint", ValueType.STRING: "string"}


def spark_type(feature: Feature) -> str:
    return _SPARK_TYPES[feature.dtype]  # type: ignore[index]


def _numbers(arr: pa.Array, feature: Feature) -> pa.Array:
    """Numbers written as text (a CSV source), parsed; text that is no number is refused."""
    text = pd.Series(arr.to_pandas())
    parsed = pd.to_numeric(text.where(text != ""), errors="coerce")
    bad = parsed.isna() & text.notna() & (text != "")
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise TypeMismatchError(
            f"feature {feature.name!r}: {text.iloc[row]!r} is not a number", row=row, feature=feature.name
        )
    return pa.array(parsed, pa.int64() if feature.dtype is ValueType.INT and parsed.notna().all() else None)


def _named(batch: pa.RecordBatch, row: int | None, exc: FStoreError) -> str:
    message = _WHERE.sub("", exc.message)
    if row is None or row >= batch.num_rows:
        return message
    entity = batch.column(0)[row].as_py()
    at = batch.column(1)[row].as_py()
    return f"the row of entity {entity!r} at {at}: {message}"


def _checker(feature: Feature, out: pa.Schema):  # a Spark callback
    def check(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            try:
                ids = coerce_entity_ids(batch.column(0))
                ts = coerce_timestamps(batch.column(1), ids)
                raw = batch.column(2)
                if feature.dtype is not ValueType.STRING and pa.types.is_string(raw.type):
                    raw = _numbers(raw, feature)
                values = coerce_column(feature, raw, ids)
            except FStoreError as exc:
                message = _named(batch, exc.details.get("row"), exc)
                yield pa.RecordBatch.from_pylist(
                    [{"entity_id": None, "event_timestamp": None, "value": None, ROW: 0, ERROR: message}],
                    schema=out,
                )
                continue
            yield pa.RecordBatch.from_arrays(
                [ids, ts, values, batch.column(3), pa.nulls(batch.num_rows, pa.string())], schema=out
            )

    return check


def validated(df: DataFrame, feature: Feature) -> DataFrame:
    """``df`` (columns entity_id, event_timestamp, value, __row) with validated, typed values
    and an ``__error`` column (null, or the one row standing for a bad batch)."""
    out = pa.schema(
        [
            ("entity_id", pa.string()),
            ("event_timestamp", TS_TYPE),
            ("value", arrow_type(feature.dtype)),  # type: ignore[arg-type]
            (ROW, pa.int64()),
            (ERROR, pa.string()),
        ]
    )
    ddl = (
        f"entity_id string, event_timestamp timestamp, value {spark_type(feature)}, "
        f"{ROW} bigint, {ERROR} string"
    )
    return df.mapInArrow(_checker(feature, out), ddl)
