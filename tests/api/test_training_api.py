"""Training sets and batch transforms over HTTP."""

import io

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
