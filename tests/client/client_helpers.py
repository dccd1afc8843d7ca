"""What the client tests share: a real uvicorn server on a free port in a background thread,
and the hand-made data it starts with."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fstore import Settings, SyncFeatureStore

# (customer, event time, amount, segment)
HISTORY = [
    ("c1", "2025-01-01T00:00:00Z", 10.0, "gold"),
    ("c2", "2025-01-02T00:00:00Z", 30.0, "silver"),
    ("c1", "2025-01-03T00:00:00Z", 20.0, "silver"),
    ("c2", "2025-01-04T00:00:00Z", 40.0, "bronze"),
    ("c3", "2025-01-05T00:00:00Z", 50.0, "gold"),
]


@dataclass(frozen=True)
class Server:
    url: str
    home: Path
    settings: Settings


def seed(fs: SyncFeatureStore) -> None:
    """customer; amount (standard scaler), amount_x2 (min-max, depends on amount), segment
    (one-hot); the group spend; the history above; fitted transformers."""
    fs.create_entity({"name": "customer", "join_key": "customer_id"})
    fs.create_group({"name": "spend", "entity": "customer", "description": "Spending"})
    fs.create_feature(
        {"name": "amount", "entity": "customer", "group": "spend", "tags": ["finance"]}, "standard_scaler"
    )
    x2 = {"name": "amount_x2", "entity": "customer", "dependencies": ["amount"]}
    fs.create_feature(x2, "minmax_scaler")
    fs.create_feature({"name": "segment", "entity": "customer", "type": "categorical"}, "onehot_encoder")
    rows: dict[str, list[dict[str, Any]]] = {"amount": [], "amount_x2": [], "segment": []}
    for customer, at, amount, segment in HISTORY:
        for name, value in (("amount", amount), ("amount_x2", amount * 2), ("segment", segment)):
            rows[name].append({"entity_id": customer, "value": value, "event_timestamp": at})
    for name, batch in rows.items():
        fs.store_feature_values(name, batch)
        fs.fit_transformer(name)
