"""Distributed statistics and fits equal the in-process ones over the same history (corrections
and nulls included), and the Spark transform expressions equal the in-process transform."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from fstore import FeatureStore
from fstore.catalog import ResolvedFeature
from fstore.columns import transform_arrow
from fstore.models import Feature, TransformerSpec
from fstore.spark.fit import fitted_state, spark_fit
from fstore.spark.history import history_frame
from fstore.spark.statistics import spark_statistics
from fstore.spark.transform import transform_column
from fstore.transformers import create_transformer

T0 = datetime(2026, 1, 1, tzinfo=UTC)
REL = 1e-12


@pytest.fixture(params=["embedded", "postgres"])
def target(request: pytest.FixtureRequest) -> FeatureStore:
    return request.getfixturevalue("store" if request.param == "embedded" else "pg_store")


async def _seed(fs: FeatureStore) -> None:
    """Two features with nulls, repeated identities and corrections (superseded values that a
    fit must not see: they are far off, so counting them would show)."""
    await fs.create_feature(Feature(name="amount", entity="customer", nullable=True))
    await fs.create_feature(Feature(name="segment", entity="customer", type="categorical", dtype="string"))
    rng = np.random.default_rng(7)
    n = 300
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i % 40}" for i in range(n)],
            "event_timestamp": [T0 + timedelta(minutes=i) for i in range(n)],
            "amount": np.where(rng.random(n) < 0.1, np.nan, rng.normal(50, 12, n).round(3)),
            "segment": rng.choice(["gold", "silver", "bronze", "é", "Z"], n),
        }
    )
    wrong = frame.head(50).assign(amount=1e6, segment="superseded")
    await fs.ingest(wrong)
    await fs.ingest(frame)  # corrects the first 50 identities


async def test_statistics_equal_the_in_process_ones(spark, target: FeatureStore) -> None:
    await _seed(target)
    for name in ("amount", "segment"):
        mine = await spark_statistics(target, spark, name, exact_quantiles=True)
        theirs = await target.statistics(name)
        for field in ("count", "nulls", "distinct", "min", "max", "first_event", "last_event"):
            assert getattr(mine, field) == getattr(theirs, field), field
        assert [c.model_dump() for c in mine.top_categories] == [
            c.model_dump() for c in theirs.top_categories
        ]
        for field in ("mean", "std"):
            expected = getattr(theirs, field)
            assert getattr(mine, field) == (
                expected if expected is None else pytest.approx(expected, rel=REL)
            )
        assert mine.quantiles == pytest.approx(theirs.quantiles, rel=REL)
    approx = await spark_statistics(target, spark, "amount")
    values = np.sort((await target.offline.values("amount")).drop_null().to_numpy())
    for key, q in zip(approx.quantiles, (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99), strict=True):
        rank = q * (len(values) - 1)  # within one rank of the interpolated quantile
        lo, hi = values[max(int(np.floor(rank)) - 1, 0)], values[min(int(np.ceil(rank)) + 1, len(values) - 1)]
        assert lo <= approx.quantiles[key] <= hi, key


@pytest.mark.parametrize(
    ("feature", "spec"),
    [
        ("amount", TransformerSpec(kind="standard_scaler")),
        ("amount", TransformerSpec(kind="standard_scaler", params={"with_mean": False})),
        ("amount", TransformerSpec(kind="minmax_scaler", params={"feature_range": [-1, 1]})),
        ("segment", TransformerSpec(kind="label_encoder")),
        ("segment", TransformerSpec(kind="onehot_encoder", params={"handle_unknown": "unknown"})),
    ],
)
async def test_fits_equal_the_in_process_fit(spark, target: FeatureStore, feature: str, spec) -> None:
    await _seed(target)
    (resolved,) = await target.catalog.resolve([feature])
    as_of = T0 + timedelta(minutes=200)
    expected = create_transformer(spec).fit(await target.offline.values(feature, as_of)).get_state()["state"]
    state, count = fitted_state(spec, await history_frame(target, spark, resolved, as_of))
    assert set(state) == set(expected)
    for key, value in expected.items():
        if isinstance(value, float):
            assert state[key] == pytest.approx(value, rel=REL), key
        else:
            assert state[key] == value, key
    assert count == expected.get("n_samples_seen", count)


async def test_spark_fit_registers_a_version_like_fit_transformer(spark, store: FeatureStore) -> None:
    await _seed(store)
    fv = await spark_fit(store, spark, "segment", transformer="label_encoder")
    assert fv.version == "2.0.0" and fv.transformer_state == {
        "categories": ["Z", "bronze", "gold", "silver", "é"]
    }
    assert fv.reason == "fitted on 300 values"
    again = await store.fit_transformer("segment")  # the same state: nothing new
    assert again.version == "2.0.0"
    history = await store.get_feature_history("segment", "c1")
    assert history.num_rows > 0


@pytest.mark.parametrize(
    ("dtype", "raw", "spec", "state"),
    [
        ("double", [1.5, None, -3.0, 7.25], "standard_scaler", {"mean": 1.2, "var": 4.0, "scale": 2.0}),
        ("bigint", [1, None, -3, 9], "minmax_scaler", {"data_min": -3.0, "data_max": 9.0, "scale": 0.125}),
        ("string", ["a", None, "c", "zz"], "label_encoder", {"categories": ["a", "c"]}),
        ("string", ["a", None, "c", "zz"], "onehot_encoder", {"categories": ["a", "b", "c"]}),
    ],
)
def test_spark_transform_equals_the_in_process_transform(spark, dtype, raw, spec, state) -> None:
    from pyspark.sql import functions as F

    if spec == "minmax_scaler":
        state = {**state, "min": 0.375, "n_samples_seen": 4}
    elif spec == "standard_scaler":
        state = {**state, "n_samples_seen": 4}
    for params in ({}, {"handle_unknown": "unknown"} if "encoder" in spec else {"clip": True}):
        if spec == "standard_scaler" and params:
            params = {"with_std": False}
        transformer = create_transformer(TransformerSpec(kind=spec, params=params))
        transformer.set_state(state) if hasattr(transformer, "set_state") else None
        resolved = ResolvedFeature(
            feature=Feature(name="f", entity="customer"), entity=None, version="1.0.0", spec=None,
            transformer=type(transformer).from_state({**transformer.get_state(), "state": state}),
        )  # fmt: skip
        arrow = pa.array(raw)
        df = spark.createDataFrame(pa.table({"value": arrow}))
        got = (
            df.select(transform_column(resolved, F.col("value")).alias("t")).toArrow().column("t").to_pylist()
        )
        assert got == transform_arrow(resolved, arrow).to_pylist(), (spec, params)
