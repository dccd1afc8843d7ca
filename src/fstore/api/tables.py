"""Arrow tables as HTTP answers: JSON, CSV (lists become JSON text) or Parquet (exact types)."""

from __future__ import annotations

import io
from enum import StrEnum
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fastapi import Response
from fastapi.encoders import jsonable_encoder

PARQUET = "application/vnd.apache.parquet"
# The non-JSON answers, for ``responses=`` of the routes that give them.
FILE_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}, PARQUET: {}}}}


class OutputFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    PARQUET = "parquet"


def _flatten_lists(table: pa.Table) -> pa.Table:
    """CSV has no lists: one-hot vectors become JSON text."""
    for i, field in enumerate(table.schema):
        if pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
            text = [None if v is None else orjson.dumps(v).decode() for v in table.column(i).to_pylist()]
            table = table.set_column(i, field.name, pa.array(text, pa.string()))
    return table


def json_response(payload: Any) -> Response:
    return Response(orjson.dumps(jsonable_encoder(payload)), media_type="application/json")


def file_response(table: pa.Table, fmt: OutputFormat) -> Response:
    """``table`` as CSV or Parquet (``fmt`` is not JSON: each route shapes its JSON)."""
    sink = io.BytesIO()
    if fmt is OutputFormat.CSV:
        pacsv.write_csv(_flatten_lists(table), sink)
        return Response(sink.getvalue(), media_type="text/csv")
    pq.write_table(table, sink)
    return Response(sink.getvalue(), media_type=PARQUET)
