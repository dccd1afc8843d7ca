"""``fstore.Client`` against a real server: every method round-trips, and reads give what the
local SDK gives on the same stores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from fstore import Client, FeatureValue, SyncFeatureStore, TransformerSpec
from fstore.errors import ValidationError
from fstore.models import Feature, FeatureVersion

ENTITY_ROWS = [
    {"customer_id": "c1", "event_timestamp": "2025-01-02T00:00:00Z", "label": 1},
    {"customer_id": "c1", "event_timestamp": "2025-01-03T00:00:00Z", "label": 0},
    {"customer_id": "c2", "event_timestamp": "2025-01-01T12:00:00Z", "label": 1},
    {"customer_id": "c9", "event_timestamp": "2025-01-06T00:00:00Z", "label": 0},
]


def test_registry_reads_equal_the_local_sdk(client: Client, local: SyncFeatureStore) -> None:
    assert client.list_entities() == local.list_entities()
    assert client.get_entity("customer") == local.get_entity("customer")
    assert client.list_features() == local.list_features()
    filters: dict[str, str]
    for filters in ({"tag": "finance"}, {"group": "spend"}, {"type": "categorical"}, {"name_contains": "AM"}):
        assert client.list_features(**filters) == local.list_features(**filters), filters
    assert [f.name for f in client.list_features(name_contains="amount")] == ["amount", "amount_x2"]
    assert client.get_feature("amount") == local.get_feature("amount")
    assert client.list_groups() == local.list_groups()
    assert client.get_group("spend") == local.get_group("spend")
    assert client.get_group_features("spend") == local.get_group_features("spend")
    assert client.list_versions("segment") == local.list_versions("segment")
    assert client.get_version("segment") == local.get_version("segment")
    assert client.get_version("segment", "1.0.0") == local.get_version("segment", "1.0.0")
    assert client.diff_versions("amount", "1.0.0", "1.1.0") == local.diff_versions("amount", "1.0.0", "1.1.0")
    assert client.dependencies("amount_x2") == ["amount"]
    assert client.dependents("amount", transitive=True) == local.dependents("amount", transitive=True)
    assert client.history("feature", "amount", 2) == local.history("feature", "amount", 2)


def test_value_reads_equal_the_local_sdk(client: Client, local: SyncFeatureStore) -> None:
    for feature in ("amount", "amount_x2", "segment"):
        for customer in ("c1", "c2", "c3"):
            got = client.get_feature_value(feature, customer)
            assert isinstance(got, FeatureValue)
            assert got == local.get_feature_value(feature, customer)
    assert client.get_feature_value("amount", "nobody") is None
    features, ids = ["amount", "amount_x2", "segment"], ["c1", "c2", "c9"]
    vector = client.get_feature_vector(features, ids)
    assert vector == local.get_feature_vector(features, ids)
    assert vector.join_key == "customer_id" and vector.values["amount"][2] is None
    raw = client.get_feature_vector(features, ids, transformed=False)
    assert raw.to_dict() == local.get_feature_vector(features, ids, transformed=False).to_dict()

    history = client.get_feature_history("amount", "c1", start="2025-01-02T00:00:00Z")
    expected = local.get_feature_history("amount", "c1", start="2025-01-02T00:00:00Z")
    assert history.column_names == expected.column_names
    assert history.to_pylist() == expected.to_pylist()
    assert history.schema.field("event_timestamp").type == pa.timestamp("us", tz="UTC")
    assert client.get_feature_history("amount", limit=2).num_rows == 2
    assert client.get_feature_history("amount", "nobody").num_rows == 0

    assert client.statistics("amount") == local.statistics("amount")
    assert client.statistics("segment", end="2025-01-02T00:00:00Z").count == 2
    np.testing.assert_allclose(
        client.transform("amount", [10.0, 30.0]), local.transform("amount", [10, 30.0])
    )
    assert client.transform("segment", ["gold"]).tolist() == local.transform("segment", ["gold"]).tolist()
    health = client.health()
    assert set(health) == {"metadata", "online", "offline"} and all(h["ok"] for h in health.values())


@pytest.mark.parametrize("transformed", [True, False])
def test_training_sets_equal_the_local_sdk(
    client: Client, local: SyncFeatureStore, transformed: bool
) -> None:
    features = ["amount", "segment"]
    frame = pd.DataFrame(ENTITY_ROWS).assign(event_timestamp=lambda d: pd.to_datetime(d.event_timestamp))
    got = client.get_historical_features(frame, features, transformed=transformed)  # uploaded as Parquet
    assert isinstance(got, pd.DataFrame)
    expected = local.get_historical_features(frame, features, transformed=transformed)
    pd.testing.assert_frame_equal(got, expected)

    table = pa.Table.from_pandas(frame, preserve_index=False)
    arrow = client.get_historical_features(table, features, transformed=transformed)
    assert isinstance(arrow, pa.Table)
    assert arrow.equals(local.get_historical_features(table, features, transformed=transformed))

    rows = client.get_historical_features(ENTITY_ROWS, features, transformed=transformed)  # sent as JSON
    assert rows.equals(local.get_historical_features(ENTITY_ROWS, features, transformed=transformed))
    amounts = rows.column("amount").to_pylist()
    assert amounts[3] is None and (amounts[0] == 10.0 if not transformed else amounts[0] < 0)


def test_polars_in_and_out_like_the_local_sdk(client: Client, local: SyncFeatureStore) -> None:
    features = ["amount", "segment"]
    frame = pl.from_pandas(
        pd.DataFrame(ENTITY_ROWS).assign(event_timestamp=lambda d: pd.to_datetime(d.event_timestamp))
    )
    got = client.get_historical_features(frame, features)
    assert isinstance(got, pl.DataFrame) and got.equals(local.get_historical_features(frame, features))
    as_pandas = client.get_historical_features(frame, features, output="pandas")
    pd.testing.assert_frame_equal(as_pandas, local.get_historical_features(frame, features, output="pandas"))
    with pytest.raises(ValidationError, match="entity ids are a list"):
        client.get_feature_vector(features, "c1")  # type: ignore[arg-type]


def test_registry_writes_round_trip(client: Client) -> None:
    shop = client.create_entity({"name": "shop", "description": "A shop"})
    assert shop.join_key == "shop_id" and client.get_entity("shop") == shop

    sales = client.create_feature(
        Feature(name="sales", entity="shop", tags=["t"]), TransformerSpec(kind="minmax_scaler"), reason="new"
    )
    assert sales.current_version == "1.0.0" and client.get_version("sales").transformer is not None
    visits = {"name": "visits", "entity": "shop", "dtype": "int"}
    client.create_feature(visits, "standard_scaler", version="2.0.0")
    assert client.get_feature("visits").current_version == "2.0.0"
    plain = client.create_feature({"name": "region", "entity": "shop", "type": "categorical"})
    assert plain.dtype == "string" and client.get_version("region").transformer is None

    updated = client.update_feature("sales", {"description": "Sales in BRL"}, reason="clarify")
    assert isinstance(updated, Feature) and updated.description == "Sales in BRL"
    assert updated.current_version == "1.0.1"
    fv = client.update_feature("sales", transformer=None, new_version=True)
    assert isinstance(fv, FeatureVersion) and fv.transformer is None and fv.version == "2.0.0"
    fv = client.update_feature("sales", transformer={"kind": "standard_scaler"}, new_version=True)
    assert fv.transformer is not None and fv.transformer.kind == "standard_scaler"

    group = client.create_group({"name": "shops", "entity": "shop", "features": ["sales"]})
    assert group.features == ["sales"]
    assert client.update_group("shops", {"description": "Shops", "tags": ["x"]}).tags == ["x"]
    assert client.add_to_group("shops", "visits").features == ["sales", "visits"]
    assert [f.name for f in client.get_group_features("shops")] == ["sales", "visits"]
    assert client.remove_from_group("shops", "visits").features == ["sales"]
    client.remove_from_group("shops", "sales")
    client.delete_group("shops")
    assert "shops" not in [g.name for g in client.list_groups()]

    # values: one, and batches as rows, FeatureValues, pandas and Arrow (join key and name columns)
    assert client.store_feature_value("sales", "s1", 10, "2025-01-01T00:00:00Z") == 1
    assert client.store_feature_values("sales", [{"entity_id": "s2", "value": 30.0}]) == 1
    when = pd.Timestamp("2025-01-02T00:00:00Z")
    model = FeatureValue(entity_id="s3", value=20.0, event_timestamp=when)
    assert client.store_feature_values("sales", [model]) == 1
    frame = pd.DataFrame(
        {"shop_id": ["s1", "s4"], "sales": [np.float64(15.0), 5.0], "event_timestamp": [when] * 2}
    )
    assert client.store_feature_values("sales", frame) == 2
    table = pa.table({"entity_id": ["s5"], "value": [25.0]})
    assert client.store_feature_values("sales", table) == 1
    assert client.store_feature_values("sales", []) == 0
    assert client.get_feature_value("sales", "s1").value == 15.0  # newer event time wins
    assert client.materialize(features=["sales"]) == {"sales": 5}
    assert client.materialize(end="2025-01-01T12:00:00Z", features=["sales"]) == {"sales": 1}

    fitted = client.fit_transformer("sales", as_of="2025-01-01T12:00:00Z")
    assert fitted.transformer_state is not None and "fitted on 1 values" in fitted.reason
    assert client.fit_transformer("sales").version > fitted.version
    other = client.fit_transformer("sales", transformer="minmax_scaler", version="9.0.0")
    assert other.version == "9.0.0" and other.transformer is not None
    assert other.transformer.kind == "minmax_scaler"
    restored = client.rollback("sales", "1.0.0")
    assert restored.current_version == "1.0.0"
    assert client.history("feature", "sales", 1)[0].action == "rollback"

    client.create_feature({"name": "sales_x2", "entity": "shop", "dependencies": ["sales"]})
    assert client.dependents("sales") == ["sales_x2"]
    for name in ("sales", "sales_x2", "visits", "region"):
        client.delete_feature(name, force=True)
    client.delete_entity("shop")
    assert "shop" not in [e.name for e in client.list_entities()]


def test_list_features_reads_every_page(client: Client, local: SyncFeatureStore) -> None:
    """More features than one page of the API (1000) holds."""
    from fstore.client import registry

    page, registry.PAGE = registry.PAGE, 2
    try:
        assert client.list_features() == local.list_features()
    finally:
        registry.PAGE = page
