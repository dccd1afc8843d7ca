"""Edge inputs over HTTP: typed 422s (never a 500) and a schema that says what is accepted."""

import httpx
from api_helpers import assert_problem, make_feature


async def test_integers_beyond_64_bits_nul_ids_and_bad_names(client: httpx.AsyncClient) -> None:
    await make_feature(client, "visits", dtype="int")
    await make_feature(client, "spend")
    url = "/api/v1/features/{}/values"
    body = assert_problem(
        await client.post(url.format("visits"), json={"entity_id": "c1", "value": 2**70}), 422
    )
    assert body["type"] == "urn:fstore:error:InvalidValueError" and "64-bit" in body["detail"]
    assert (
        await client.post(url.format("spend"), json={"entity_id": "c1", "value": 2**70})
    ).status_code == 201
    body = assert_problem(
        await client.post(url.format("spend"), json={"entity_id": "a\x00", "value": 1}), 422
    )
    assert body["errors"][0]["loc"] == ["body", "entity_id", "constrained-str"]
    assert_problem(await client.post(url.format("spend"), json={"entity_id": "c1", "value": True}), 422)
    body = assert_problem(await client.post("/api/v1/entities", json={"name": "bad\nname"}), 422)
    assert "bad\\nname" in body["detail"]
    body = assert_problem(
        await client.post(
            "/api/v1/features", json={"name": "x", "entity": "customer", "dependencies": ["x"]}
        ),
        422,
    )
    assert body["type"] == "urn:fstore:error:DefinitionError"


async def test_force_delete_over_http_unlinks_dependents(client: httpx.AsyncClient) -> None:
    await make_feature(client, "base")
    await make_feature(client, "derived", dependencies=["base"])
    assert_problem(await client.delete("/api/v1/features/base"), 409)
    assert (await client.delete("/api/v1/features/base?force=true")).status_code == 204
    assert (await client.get("/api/v1/features/derived")).json()["dependencies"] == []


async def test_the_schema_states_the_rules(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    assert schemas["EntityIn"]["properties"]["name"]["pattern"] == "^[A-Za-z_][A-Za-z0-9_]{0,127}$"
    value = schemas["ValueIn"]["properties"]["value"]["anyOf"]
    assert [v["type"] for v in value] == ["number", "string", "null"] and "64 bits" in str(
        schemas["ValueIn"]["properties"]["value"]
    )
    assert schemas["EntityIn"]["properties"]["value_type"]["enum"] == ["string", "int"]
