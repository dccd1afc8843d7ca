"""Training sets and batch transforms over HTTP."""

import io
from typing import Any

import httpx
import pandas as pd
import pyarrow.parquet as pq
import pytest
from api_helpers import assert_problem, make_feature


async def load(client: httpx.AsyncClient) -> None:
    await make_feature(client, "amount", transformer={"kind": "minmax_scaler"})
    await make_feature(client, "color", type="categorical", transformer={"kind": "onehot_encoder"})
    for feature, rows in {
        "amount": [
            ("c1", 10.0, "2025-01-01T00:00:00Z"),
            ("c1", 20.0, "2025-01-03T00:00:00Z"),
            ("c2", 30.0, "2025-01-01T00:00:00Z"),
        ],
        "color": [("c1", "red", "2025-01-01T00:00:00Z"), ("c2", "blue", "2025-01-01T00:00:00Z")],
    }.items():
        values = [{"entity_id": e, "value": v, "event_timestamp": t} for e, v, t in rows]
        r = await client.post(f"/api/v1/features/{feature}/values/batch", json={"values": values})
        assert r.status_code in (200, 201), r.text
        assert (await client.post(f"/api/v1/features/{feature}/versions/fit", json={})).status_code == 201


ROWS = [
    {"customer_id": "c1", "event_timestamp": "2025-01-02T00:00:00Z", "label": 1},
    {"customer_id": "c1", "event_timestamp": "2025-01-04T00:00:00Z", "label": 0},
    {"customer_id": "c2", "event_timestamp": "2024-12-31T00:00:00Z", "label": 1},
]


async def test_training_set_json_is_point_in_time_correct(client: httpx.AsyncClient) -> None:
    await load(client)
    body = {"entity_rows": ROWS, "features": ["amount", "color"]}
    r = await client.post("/api/v1/training-sets", json=body)
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    # min-max over 10, 20, 30: the value at or before each row's time, none before any event
    assert [row["amount"] for row in rows] == [0.0, 0.5, None]
    assert [row["color"] for row in rows] == [[0.0, 1.0], [0.0, 1.0], None]  # blue, red
    raw = await client.post("/api/v1/training-sets", json={**body, "transformed": False})
    assert [row["amount"] for row in raw.json()["rows"]] == [10.0, 20.0, None]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
async def test_training_set_files(client: httpx.AsyncClient, fmt: str) -> None:
    await load(client)
    body = {"entity_rows": ROWS, "features": ["amount", "color"], "format": fmt}
    r = await client.post("/api/v1/training-sets", json=body)
    assert r.status_code == 200, r.text
    frame = (
        pd.read_csv(io.BytesIO(r.content))
        if fmt == "csv"
        else pq.read_table(io.BytesIO(r.content)).to_pandas()
    )
    assert list(frame.columns) == ["customer_id", "event_timestamp", "label", "amount", "color"]
    assert frame["label"].tolist() == [1, 0, 1]
    assert frame["amount"].tolist()[:2] == [0.0, 0.5]


async def test_training_set_errors_are_problems(client: httpx.AsyncClient) -> None:
    await load(client)
    r = await client.post("/api/v1/training-sets", json={"entity_rows": [{"x": 1}], "features": ["amount"]})
    assert "timestamp" in assert_problem(r, 422)["detail"]
    r = await client.post("/api/v1/training-sets", json={"entity_rows": ROWS, "features": ["ghost"]})
    assert_problem(r, 404)


async def test_transform_a_batch(client: httpx.AsyncClient) -> None:
    await load(client)
    r = await client.post("/api/v1/features/amount/transform", json={"values": [10.0, 25.0, 30.0]})
    assert r.json() == {"feature": "amount", "values": [0.0, 0.75, 1.0]}
    r = await client.post("/api/v1/features/color/transform", json={"values": ["red"]})
    assert r.json()["values"] == [[0.0, 1.0]]
    await make_feature(client, "plain")
    assert_problem(await client.post("/api/v1/features/plain/transform", json={"values": [1.0]}), 422)
    for ragged in ([[1.0], 2.0], [{}, []], ["a"]):  # found by schemathesis: once a 500
        r = await client.post("/api/v1/features/amount/transform", json={"values": ragged})
        assert "numbers" in assert_problem(r, 422)["detail"]


# -- entity rows uploaded as a file -------------------------------------------------------------

UPLOAD = "/api/v1/training-sets/upload"
ENTITY_CSV = (
    b"customer_id,event_timestamp,label\n"
    b"c1,2025-01-02T00:00:00Z,1\n"
    b"c1,2025-01-04T00:00:00Z,0\n"
    b"c2,2024-12-31T00:00:00Z,1\n"
)


def upload(name: str, content: bytes, **form: object) -> dict[str, Any]:
    return {"files": {"file": (name, content)}, "data": {"features": ["amount", "color"], **form}}


async def test_upload_csv_equals_the_json_route(client: httpx.AsyncClient) -> None:
    await load(client)
    r = await client.post(UPLOAD, **upload("rows.csv", ENTITY_CSV))
    assert r.status_code == 200, r.text
    expected = await client.post(
        "/api/v1/training-sets", json={"entity_rows": ROWS, "features": ["amount", "color"]}
    )
    assert r.json() == expected.json()
    raw = await client.post(UPLOAD, **upload("rows.csv", ENTITY_CSV, transformed="false"))
    assert [row["amount"] for row in raw.json()["rows"]] == [10.0, 20.0, None]


async def test_upload_parquet_with_integer_ids(client: httpx.AsyncClient) -> None:
    """Integer ids in a file match the stored (text) ids; Parquet and CSV out."""
    await load(client)
    rows = pd.DataFrame(
        {"customer_id": [1, 2], "event_timestamp": pd.to_datetime(["2025-01-02", "2025-01-02"], utc=True)}
    )
    values = [{"entity_id": 1, "value": 5.0, "event_timestamp": "2025-01-01T00:00:00Z"}]
    assert (
        await client.post("/api/v1/features/amount/values/batch", json={"values": values})
    ).status_code == 201
    sink = io.BytesIO()
    rows.to_parquet(sink, index=False)
    r = await client.post(UPLOAD, **upload("rows.bin", sink.getvalue(), format="parquet"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(r.content))
    assert table.column("customer_id").to_pylist() == ["1", "2"]
    assert table.column("amount").to_pylist()[1] is None
    r = await client.post(UPLOAD, **upload("rows.csv", ENTITY_CSV, format="csv"))
    frame = pd.read_csv(io.BytesIO(r.content))
    assert frame["label"].tolist() == [1, 0, 1] and frame["amount"].tolist()[:2] == [0.0, 0.5]


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("rows.csv", b"", "rows.csv is empty"),
        ("rows.csv", b"customer_id,event_timestamp\nc1,2025-01-01,extra\n", "cannot read rows.csv"),
        ("rows.parquet", b"customer_id,event_timestamp\n", "rows.parquet is not a Parquet file"),
        ("rows.csv", b"\xff\xfe\x00garbage\n\x00\x01", "cannot read rows.csv"),
        ("rows.csv", b"customer_id,label\nc1,1\n", "no timestamp column 'event_timestamp'"),
        ("rows.csv", b"id,event_timestamp\nc1,2025-01-01T00:00:00Z\n", "need a 'customer_id' column"),
        ("rows.csv", b"customer_id,event_timestamp\nc1,yesterday\n", "'yesterday' is not an ISO-8601"),
    ],
)
async def test_bad_uploads_are_422_problems(
    client: httpx.AsyncClient, name: str, content: bytes, problem: str
) -> None:
    await load(client)
    r = await client.post(UPLOAD, **upload(name, content))
    assert problem in assert_problem(r, 422)["detail"]


async def test_upload_needs_features_and_a_file(client: httpx.AsyncClient) -> None:
    await load(client)
    r = await client.post(UPLOAD, files={"file": ("rows.csv", ENTITY_CSV)})
    assert "features" in assert_problem(r, 422)["detail"]
    assert_problem(await client.post(UPLOAD, data={"features": ["amount"]}), 422)
    r = await client.post(UPLOAD, files={"file": ("rows.csv", ENTITY_CSV)}, data={"features": ["ghost"]})
    assert_problem(r, 404)
