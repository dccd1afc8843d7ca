"""Training sets against an independent oracle: pandas.merge_asof."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from fstore import FeatureStore
from fstore.models import Feature

T0 = pd.Timestamp(datetime(2025, 1, 1, tzinfo=UTC))


def oracle(rows: pd.DataFrame, history: pd.DataFrame, name: str, ttl: timedelta | None) -> pd.Series:
    left = rows.reset_index().rename(columns={"index": "_row"}).sort_values("event_timestamp")
    right = history.sort_values(["event_timestamp", "ingest_order"]).rename(
        columns={"event_timestamp": "feature_ts", "value": name}
    )
    right = right.drop_duplicates(["customer_id", "feature_ts"], keep="last")
    merged = pd.merge_asof(
        left,
        right[["customer_id", "feature_ts", name]],
        left_on="event_timestamp",
        right_on="feature_ts",
        by="customer_id",
        direction="backward",
        tolerance=ttl,
    )
    return merged.sort_values("_row")[name].reset_index(drop=True)


@pytest.mark.parametrize("seed", [1, 2])
async def test_point_in_time_matches_merge_asof(store: FeatureStore, seed: int) -> None:
    rng = np.random.default_rng(seed)
    await store.create_feature(Feature(name="amount", entity="customer"))
    await store.create_feature(Feature(name="score", entity="customer", ttl_seconds=6 * 3600))
    histories = {}
    for name in ("amount", "score"):
        n = 400
        history = pd.DataFrame(
            {
                "customer_id": rng.choice([f"c{i}" for i in range(30)], n),
                # whole hours make equal event times (ties) common
                "event_timestamp": T0 + pd.to_timedelta(rng.integers(0, 72, n), unit="h"),
                "value": np.round(rng.normal(size=n), 3),
            }
        )
        history["ingest_order"] = np.arange(n)
        # ingest in 4 batches: ties across batches resolve to the later ingestion
        for start in range(0, n, n // 4):
            part = history.iloc[start : start + n // 4]
            await store.store_feature_values(name, part.drop(columns="ingest_order"))
        histories[name] = history
    rows = pd.DataFrame(
        {
            "customer_id": rng.choice([f"c{i}" for i in range(35)], 500),  # some never seen
            "event_timestamp": T0 + pd.to_timedelta(rng.integers(-5 * 3600, 80 * 3600, 500), unit="s"),
        }
    )
    result = await store.get_historical_features(rows, ["amount", "score"])
    assert list(result.columns) == ["customer_id", "event_timestamp", "amount", "score"]
    assert result["customer_id"].tolist() == rows["customer_id"].tolist()
    expected_amount = oracle(rows, histories["amount"], "amount", None)
    expected_score = oracle(rows, histories["score"], "score", pd.Timedelta(hours=6))
    pd.testing.assert_series_equal(result["amount"], expected_amount, check_names=False)
    pd.testing.assert_series_equal(result["score"], expected_score, check_names=False)
    assert result["amount"].isna().any() and result["amount"].notna().any()


async def test_integer_keys_arrow_io_and_transformed(store: FeatureStore) -> None:
    import pyarrow as pa

    await store.create_feature(Feature(name="amount", entity="customer"), transformer="minmax_scaler")
    await store.store_feature_values(
        "amount",
        [{"entity_id": i, "value": float(i), "event_timestamp": T0 + timedelta(hours=i)} for i in range(5)],
    )
    await store.fit_transformer("amount")
    rows = pa.table({"customer_id": [4, 0, 2], "event_timestamp": [T0 + timedelta(hours=9)] * 3})
    out = await store.get_historical_features(rows, ["amount"])
    assert isinstance(out, pa.Table)
    assert out.column("amount").to_pylist() == [1.0, 0.0, 0.5]
    raw = await store.get_historical_features(rows, ["amount"], transformed=False)
    assert raw.column("amount").to_pylist() == [4.0, 0.0, 2.0]
