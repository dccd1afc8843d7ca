"""Values, vectors, statistics, versions and fitting over HTTP."""

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
from api_helpers import assert_problem, make_feature

T0 = "2026-01-01T00:00:00Z"


async def test_store_and_read_values(client: httpx.AsyncClient) -> None:
    await make_feature(client, "age")
    r = await client.post(
        "/api/v1/features/age/values", json={"entity_id": "c1", "value": 30, "event_timestamp": T0}
    )
    assert r.status_code == 201 and r.json() == {"stored": 1, "unchanged": 0, "duplicates": 0}
    batch = {
        "values": [
            {"entity_id": "c1", "value": 31, "event_timestamp": "2026-01-02T00:00:00Z"},
            {"entity_id": "c2", "value": 40, "event_timestamp": T0},
        ]
    }
    r = await client.post("/api/v1/features/age/values/batch", json=batch)
    assert r.status_code == 201 and r.json() == {"stored": 2, "unchanged": 0, "duplicates": 0}
    latest = (await client.get("/api/v1/features/age/values/c1")).json()
    assert latest["value"] == 31 and latest["entity_id"] == "c1"
    rows = (await client.get("/api/v1/features/age/values", params={"entity_id": "c1"})).json()
    assert sorted(row["value"] for row in rows) == [30, 31]
    assert len((await client.get("/api/v1/features/age/values", params={"limit": 1})).json()) == 1
    parquet = await client.get("/api/v1/features/age/values", params={"format": "parquet"})
    assert parquet.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(pa.BufferReader(parquet.content))
    assert table.num_rows == 3 and str(table.schema.field("event_timestamp").type) == "timestamp[us, tz=UTC]"
    csv = await client.get("/api/v1/features/age/values", params={"format": "csv", "entity_id": "c2"})
    assert csv.text.splitlines()[0].startswith('"entity_id","event_timestamp","value"')
    assert_problem(await client.get("/api/v1/features/age/values/nobody"), 404)
    assert_problem(await client.get("/api/v1/features/ghost/values/c1"), 404)


async def test_bad_batch_names_the_row_and_stores_nothing(client: httpx.AsyncClient) -> None:
    await make_feature(client, "age")
    batch = {"values": [{"entity_id": "c1", "value": 1}, {"entity_id": "c2", "value": "old"}]}
    body = assert_problem(await client.post("/api/v1/features/age/values/batch", json=batch), 422)
    assert body["row"] == 1
    assert (await client.get("/api/v1/features/age/values")).json() == []
    body = assert_problem(await client.post("/api/v1/features/age/values/batch", json={"values": []}), 422)
    assert body["errors"][0]["loc"] == ["body", "values"]


async def test_feature_vector(client: httpx.AsyncClient) -> None:
    await make_feature(client, "age")
    await make_feature(client, "plan", type="categorical")
    for name, value in (("age", 30), ("plan", "gold")):
        row = {"entity_id": "c1", "value": value, "event_timestamp": T0}
        assert (await client.post(f"/api/v1/features/{name}/values", json=row)).status_code == 201
    body = {"features": ["age", "plan"], "entities": ["c1", "c9"]}
    r = await client.post("/api/v1/online/features", json=body)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "customer_id": ["c1", "c9"],
        "age": [30, None],
        "plan": ["gold", None],
        "$status": {"age": ["present", "missing"], "plan": ["present", "missing"]},
    }
    r = await client.post("/api/v1/online/features", json={**body, "entities": ["c1"]})
    assert r.json() == {"customer_id": ["c1"], "age": [30], "plan": ["gold"]}  # all present: no $status
    assert_problem(await client.post("/api/v1/online/features", json={**body, "features": ["ghost"]}), 404)
    assert_problem(await client.post("/api/v1/online/features", json={**body, "entities": []}), 422)


async def test_statistics(client: httpx.AsyncClient) -> None:
    await make_feature(client, "age")
    rows = [{"entity_id": f"c{i}", "value": i, "event_timestamp": T0} for i in range(1, 5)]
    await client.post("/api/v1/features/age/values/batch", json={"values": rows})
    stats = (await client.get("/api/v1/features/age/statistics")).json()
    assert stats["count"] == 4 and stats["mean"] == 2.5 and stats["min"] == 1 and stats["max"] == 4


async def test_versions_fit_diff_rollback(client: httpx.AsyncClient) -> None:
    await make_feature(client, "age", transformer={"kind": "standard_scaler"})
    rows = [{"entity_id": f"c{i}", "value": v, "event_timestamp": T0} for i, v in enumerate([1, 3])]
    await client.post("/api/v1/features/age/values/batch", json={"values": rows})
    r = await client.post("/api/v1/features/age/versions/fit", json={"as_of": "2026-06-01T00:00:00Z"})
    assert r.status_code == 201, r.text
    fitted = r.json()
    assert fitted["version"] != "1.0.0" and fitted["transformer_state"]
    versions = [v["version"] for v in (await client.get("/api/v1/features/age/versions")).json()]
    assert versions == ["1.0.0", fitted["version"]]
    one = (await client.get(f"/api/v1/features/age/versions/{fitted['version']}")).json()
    assert one["transformer_state"] == fitted["transformer_state"]
    diff = await client.get(
        "/api/v1/features/age/versions/diff", params={"from": "1.0.0", "to": fitted["version"]}
    )
    assert diff.status_code == 200 and "transformer" in diff.json()["changes"]
    vector = (
        await client.post("/api/v1/online/features", json={"features": ["age"], "entities": ["c1"]})
    ).json()
    assert vector["age"] == [1.0]  # (3 - 2) / 1
    r = await client.post("/api/v1/features/age/versions/rollback", json={"version": "1.0.0"})
    assert r.status_code == 200 and r.json()["current_version"] == "1.0.0"
    assert_problem(await client.get("/api/v1/features/age/versions/9.9.9"), 404)
    assert_problem(await client.get("/api/v1/features/age/versions/diff", params={"from": "1.0.0"}), 422)


async def test_fit_without_transformer_is_422(client: httpx.AsyncClient) -> None:
    await make_feature(client, "age")
    assert_problem(await client.post("/api/v1/features/age/versions/fit"), 422)


async def test_materialize_copies_the_latest_offline_values_online(client: httpx.AsyncClient) -> None:
    await make_feature(client, "age")
    rows = [
        {"entity_id": "c1", "value": 30, "event_timestamp": "2026-01-01T00:00:00Z"},
        {"entity_id": "c1", "value": 31, "event_timestamp": "2026-01-05T00:00:00Z"},
        {"entity_id": "c2", "value": 40, "event_timestamp": "2026-01-02T00:00:00Z"},
    ]
    await client.post("/api/v1/features/age/values/batch", json={"values": rows})
    r = await client.post("/api/v1/materialize", json={"features": ["age"], "end": "2026-01-03T00:00:00Z"})
    assert r.status_code == 200, r.text
    assert r.json() == {"features": {"age": 2}, "total": 2}  # c1 @ Jan 1 (Jan 5 is outside), c2
    assert (await client.post("/api/v1/materialize")).json()["total"] == 2  # everything, no body
    assert_problem(await client.post("/api/v1/materialize", json={"features": ["ghost"]}), 404)
    assert_problem(await client.post("/api/v1/materialize", json={"start": 5}), 422)
