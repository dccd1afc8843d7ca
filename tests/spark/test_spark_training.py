"""The Spark point-in-time join equals the in-process join on the same store: ties on event
time (corrections), TTL, late data, nulls, two entities, transformed and raw values."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fstore import FeatureStore
from fstore.errors import ValidationError
from fstore.models import Entity, Feature
from fstore.spark.training import read_rows, spark_training_set, write_training_set

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["embedded", "postgres"])
def target(request: pytest.FixtureRequest) -> FeatureStore:
    return request.getfixturevalue("store" if request.param == "embedded" else "pg_store")


async def _seed(fs: FeatureStore, rng: np.random.Generator) -> None:
    await fs.create_entity(Entity(name="merchant", join_key="merchant_id"))
    await fs.create_feature(Feature(name="amount", entity="customer"), transformer="minmax_scaler")
    await fs.create_feature(Feature(name="score", entity="customer", ttl_seconds=6 * 3600, nullable=True))
    await fs.create_feature(
        Feature(name="segment", entity="customer", type="categorical", dtype="string"),
        transformer="onehot_encoder",
    )
    await fs.create_feature(Feature(name="risk", entity="merchant", dtype="int"))
    n = 240
    for name, entity in (("amount", "c"), ("score", "c"), ("segment", "c"), ("risk", "m")):
        ids = rng.choice([f"{entity}{i}" for i in range(20)], n)
        # whole hours: equal event times are common; four batches: later ones correct earlier ones
        times = [T0 + timedelta(hours=int(h)) for h in rng.integers(0, 72, n)]
        if name == "segment":
            values: list = list(rng.choice(["a", "b", "c"], n))
        elif name == "risk":
            values = [int(v) for v in rng.integers(0, 100, n)]
        else:
            values = [
                None if name == "score" and rng.random() < 0.15 else float(v) for v in rng.normal(size=n)
            ]
        frame = pd.DataFrame({"entity_id": ids, "event_timestamp": times, "value": values})
        for start in range(0, n, n // 4):
            await fs.store_feature_values(name, frame.iloc[start : start + n // 4])
    await fs.fit_transformer("amount")
    await fs.fit_transformer("segment")
    # late data: old event times ingested after the fit
    late = pd.DataFrame(
        {"entity_id": ["c1", "c2"], "event_timestamp": [T0 + timedelta(hours=1)] * 2, "value": [5.0, -5.0]}
    )
    await fs.store_feature_values("amount", late)


async def test_the_spark_join_equals_the_in_process_join(spark, target: FeatureStore, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    await _seed(target, rng)
    n = 400
    rows = pa.table(
        {
            "customer_id": rng.choice([f"c{i}" for i in range(24)], n),  # some never seen
            "merchant_id": rng.choice([f"m{i}" for i in range(22)], n),
            "event_timestamp": pa.array(
                [T0 + timedelta(seconds=int(s)) for s in rng.integers(-5 * 3600, 80 * 3600, n)],
                pa.timestamp("us", tz="UTC"),
            ),
            "label": rng.integers(0, 2, n),
        }
    )
    # rows exactly at event times (a value at the row's time counts)
    rows = pa.concat_tables(
        [rows, pa.table({**{c: rows.column(c)[:20] for c in rows.column_names}, "event_timestamp": pa.array(
            [T0 + timedelta(hours=h) for h in range(20)], pa.timestamp("us", tz="UTC"))})]
    )  # fmt: skip
    source = tmp_path / "rows.parquet"
    pq.write_table(rows, source)
    features = ["amount", "score", "segment", "risk"]
    for transformed in (True, False):
        expected = await target.get_historical_features(rows, features, transformed=transformed)
        frame = await spark_training_set(
            target, spark, read_rows(spark, target, str(source)), features, transformed=transformed
        )
        out = tmp_path / f"training-{transformed}"
        assert write_training_set(frame, str(out)) == rows.num_rows
        got = pq.read_table(out)
        assert got.column_names == expected.column_names
        for name in expected.column_names:
            assert got.column(name).to_pylist() == expected.column(name).to_pylist(), name
    assert expected.column("score").null_count > 0  # the TTL and null values did matter


async def test_missing_columns_are_refused(spark, store: FeatureStore) -> None:
    await store.create_feature(Feature(name="amount", entity="customer"))
    rows = spark.createDataFrame(pa.table({"customer_id": ["c1"]}))
    with pytest.raises(ValidationError, match="no timestamp column"):
        await spark_training_set(store, spark, rows, ["amount"])
