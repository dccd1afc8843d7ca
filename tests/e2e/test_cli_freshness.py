"""The CLI shows what a served value is: expired (older than the feature's TTL), missing, or
without a transformed value because the transformer is not fitted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from fstore import FeatureStore

if TYPE_CHECKING:
    from conftest import Cli


def seed(cli: Cli) -> None:
    now = datetime.now(UTC)
    with FeatureStore.sync(home=cli.home, actor="tester") as fs:
        fs.create_entity({"name": "customer", "join_key": "customer_id"})
        fs.create_feature({"name": "balance", "entity": "customer", "ttl_seconds": 3600})
        fs.create_feature({"name": "scaled", "entity": "customer"}, transformer="standard_scaler")
        fs.store_feature_value("balance", "old", 1.0, now - timedelta(hours=2))
        fs.store_feature_value("balance", "new", 2.0, now - timedelta(minutes=5))
        fs.store_feature_value("scaled", "old", 3.0, now)
        fs.store_feature_value("scaled", "new", 4.0, now)


def test_values_get_and_vector_show_statuses(cli: Cli) -> None:
    seed(cli)
    got = cli.json("values", "get", "balance", "old")
    assert got["status"] == "expired" and got["value"] is None and got["transformed"] is None
    assert cli.json("values", "get", "balance", "new")["status"] == "present"
    unfitted = cli.json("values", "get", "scaled", "new")
    assert unfitted["status"] == "not_fitted" and unfitted["value"] == 4.0 and unfitted["transformed"] is None
    human = cli("values", "get", "balance", "old").stdout
    assert "status" in human and "expired" in human

    vector = cli.json("values", "vector", "-f", "balance", "-f", "scaled", "old", "new", "nobody")
    assert vector["balance"] == [None, 2.0, None]
    assert vector["$status"] == {
        "balance": ["expired", "present", "missing"],
        "scaled": ["not_fitted", "not_fitted", "missing"],
    }
    table = cli("values", "vector", "-f", "balance", "-f", "scaled", "old", "new", "nobody").stdout
    assert "<expired>" in table and "<missing>" in table and "<not_fitted>" in table
    assert "│ 2 " in table  # the present value itself
