"""Write path, read path, fitting, materialisation and statistics on the embedded stores."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fstore import FeatureStore
from fstore.errors import InvalidValueError, TypeMismatchError, ValidationError
from fstore.models import Feature, TransformerSpec

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


async def make_features(store: FeatureStore) -> None:
    await store.create_feature(Feature(name="amount", entity="customer"), transformer="standard_scaler")
    await store.create_feature(
        Feature(name="color", entity="customer", type="categorical"),
        transformer=TransformerSpec(kind="onehot_encoder", params={"handle_unknown": "ignore"}),
    )
    await store.create_feature(Feature(name="plain", entity="customer", dtype="int"))


async def test_last_write_wins_by_event_time(store: FeatureStore) -> None:
    await make_features(store)
    await store.store_feature_value("plain", "c1", 1, at(2))
    await store.store_feature_value("plain", "c1", 2, at(1))  # late event: history only
    got = await store.get_feature_value("plain", "c1")
    assert got is not None and got.value == 1 and got.transformed == 1 and got.event_timestamp == at(2)
    batch = [
        {"entity_id": "c1", "value": 5, "event_timestamp": at(5)},
        {"entity_id": "c1", "value": 4, "event_timestamp": at(4)},
        {"entity_id": "c2", "value": 9, "event_timestamp": at(0)},
    ]
    assert await store.store_feature_values("plain", batch) == 3
    vector = await store.get_feature_vector(["plain"], ["c1", "c2", "nobody"])
    assert vector.to_dict() == {"customer_id": ["c1", "c2", "nobody"], "plain": [5, 9, None]}
    history = await store.get_feature_history("plain", "c1")
    assert history.column("value").to_pylist() == [2, 1, 4, 5]


async def test_bad_row_stores_nothing(store: FeatureStore) -> None:
    await make_features(store)
    rows = [{"entity_id": f"c{i}", "value": float(i), "event_timestamp": at(i)} for i in range(5)]
    rows[3]["value"] = "oops"
    with pytest.raises(TypeMismatchError, match="row 3"):
        await store.store_feature_values("amount", rows)
    assert (await store.get_feature_history("amount")).num_rows == 0
    assert await store.get_feature_value("amount", "c0") is None
    frame = pd.DataFrame({"customer_id": ["a", "b"], "event_timestamp": [at(1), at(2)], "amount": [1.0, 2.0]})
    frame["color"] = ["red", None]
    with pytest.raises(InvalidValueError, match="row 1"):
        await store.ingest(frame)
    assert (await store.get_feature_history("amount")).num_rows == 0
    with pytest.raises(ValidationError, match="not registered"):
        await store.ingest(frame.assign(mystery=1))


async def test_transform_fit_versions_and_serving(store: FeatureStore) -> None:
    await make_features(store)
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "a"],
            "event_timestamp": [at(1), at(1), at(1), at(3)],
            "amount": [1.0, 2.0, 3.0, 4.0],
            "color": ["red", "blue", "red", "green"],
        }
    )
    assert await store.ingest(frame) == {"amount": 4, "color": 4}
    before = await store.get_feature_value("amount", "a")
    assert before is not None and before.value == 4.0 and before.transformed is None  # not fitted yet
    fv = await store.fit_transformer("amount")
    assert fv.version == "1.1.0"
    values = np.array([1.0, 2.0, 3.0, 4.0])
    expected = (4.0 - values.mean()) / values.std()
    after = await store.get_feature_value("amount", "a")
    assert after is not None and after.transformed == pytest.approx(expected)
    await store.fit_transformer("color")
    vec = await store.get_feature_vector(["amount", "color"], ["a", "b"])
    assert vec.values["color"] == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]  # blue, green, red
    raw = await store.get_feature_vector(["amount", "color"], ["a", "b"], transformed=False)
    assert raw.values == {"amount": [4.0, 2.0], "color": ["green", "blue"]}
    # fitting as of a time uses only the history up to then
    fv2 = await store.fit_transformer("amount", as_of=at(2))
    assert fv2.transformer_state["mean"] == pytest.approx(2.0)
    # new writes are transformed with the current version and stored with it
    await store.store_feature_value("amount", "z", 8.0, at(9))
    history = await store.get_feature_history("amount", "z")
    assert history.column("version").to_pylist() == [fv2.version]
    assert history.column("transformed")[0].as_py() == pytest.approx((8.0 - 2.0) / np.std([1.0, 2.0, 3.0]))


async def test_read_through_and_materialize(tmp_path: Path, store: FeatureStore) -> None:
    await make_features(store)
    rows = [{"entity_id": f"c{i}", "value": i, "event_timestamp": at(i)} for i in range(10)]
    await store.store_feature_values("plain", rows)
    # wipe the online copy: reads fall back to the offline history and repopulate online
    await store.online.delete_feature("customer", "plain")
    assert (await store.online.read("customer", ["c3"], ["plain"]))[0][0] is None
    assert (await store.get_feature_vector(["plain"], ["c3", "c4"])).values["plain"] == [3, 4]
    assert (await store.online.read("customer", ["c3"], ["plain"]))[0][0] is not None
    await store.online.delete_feature("customer", "plain")
    counts = await store.materialize(start=at(5), end=at(7), features=["plain"])
    assert counts == {"plain": 3}
    online = await store.online.read("customer", ["c4", "c5", "c7", "c8"], ["plain"])
    assert [row[0] is not None for row in online] == [False, True, True, False]


async def test_statistics(store: FeatureStore) -> None:
    await make_features(store)
    values = [1.0, 2.0, 3.0, 10.0]
    await store.store_feature_values(
        "amount", [{"entity_id": f"c{i}", "value": v, "event_timestamp": at(i)} for i, v in enumerate(values)]
    )
    stats = await store.statistics("amount")
    assert stats.count == 4 and stats.nulls == 0
    assert stats.mean == pytest.approx(np.mean(values)) and stats.std == pytest.approx(np.std(values))
    assert (stats.min, stats.max) == (1.0, 10.0)
    assert stats.quantiles["p50"] == pytest.approx(np.quantile(values, 0.5))
    await store.store_feature_values(
        "color", [{"entity_id": f"c{i}", "value": c} for i, c in enumerate(["r", "g", "r", "r"])]
    )
    cstats = await store.statistics("color")
    assert [(c.value, c.count) for c in cstats.top_categories][:2] == [("r", 3), ("g", 1)]


async def test_two_instances_share_the_store(tmp_path: Path, store: FeatureStore) -> None:
    """A second process-like client (its own connections and caches) sees the first's writes."""
    await make_features(store)
    await store.store_feature_value("plain", "c1", 1, at(1))
    async with FeatureStore(home=store.settings.home) as other:
        assert (await other.get_feature_value("plain", "c1")).value == 1  # type: ignore[union-attr]
        await other.update_feature("plain", {"description": "changed elsewhere"})
        await other.store_feature_value("plain", "c1", 2, at(2))
    assert (await store.get_feature("plain")).description == "changed elsewhere"
    assert (await store.get_feature_value("plain", "c1")).value == 2  # type: ignore[union-attr]
    resolved = await store.catalog.resolve(["plain"])
    assert resolved[0].version == "1.0.1"


def test_sync_twin(tmp_path: Path) -> None:
    with FeatureStore.sync(home=tmp_path) as fs:
        fs.create_entity({"name": "customer", "join_key": "customer_id"})
        fs.create_feature({"name": "amount", "entity": "customer"})
        fs.store_feature_value("amount", 1, 2.5, "2025-01-01T00:00:00Z")
        assert fs.get_feature_value("amount", 1).value == 2.5
        assert fs.get_feature_vector(["amount"], [1]).to_dict() == {"customer_id": [1], "amount": [2.5]}
