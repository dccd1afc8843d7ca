"""Edge inputs at the SDK's doors: each is stored as documented or refused with a typed
error naming the row, and a refused call stores nothing."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from fstore import FeatureStore
from fstore.errors import InvalidValueError, TypeMismatchError, ValidationError
from fstore.models import Feature

TS = pd.Timestamp("2025-01-01", tz="UTC")


@pytest.fixture
async def fs(store: FeatureStore) -> FeatureStore:
    await store.create_feature(Feature(name="f", entity="customer"))
    await store.create_feature(Feature(name="i", entity="customer", dtype="int"))
    await store.create_feature(Feature(name="s", entity="customer", type="categorical"))
    return store


def frame(**columns: list[object]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame({"customer_id": [f"c{k}" for k in range(n)], "event_timestamp": [TS] * n, **columns})


async def stored(fs: FeatureStore, name: str) -> int:
    return (await fs.get_feature_history(name)).num_rows


@pytest.mark.parametrize(
    ("column", "values", "error", "row"),
    [
        ("f", ["x", 1.0], TypeMismatchError, 1),
        ("s", ["x", 1.0], TypeMismatchError, 1),
        ("f", [1.0, True], TypeMismatchError, 1),
        ("f", [True, 1.0], TypeMismatchError, 0),
        ("f", [True, False], TypeMismatchError, 0),
        ("i", [1, 2**70], InvalidValueError, 1),
        ("i", [1.0, 2.0**64], InvalidValueError, 1),
        ("s", ["ok", "a\x00b"], InvalidValueError, 1),
    ],
)
async def test_dataframe_columns_that_do_not_fit_name_the_row(
    fs: FeatureStore, column: str, values: list[object], error: type[Exception], row: int
) -> None:
    with pytest.raises(error, match=f"row {row}") as caught:
        await fs.ingest(frame(**{column: values}))
    assert caught.value.details["row"] == row  # type: ignore[attr-defined]
    assert await stored(fs, column) == 0


async def test_uint64_beyond_int64_is_refused(fs: FeatureStore) -> None:
    big = pd.Series([1, 2**63 + 5], dtype="uint64")
    with pytest.raises(InvalidValueError, match="64-bit"):
        await fs.ingest(frame(i=big.tolist()).assign(i=big))
    assert await stored(fs, "i") == 0


async def test_integers_beyond_64_bits_one_by_one(fs: FeatureStore) -> None:
    with pytest.raises(InvalidValueError, match="64-bit"):
        await fs.store_feature_value("i", "c1", 2**63)
    with pytest.raises(InvalidValueError, match="too large"):
        await fs.store_feature_value("f", "c1", 10**400)
    assert await fs.store_feature_value("i", "c1", 2**63 - 1) == 1
    assert await fs.store_feature_value("f", "c1", 2**70) == 1  # a float holds it (rounded)
    assert (await fs.get_feature_value("i", "c1")).value == 2**63 - 1  # type: ignore[union-attr]


async def test_nul_in_entity_ids_is_refused_everywhere(fs: FeatureStore) -> None:
    with pytest.raises(InvalidValueError, match="NUL"):
        await fs.store_feature_value("f", "a\x00b", 1.0)
    with pytest.raises(InvalidValueError, match="NUL"):
        await fs.ingest(frame(f=[1.0, 2.0]).assign(customer_id=["ok", "a\x00"]))
    with pytest.raises(InvalidValueError, match="NUL"):
        await fs.store_feature_values("s", [{"entity_id": "c1", "value": "x\x00"}])
    with pytest.raises(ValidationError, match="NUL"):
        await fs.get_feature_vector(["f"], ["a\x00"])
    assert await stored(fs, "f") == 0 and await stored(fs, "s") == 0


async def test_duplicated_columns_are_refused(fs: FeatureStore) -> None:
    data = pd.DataFrame([["c1", TS, 1.0, 2.0]], columns=["customer_id", "event_timestamp", "f", "f"])
    with pytest.raises(ValidationError, match="'f' appears more than once"):
        await fs.ingest(data)
    with pytest.raises(ValidationError, match="more than once"):
        table = pa.table([["c1"], [1.0], [2.0]], names=["customer_id", "value", "value"])
        await fs.store_feature_values("f", table)


async def test_nanosecond_timestamps_are_floored_to_the_microsecond(fs: FeatureStore) -> None:
    stamps = [
        pd.Timestamp("2025-01-01T00:00:00.000001999", tz="UTC"),
        pd.Timestamp("1969-12-31T23:59:59.9999999Z"),
    ]
    data = pd.DataFrame({"customer_id": ["a", "b"], "event_timestamp": stamps, "f": [1.0, 2.0]})
    assert data["event_timestamp"].dtype.unit == "ns"  # type: ignore[union-attr]
    await fs.ingest(data)
    await fs.store_feature_value("f", "c", 3.0, "2025-01-01T00:00:00.123456789Z")
    got = {r["entity_id"]: r["event_timestamp"] for r in (await fs.get_feature_history("f")).to_pylist()}
    assert got["a"] == pd.Timestamp("2025-01-01T00:00:00.000001Z")
    assert got["b"] == pd.Timestamp("1969-12-31T23:59:59.999999Z")
    assert got["c"] == pd.Timestamp("2025-01-01T00:00:00.123456Z")


@pytest.mark.parametrize("features", [[], ()])
async def test_an_empty_feature_list_is_refused(fs: FeatureStore, features: list[str]) -> None:
    with pytest.raises(ValidationError, match="at least one feature"):
        await fs.get_feature_vector(features, ["c1"])
    with pytest.raises(ValidationError, match="at least one feature"):
        await fs.get_historical_features(
            pd.DataFrame({"customer_id": ["c1"], "event_timestamp": [TS]}), features
        )


async def test_models_given_as_dicts(fs: FeatureStore) -> None:
    created = await fs.create_feature({"name": "g", "entity": "customer", "nullable": True})
    assert created.nullable and (await fs.get_feature("g")).nullable
    with pytest.raises(ValidationError, match="name"):
        await fs.create_feature({"name": 3, "entity": "customer"})
    with pytest.raises(ValidationError):
        await fs.create_feature(42)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="not a valid identifier"):
        await fs.create_entity({"name": "bad\nname"})
    with pytest.raises(ValidationError, match="changes"):
        await fs.update_feature("g", ["description"])  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="nullable"):
        await fs.update_feature("g", {"nullable": "maybe"})
    with pytest.raises(ValidationError):
        await fs.create_group({"name": "grp", "features": [""]})
