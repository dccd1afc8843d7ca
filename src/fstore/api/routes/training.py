"""Point-in-time training sets and transforming a batch with a feature's fitted transformer."""

from __future__ import annotations

import io
from enum import StrEnum
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fastapi import APIRouter, Response
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ConfigDict, Field

from fstore.api.deps import Store
from fstore.training import to_arrow

router = APIRouter(prefix="/api/v1", tags=["training"])

MAX_ROWS = 1_000_000  # entity rows per JSON request


class OutputFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    PARQUET = "parquet"


class TrainingSetIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "entity_rows": [
                        {"customer_id": "c1", "event_timestamp": "2025-01-02T00:00:00Z", "label": 1}
                    ],
                    "features": ["amount"],
                }
            ]
        },
    )

    entity_rows: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_ROWS)
    features: list[str] = Field(min_length=1)
    timestamp_column: str = "event_timestamp"
    transformed: bool = True
    format: OutputFormat = OutputFormat.JSON


class TransformIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"values": [1.0, 2.5]}]})

    values: list[Any] = Field(min_length=1, max_length=MAX_ROWS)
    version: str | None = None


@router.post(
    "/training-sets",
    summary="A point-in-time-correct training set",
    responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}}},
)
async def training_set(body: TrainingSetIn, store: Store) -> Response:
    rows, _ = to_arrow(body.entity_rows)
    table: pa.Table = await store.get_historical_features(
        rows, body.features, timestamp_column=body.timestamp_column, transformed=body.transformed
    )
    if body.format is OutputFormat.CSV:
        sink = io.BytesIO()
        pacsv.write_csv(_flatten_lists(table), sink)
        return Response(sink.getvalue(), media_type="text/csv")
    if body.format is OutputFormat.PARQUET:
        sink = io.BytesIO()
        pq.write_table(table, sink)
        return Response(sink.getvalue(), media_type="application/vnd.apache.parquet")
    payload = jsonable_encoder({"columns": table.column_names, "rows": table.to_pylist()})
    return Response(_json(payload), media_type="application/json")


@router.post("/features/{name}/transform", summary="Transform raw values with the fitted transformer")
async def transform(name: str, body: TransformIn, store: Store) -> dict[str, Any]:
    out = await store.transform(name, body.values, version=body.version)
    return {"feature": name, "values": jsonable_encoder(out.tolist())}


def _flatten_lists(table: pa.Table) -> pa.Table:
    """CSV has no lists: one-hot vectors become JSON text."""
    import orjson

    for i, field in enumerate(table.schema):
        if pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
            text = [None if v is None else orjson.dumps(v).decode() for v in table.column(i).to_pylist()]
            table = table.set_column(i, field.name, pa.array(text, pa.string()))
    return table


def _json(payload: Any) -> bytes:
    import orjson

    return orjson.dumps(payload)
