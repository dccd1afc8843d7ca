"""A transformer never blocks storing a raw value: a category the fit never saw is stored raw
and served with the encoder's unknown-category policy (label code -1, one-hot zeros) on every
write path; the next fit learns it. An unfitted transformer is reported as ``not_fitted``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from fstore import FeatureStore
from fstore.errors import UnknownCategoryError
from fstore.models import Feature, TransformerSpec, ValueStatus

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


async def fitted_features(store: FeatureStore) -> None:
    """``plan`` (label encoder, strict policy) and ``color`` (one-hot, default policy), both
    fitted on two categories."""
    strict = TransformerSpec(kind="label_encoder", params={"handle_unknown": "error"})
    await store.create_feature(
        Feature(name="plan", entity="customer", type="categorical"), transformer=strict
    )
    await store.create_feature(
        Feature(name="color", entity="customer", type="categorical"), transformer="onehot_encoder"
    )
    frame = pd.DataFrame(
        {
            "customer_id": ["c1", "c2"],
            "event_timestamp": [at(1), at(1)],
            "plan": ["gold", "silver"],
            "color": ["red", "blue"],
        }
    )
    await store.ingest(frame)
    await store.fit_transformer("plan")
    await store.fit_transformer("color")


async def test_an_unseen_category_is_stored_raw_on_every_write_path(store: FeatureStore) -> None:
    await fitted_features(store)
    await store.store_feature_value("plan", "c3", "platinum", at(2))
    await store.store_feature_values(
        "plan", [{"entity_id": "c4", "value": "bronze", "event_timestamp": at(2)}]
    )
    await store.ingest(
        pd.DataFrame({"customer_id": ["c5"], "event_timestamp": [at(2)], "plan": ["tin"], "color": ["green"]})
    )
    raw = await store.get_feature_history("plan")
    assert sorted(raw.column("value").to_pylist()) == ["bronze", "gold", "platinum", "silver", "tin"]

    got = await store.get_feature_value("plan", "c3")
    assert got is not None and got.value == "platinum" and got.transformed == -1
    assert got.status is ValueStatus.PRESENT
    # a vector over many entities, one holding unknown categories, serves them all
    vector = await store.get_feature_vector(["plan", "color"], ["c1", "c2", "c3", "c5"])
    assert vector.values["plan"] == [0, 1, -1, -1]  # gold, silver, unknown, unknown
    assert vector.values["color"] == [[0.0, 1.0], [1.0, 0.0], None, [0.0, 0.0]]
    assert vector.statuses == {
        "color": [ValueStatus.PRESENT, ValueStatus.PRESENT, ValueStatus.MISSING, ValueStatus.PRESENT]
    }
    training = await store.get_historical_features(
        pd.DataFrame({"customer_id": ["c1", "c5"], "event_timestamp": [at(3), at(3)]}), ["plan", "color"]
    )
    assert list(training["plan"]) == [0, -1]
    assert [list(v) for v in training["color"]] == [[0.0, 1.0], [0.0, 0.0]]
    # the explicit transform call keeps the feature's strict policy
    with pytest.raises(UnknownCategoryError, match="platinum"):
        await store.transform("plan", ["gold", "platinum"])
    assert np.asarray(await store.transform("color", ["red", "green"])).tolist() == [[0.0, 1.0], [0.0, 0.0]]


async def test_the_next_fit_learns_the_new_category(store: FeatureStore) -> None:
    await fitted_features(store)
    await store.store_feature_value("plan", "c3", "platinum", at(2))
    fitted = await store.fit_transformer("plan")
    assert fitted.transformer_state == {"categories": ["gold", "platinum", "silver"]}
    got = await store.get_feature_value("plan", "c3")
    assert got is not None and got.transformed == 1 and got.version == fitted.version
    assert (await store.get_feature_vector(["plan"], ["c1", "c2", "c3"])).values["plan"] == [0, 2, 1]
    assert (await store.transform("plan", ["platinum"])).tolist() == [1]


async def test_an_unfitted_transformer_is_reported_not_fitted(store: FeatureStore) -> None:
    await store.create_feature(Feature(name="amount", entity="customer"), transformer="standard_scaler")
    await store.create_feature(Feature(name="plain", entity="customer"))
    await store.store_feature_values(
        "amount",
        [{"entity_id": e, "value": v, "event_timestamp": at(1)} for e, v in (("c1", 1.0), ("c2", 3.0))],
    )
    await store.store_feature_value("plain", "c1", 7.0, at(1))
    got = await store.get_feature_value("amount", "c1")
    assert got is not None and got.status is ValueStatus.NOT_FITTED
    assert got.value == 1.0 and got.transformed is None
    vector = await store.get_feature_vector(["amount", "plain"], ["c1", "c2"])
    assert vector.values == {"amount": [None, None], "plain": [7.0, None]}
    assert vector.statuses == {
        "amount": [ValueStatus.NOT_FITTED, ValueStatus.NOT_FITTED],
        "plain": [ValueStatus.PRESENT, ValueStatus.MISSING],
    }
    raw = await store.get_feature_vector(["amount"], ["c1", "c2"], transformed=False)
    assert raw.values == {"amount": [1.0, 3.0]} and raw.statuses == {}  # raw values are present
    await store.fit_transformer("amount")
    got = await store.get_feature_value("amount", "c1")
    assert got is not None and got.status is ValueStatus.PRESENT and got.transformed == -1.0
