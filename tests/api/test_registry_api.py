"""Entities, features and groups over HTTP."""

import httpx
from api_helpers import assert_problem, make_feature


async def test_entity_crud(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/entities", json={"name": "store", "tags": ["retail"]})
    assert r.status_code == 201
    assert r.json()["join_key"] == "store_id"
    names = [e["name"] for e in (await client.get("/api/v1/entities")).json()]
    assert set(names) == {"customer", "store"}
    assert (await client.get("/api/v1/entities/store")).json()["tags"] == ["retail"]
    assert (await client.delete("/api/v1/entities/store")).status_code == 204
    body = assert_problem(await client.get("/api/v1/entities/store"), 404)
    assert "store" in body["detail"]


async def test_entity_conflict_and_bad_name(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post("/api/v1/entities", json={"name": "customer"}), 409)
    body = assert_problem(await client.post("/api/v1/entities", json={"name": "9bad"}), 422)
    assert "9bad" in body["detail"]


async def test_request_validation_names_the_field(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.post("/api/v1/features", json={"name": "x"}), 422)
    assert ["body", "entity"] in [e["loc"] for e in body["errors"]]
    assert "entity" in body["detail"]
    body = assert_problem(await client.get("/api/v1/features?limit=0"), 422)
    assert body["errors"][0]["loc"] == ["query", "limit"]


async def test_feature_crud_with_transformer(client: httpx.AsyncClient) -> None:
    created = await make_feature(client, transformer={"kind": "standard_scaler", "params": {}}, tags=["t"])
    assert created["current_version"] == "1.0.0"
    assert_problem(await client.post("/api/v1/features", json={"name": "age", "entity": "customer"}), 409)
    got = (await client.get("/api/v1/features/age")).json()
    assert got["tags"] == ["t"]
    r = await client.patch("/api/v1/features/age", json={"description": "years", "reason": "doc"})
    assert r.status_code == 200, r.text
    assert r.json()["version"] != "1.0.0"
    assert (await client.get("/api/v1/features/age")).json()["description"] == "years"
    assert (await client.delete("/api/v1/features/age")).status_code == 204
    assert_problem(await client.get("/api/v1/features/age"), 404)


async def test_feature_unknown_entity_and_bad_transformer(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.post("/api/v1/features", json={"name": "f", "entity": "nobody"}), 404)
    assert body["entity"] == "nobody"
    bad = {"name": "f", "entity": "customer", "transformer": {"kind": "nope"}}
    assert_problem(await client.post("/api/v1/features", json=bad), 422)
    inconsistent = {"name": "f", "entity": "customer", "type": "categorical", "dtype": "float"}
    assert_problem(await client.post("/api/v1/features", json=inconsistent), 422)


async def test_feature_list_filters_and_pagination(client: httpx.AsyncClient) -> None:
    for i in range(5):
        await make_feature(client, f"num_{i}", tags=["even"] if i % 2 == 0 else [])
    await make_feature(client, "plan", type="categorical")
    page = (await client.get("/api/v1/features", params={"limit": 2, "offset": 1})).json()
    assert page["total"] == 6 and page["limit"] == 2 and page["offset"] == 1
    assert [f["name"] for f in page["items"]] == ["num_1", "num_2"]
    assert (await client.get("/api/v1/features", params={"tag": "even"})).json()["total"] == 3
    assert (await client.get("/api/v1/features", params={"type": "categorical"})).json()["total"] == 1
    assert (await client.get("/api/v1/features", params={"q": "num_"})).json()["total"] == 5
    assert (await client.get("/api/v1/features", params={"entity": "customer", "offset": 10})).json()[
        "items"
    ] == []


async def test_delete_with_dependents_needs_force(client: httpx.AsyncClient) -> None:
    await make_feature(client, "base")
    await make_feature(client, "derived", dependencies=["base"])
    assert_problem(await client.delete("/api/v1/features/base"), 409)
    deps = (await client.get("/api/v1/features/derived/dependencies")).json()
    assert deps["features"] == ["base"]
    assert (await client.get("/api/v1/features/base/dependents")).json()["features"] == ["derived"]
    assert (await client.delete("/api/v1/features/base", params={"force": True})).status_code == 204


async def test_group_crud_and_membership(client: httpx.AsyncClient) -> None:
    await make_feature(client, "age")
    r = await client.post("/api/v1/groups", json={"name": "demo", "entity": "customer"})
    assert r.status_code == 201, r.text
    assert_problem(await client.post("/api/v1/groups", json={"name": "demo"}), 409)
    assert (await client.post("/api/v1/groups/demo/features/age")).json()["features"] == ["age"]
    assert_problem(await client.post("/api/v1/groups/demo/features/ghost"), 404)
    assert (await client.patch("/api/v1/groups/demo", json={"owner": "ana"})).json()["owner"] == "ana"
    assert [g["name"] for g in (await client.get("/api/v1/groups")).json()] == ["demo"]
    assert (await client.delete("/api/v1/groups/demo/features/age")).json()["features"] == []
    assert (await client.delete("/api/v1/groups/demo")).status_code == 204
    assert_problem(await client.get("/api/v1/groups/demo"), 404)


async def test_change_history(client: httpx.AsyncClient) -> None:
    await make_feature(client, "age")
    records = (await client.get("/api/v1/history", params={"object_type": "feature"})).json()
    assert records and all(r["object_type"] == "feature" for r in records)
    assert records[0]["action"] == "create"
    assert len((await client.get("/api/v1/history", params={"limit": 1})).json()) == 1


async def test_fit_another_transformer_and_move_a_feature(client: httpx.AsyncClient) -> None:
    await make_feature(client, "amount", transformer={"kind": "standard_scaler"})
    rows = [
        {"entity_id": f"c{i}", "value": float(i), "event_timestamp": "2025-01-01T00:00:00Z"} for i in range(4)
    ]
    await client.post("/api/v1/features/amount/values/batch", json={"values": rows})
    fit = {"transformer": {"kind": "minmax_scaler"}, "version": "3.0.0"}
    r = await client.post("/api/v1/features/amount/versions/fit", json=fit)
    assert r.status_code == 201, r.text
    assert r.json()["version"] == "3.0.0" and r.json()["transformer"]["kind"] == "minmax_scaler"
    out = (await client.post("/api/v1/features/amount/transform", json={"values": [0.0, 3.0]})).json()
    assert out["values"] == [0.0, 1.0]
    assert (await client.post("/api/v1/entities", json={"name": "account"})).status_code == 201
    moved = await client.patch("/api/v1/features/amount", json={"entity": "account"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["version"] == "4.0.0"  # a new entity is a major change
    assert (await client.get("/api/v1/features/amount")).json()["entity"] == "account"
