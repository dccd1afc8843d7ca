"""Examples for the OpenAPI schema: a response example per model (checked against the model by
the tests), an example per query or path parameter, and the answers of the routes whose body
is not a model. One world throughout: a ``customer`` with the ``amount`` feature."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from fstore.api.routes.audit import AuditRecord
from fstore.api.routes.auth import PrincipalOut, TokenOut
from fstore.api.routes.features import FeaturePage
from fstore.api.routes.ingestion import IngestionActivity
from fstore.api.routes.lineage import Lineage
from fstore.api.routes.materialize import Materialized
from fstore.api.routes.overview import Overview
from fstore.api.routes.stats import Histogram, TimeSeries
from fstore.api.routes.users import NewApiKey
from fstore.api.routes.values import Stored
from fstore.auth import ApiKey, User
from fstore.models import (
    ChangeRecord,
    Entity,
    Feature,
    FeatureGroup,
    FeatureStatistics,
    FeatureValue,
    FeatureVersion,
)

AT = "2025-01-01T00:00:00Z"
_FEATURE = {
    "name": "amount",
    "id": "amount",
    "description": "Transaction amount",
    "type": "numerical",
    "dtype": "float",
    "entity": "customer",
    "group": "spend",
    "tags": ["finance"],
    "metadata": {},
    "owner": "ana",
    "nullable": False,
    "ttl_seconds": None,
    "dependencies": [],
    "current_version": "1.1.0",
    "created_at": AT,
    "updated_at": AT,
}
_USER = {"name": "ana", "role": "editor", "disabled": False, "created_at": AT, "updated_at": AT}
_KEY = {"id": "3f2a9c1b7e4d", "name": "ranking-service", "role": "viewer", "owner": "root", "created_at": AT}

MODEL_EXAMPLES: dict[type[BaseModel], dict[str, Any]] = {
    Entity: {
        "name": "customer",
        "join_key": "customer_id",
        "value_type": "string",
        "description": "A customer",
        "tags": [],
        "created_at": AT,
    },
    Feature: _FEATURE,
    FeaturePage: {"items": [_FEATURE], "total": 1, "limit": 100, "offset": 0},
    FeatureGroup: {
        "name": "spend",
        "id": "spend",
        "description": "Spending",
        "entity": "customer",
        "features": ["amount"],
        "tags": [],
        "metadata": {},
        "owner": "ana",
        "created_at": AT,
        "updated_at": AT,
    },
    FeatureVersion: {
        "feature_id": "amount",
        "version": "1.1.0",
        "definition": {"name": "amount", "entity": "customer", "type": "numerical"},
        "transformer": {"kind": "standard_scaler", "params": {}},
        "transformer_state": {"mean": 42.0, "var": 156.25, "scale": 12.5, "n_samples_seen": 1000},
        "dependencies": [],
        "metadata": {},
        "bump": "minor",
        "reason": "fitted on 1000 values",
        "created_by": "ana",
        "created_at": AT,
    },
    FeatureValue: {
        "feature_id": "amount",
        "entity_id": "c1",
        "value": 54.5,
        "transformed": 1.0,
        "version": "1.1.0",
        "event_timestamp": AT,
        "ingested_at": AT,
    },
    ChangeRecord: {
        "id": "01735689600000000-b1e0a77d",
        "object_type": "feature",
        "object_id": "amount",
        "action": "fit",
        "actor": "ana",
        "at": AT,
        "version": "1.1.0",
        "before": {"current_version": "1.0.0"},
        "after": {"current_version": "1.1.0"},
    },
    FeatureStatistics: {
        "feature_id": "amount",
        "count": 1000,
        "nulls": 0,
        "distinct": 987,
        "mean": 42.0,
        "std": 12.5,
        "min": 1.0,
        "max": 99.0,
    },
    Lineage: {"feature": "amount_x2", "transitive": False, "features": ["amount"]},
    Stored: {"stored": 9000, "unchanged": 1000, "duplicates": 0},
    Materialized: {"features": {"amount": 10000, "segment": 9870}, "total": 19870},
    User: _USER,
    ApiKey: _KEY,
    NewApiKey: {**_KEY, "key": "fsk_3f2a9c1b7e4d_Yk3pQ..."},
    TokenOut: {
        "access_token": "eyJhbGciOi...",
        "refresh_token": "eyJhbGciOi...",
        "token_type": "bearer",
        "expires_in": 900,
    },
    PrincipalOut: {"name": "ana", "role": "editor", "kind": "user"},
    AuditRecord: {
        "id": 1,
        "at": AT,
        "actor": "ana",
        "action": "POST /api/v1/features/{name}/values/batch",
        "resource": "/api/v1/features/amount/values/batch",
        "outcome": "ok",
        "details": {"status": 201, "role": "editor", "request_id": "9f1c2b"},
    },
    Histogram: {
        "feature": "amount",
        "count": 1000,
        "bins": [{"start": 1.0, "end": 50.0, "count": 640}, {"start": 50.0, "end": 99.0, "count": 360}],
    },
    TimeSeries: {
        "feature": "amount",
        "periods": [
            {"start": AT, "count": 480, "mean": 41.2},
            {"start": "2025-01-16T00:00:00Z", "count": 520, "mean": 42.7},
        ],
    },
    IngestionActivity: {
        "feature": "amount",
        "period_minutes": 24,
        "total": 1500,
        "periods": [{"start": AT, "values": 1000}, {"start": "2025-01-01T00:24:00Z", "values": 500}],
    },
    Overview: {
        "counts": {"features": 8, "groups": 2, "entities": 1},
        "health": {
            "metadata": {"ok": True, "latency_ms": 0.1},
            "online": {"ok": True, "latency_ms": 0.2},
            "offline": {"ok": True, "latency_ms": 0.4},
        },
        "online": {"hits": 95, "misses": 5, "hit_rate": 0.95},
        "latency": {"requests": 1200, "p50_ms": 2.5, "p95_ms": 10.0, "p99_ms": 25.0},
        "ingested_last_hour": 10000,
        "ingested_per_minute": [{"minute": AT, "values": 10000}],
        "recent_changes": [],
    },
}

# Query and path parameters by name; ``name`` depends on the resource.
PARAMETER_EXAMPLES: dict[str, Any] = {
    "feature": "amount",
    "entity_id": "c1",
    "version": "1.0.0",
    "from": "1.0.0",
    "to": "1.1.0",
    "key_id": "3f2a9c1b7e4d",
    "group": "spend",
    "entity": "customer",
    "tag": "finance",
    "type": "numerical",
    "q": "amount",
    "limit": 100,
    "offset": 0,
    "force": False,
    "transitive": False,
    "start": "2025-01-01T00:00:00Z",
    "end": "2025-02-01T00:00:00Z",
    "since": "2025-01-01T00:00:00Z",
    "actor": "ana",
    "object_type": "feature",
    "object_id": "amount",
    "format": "json",
    "include_superseded": False,
    "owner": "ana",
    "bins": 20,
    "periods": 60,
    "hours": 24,
}
NAME_EXAMPLES = {"/api/v1/entities": "customer", "/api/v1/groups": "spend", "/api/v1/users": "ana"}

# Routes whose answer is not a model: (method, path) -> example body.
RESPONSE_EXAMPLES: dict[tuple[str, str], Any] = {
    ("GET", "/health/live"): {"status": "ok"},
    ("GET", "/health/ready"): {
        "status": "ok",
        "stores": {
            "metadata": {"ok": True, "backend": "sqlite", "version": "3.40.1", "latency_ms": 0.1},
            "online": {"ok": True, "backend": "redis", "version": "7.0.15", "latency_ms": 0.2},
            "offline": {"ok": True, "backend": "postgres", "version": "15.8", "latency_ms": 0.4},
        },
    },
    ("GET", "/api/v1/features/{name}/versions/diff"): {
        "feature": "amount",
        "from": "1.0.0",
        "to": "1.1.0",
        "changes": {
            "transformer": {
                "from": {"kind": "standard_scaler", "params": {}, "state": None},
                "to": {"kind": "standard_scaler", "params": {}, "state": {"mean": 42.0, "scale": 12.5}},
            }
        },
    },
    ("POST", "/api/v1/features/{name}/transform"): {"feature": "amount", "values": [-0.5, 0.25]},
    ("GET", "/api/v1/features/{name}/values"): [
        {
            "entity_id": "c1",
            "event_timestamp": AT,
            "value": 54.5,
            "transformed": 1.0,
            "version": "1.1.0",
            "ingested_at": AT,
        }
    ],
    ("POST", "/api/v1/training-sets"): {
        "columns": ["customer_id", "event_timestamp", "label", "amount"],
        "rows": [{"customer_id": "c1", "event_timestamp": AT, "label": 1, "amount": 0.25}],
    },
    ("POST", "/api/v1/training-sets/upload"): {
        "columns": ["customer_id", "event_timestamp", "amount"],
        "rows": [{"customer_id": "c1", "event_timestamp": AT, "amount": 0.25}],
    },
}

# Form bodies (no model of ours to carry an example): (method, path) -> example fields.
REQUEST_EXAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/auth/token"): {"username": "ana", "password": "a long passphrase"},
    ("POST", "/api/v1/training-sets/upload"): {
        "file": "customer_id,event_timestamp,label\nc1,2025-01-02T00:00:00Z,1\n",
        "features": ["amount"],
        "format": "json",
    },
}


def parameter_example(path: str, name: str) -> Any:
    if name == "name":
        return next((v for prefix, v in NAME_EXAMPLES.items() if path.startswith(prefix)), "amount")
    return PARAMETER_EXAMPLES.get(name)
