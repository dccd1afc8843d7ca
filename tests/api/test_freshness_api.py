"""The API says what a served value is: ``status`` on a value, ``$status`` on a vector
(expired, missing, not fitted), and the OpenAPI schema documents both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from api_helpers import make_feature

from fstore.models import ValueStatus
from fstore.serving import STATUS_KEY, FeatureVector


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def test_expired_and_not_fitted_values(client: httpx.AsyncClient) -> None:
    now = datetime.now(UTC)
    await make_feature(client, "balance", ttl_seconds=3600)
    await make_feature(client, "scaled", transformer={"kind": "standard_scaler"})
    rows = [
        {"entity_id": "old", "value": 1.0, "event_timestamp": iso(now - timedelta(hours=2))},
        {"entity_id": "new", "value": 2.0, "event_timestamp": iso(now - timedelta(minutes=5))},
    ]
    assert (
        await client.post("/api/v1/features/balance/values/batch", json={"values": rows})
    ).status_code == 201
    assert (
        await client.post("/api/v1/features/scaled/values/batch", json={"values": rows})
    ).status_code == 201

    old = (await client.get("/api/v1/features/balance/values/old")).json()
    assert old["status"] == "expired" and old["value"] is None and old["transformed"] is None
    assert old["event_timestamp"].startswith(iso(now - timedelta(hours=2))[:19])
    new = (await client.get("/api/v1/features/balance/values/new")).json()
    assert new["status"] == "present" and new["value"] == 2.0
    unfitted = (await client.get("/api/v1/features/scaled/values/new")).json()
    assert unfitted["status"] == "not_fitted" and unfitted["value"] == 2.0 and unfitted["transformed"] is None

    body = {"features": ["balance", "scaled"], "entities": ["old", "new", "nobody"]}
    vector = (await client.post("/api/v1/online/features", json=body)).json()
    assert vector == {
        "customer_id": ["old", "new", "nobody"],
        "balance": [None, 2.0, None],
        "scaled": [None, None, None],
        STATUS_KEY: {
            "balance": ["expired", "present", "missing"],
            "scaled": ["not_fitted", "not_fitted", "missing"],
        },
    }
    raw = (await client.post("/api/v1/online/features", json={**body, "transformed": False})).json()
    assert raw["scaled"] == [1.0, 2.0, None]
    assert raw[STATUS_KEY] == {
        "balance": ["expired", "present", "missing"],
        "scaled": ["present", "present", "missing"],
    }
    parsed = FeatureVector.from_json(vector)
    assert parsed.status("balance") == [ValueStatus.EXPIRED, ValueStatus.PRESENT, ValueStatus.MISSING]
    assert parsed.to_json() == vector


async def test_openapi_documents_statuses(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    schemas = schema["components"]["schemas"]
    assert set(schemas["ValueStatus"]["enum"]) == {"present", "missing", "expired", "not_fitted"}
    assert "status" in schemas["FeatureValue"]["properties"]
    vector = schemas["VectorOut"]
    assert STATUS_KEY in vector["properties"] and "expired" in vector["properties"][STATUS_KEY]["description"]
    assert vector["additionalProperties"]["type"] == "array"
    route = schema["paths"]["/api/v1/online/features"]["post"]["responses"]["200"]["content"][
        "application/json"
    ]
    assert route["schema"] == {"$ref": "#/components/schemas/VectorOut"}
