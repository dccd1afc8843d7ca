"""Point-in-time training sets (entity rows as JSON or as an uploaded CSV/Parquet file) and
transforming a batch with a feature's fitted transformer."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from fastapi import APIRouter, File, Form, Response, UploadFile
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, ConfigDict, Field

from fstore.api.deps import Store
from fstore.api.tables import FILE_RESPONSES, OutputFormat, file_response, json_response
from fstore.api.types import Flag, Name, Semver
from fstore.errors import ValidationError
from fstore.store import FeatureStore
from fstore.training import to_arrow

router = APIRouter(prefix="/api/v1", tags=["training"])

MAX_ROWS = 1_000_000  # entity rows per JSON request


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
    features: list[Name] = Field(min_length=1)
    timestamp_column: str = "event_timestamp"
    transformed: Flag = True
    format: OutputFormat = OutputFormat.JSON


class TransformIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"values": [1.0, 2.5]}]})

    values: list[Any] = Field(min_length=1, max_length=MAX_ROWS)
    version: Semver | None = None


@router.post("/training-sets", summary="A point-in-time-correct training set", responses=FILE_RESPONSES)
async def training_set(body: TrainingSetIn, store: Store) -> Response:
    rows, _ = to_arrow(body.entity_rows)
    return await _training_set(
        store, rows, body.features, body.timestamp_column, body.transformed, body.format
    )


@router.post(
    "/training-sets/upload",
    summary="A point-in-time-correct training set for entity rows uploaded as a CSV or Parquet file",
    responses=FILE_RESPONSES,
)
async def training_set_upload(
    store: Store,
    file: Annotated[UploadFile, File(description="Entity rows: join key column(s) and a timestamp column.")],
    features: Annotated[list[str], Form(min_length=1, description="A feature to join (repeat the field).")],
    timestamp_column: Annotated[str, Form()] = "event_timestamp",
    transformed: Annotated[bool, Form()] = True,
    format: Annotated[OutputFormat, Form()] = OutputFormat.JSON,
) -> Response:
    keys = {(await store.get_entity((await store.get_feature(name)).entity)).join_key for name in features}
    rows = _read_entity_rows(await file.read(), file.filename or "the file", keys)
    return await _training_set(store, rows, features, timestamp_column, transformed, format)


async def _training_set(
    store: FeatureStore,
    rows: pa.Table,
    features: Sequence[str],
    timestamp_column: str,
    transformed: bool,
    format: OutputFormat,
) -> Response:
    table: pa.Table = await store.get_historical_features(
        rows, features, timestamp_column=timestamp_column, transformed=transformed
    )
    if format is OutputFormat.JSON:
        return json_response({"columns": table.column_names, "rows": table.to_pylist()})
    return file_response(table, format)


def _read_entity_rows(data: bytes, name: str, keys: set[str]) -> pa.Table:
    """A Parquet file (told by its magic bytes) or a CSV file as Arrow. Join keys are read as
    strings, as the store keeps entity ids ("007" stays "007"; integer ids become text)."""
    if not data:
        raise ValidationError(f"{name} is empty", field="file")
    try:
        if data[:4] == b"PAR1":
            rows = pq.read_table(pa.BufferReader(data))
        elif name.lower().endswith((".parquet", ".pq")):
            raise ValidationError(f"{name} is not a Parquet file", field="file")
        else:
            convert = pacsv.ConvertOptions(
                column_types={k: pa.string() for k in keys}, strings_can_be_null=True
            )
            rows = pacsv.read_csv(io.BytesIO(data), convert_options=convert)
        columns = set(rows.column_names)  # a header that is not UTF-8 fails only here
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OSError, UnicodeError) as exc:
        raise ValidationError(f"cannot read {name} as CSV or Parquet: {exc}", field="file") from None
    for key in keys & columns:
        if pa.types.is_integer(rows.schema.field(key).type):
            rows = rows.set_column(rows.column_names.index(key), key, rows.column(key).cast(pa.string()))
    return rows


@router.post("/features/{name}/transform", summary="Transform raw values with the fitted transformer")
async def transform(name: str, body: TransformIn, store: Store) -> dict[str, Any]:
    out = await store.transform(name, body.values, version=body.version)
    return {"feature": name, "values": jsonable_encoder(out.tolist())}
