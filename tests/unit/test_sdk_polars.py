"""Polars DataFrames in and out wherever the SDK takes pandas: the result is the kind of table
given, or the kind ``output=`` names."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from fstore import FeatureStore
from fstore.errors import ValidationError
from fstore.models import Feature

T1, T2 = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC)


@pytest.fixture
async def fs(store: FeatureStore) -> FeatureStore:
    await store.create_feature(Feature(name="amount", entity="customer"))
    await store.create_feature(Feature(name="segment", entity="customer", type="categorical"))
    data = pl.DataFrame(
        {
            "customer_id": ["c1", "c2", "c1"],
            "event_timestamp": [T1, T1, T2],
            "amount": [1.0, 2.0, 3.0],
            "segment": ["a", "b", "c"],
        }
    )
    result = await store.ingest(data)
    assert result == {"amount": 3, "segment": 3}
    return store


ROWS = {"customer_id": ["c1", "c2", "c1"], "event_timestamp": [T1, T2, T2]}
EXPECTED = {"amount": [1.0, 2.0, 3.0], "segment": ["a", "b", "c"]}


async def test_polars_in_polars_out(fs: FeatureStore) -> None:
    result = await fs.get_historical_features(pl.DataFrame(ROWS), ["amount", "segment"])
    assert isinstance(result, pl.DataFrame)
    assert result.columns == ["customer_id", "event_timestamp", "amount", "segment"]
    assert {k: result[k].to_list() for k in EXPECTED} == EXPECTED


@pytest.mark.parametrize(
    ("rows", "output", "kind"),
    [
        (pd.DataFrame(ROWS), None, pd.DataFrame),
        (pa.table(ROWS), None, pa.Table),
        ([dict(zip(ROWS, r, strict=True)) for r in zip(*ROWS.values(), strict=True)], None, pa.Table),
        (pd.DataFrame(ROWS), "polars", pl.DataFrame),
        (pl.DataFrame(ROWS), "pandas", pd.DataFrame),
        (pl.DataFrame(ROWS), "arrow", pa.Table),
    ],
)
async def test_the_output_follows_the_input_or_output(
    fs: FeatureStore, rows: object, output: str | None, kind: type
) -> None:
    result = await fs.get_historical_features(rows, ["amount"], output=output)  # type: ignore[arg-type]
    assert isinstance(result, kind)
    column = result["amount"]
    assert list(column.to_pylist() if isinstance(result, pa.Table) else column.to_list()) == [1.0, 2.0, 3.0]


async def test_an_unknown_output_is_refused(fs: FeatureStore) -> None:
    with pytest.raises(ValidationError, match="output is one of pandas, polars, arrow"):
        await fs.get_historical_features(pl.DataFrame(ROWS), ["amount"], output="numpy")  # type: ignore[arg-type]


async def test_a_polars_batch_of_one_feature(fs: FeatureStore) -> None:
    batch = pl.DataFrame({"entity_id": ["c3"], "value": [9.5], "event_timestamp": [T2]})
    assert await fs.store_feature_values("amount", batch) == 1
    vector = await fs.get_feature_vector(["amount", "segment"], ["c1", "c3"])
    frame = vector.to_polars()
    assert isinstance(frame, pl.DataFrame)
    assert frame.to_dict(as_series=False) == {
        "customer_id": ["c1", "c3"],
        "amount": [3.0, 9.5],
        "segment": ["c", None],
    }


async def test_a_polars_frame_with_bad_values_is_refused_whole(fs: FeatureStore) -> None:
    data = pl.DataFrame({"customer_id": ["c9", None], "event_timestamp": [T1, T1], "amount": [1.0, 2.0]})
    with pytest.raises(ValidationError):
        await fs.ingest(data)
    assert (await fs.get_feature_history("amount", "c9")).num_rows == 0
