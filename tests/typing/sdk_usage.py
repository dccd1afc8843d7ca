"""What a user's type checker sees of the SDK: mypy checks this file (``[tool.mypy]`` in
pyproject.toml; .ci/run and tests/unit/test_typing.py). Never run, only type-checked."""

from __future__ import annotations

from typing import assert_type

import pandas as pd
import pyarrow as pa

from fstore import (
    Entity,
    Feature,
    FeatureGroup,
    FeatureStore,
    FeatureValue,
    FeatureVector,
    FeatureVersion,
    Settings,
    SyncFeatureStore,
)
from fstore.write_result import IngestResult, StoreResult


def blocking(frame: pd.DataFrame) -> None:
    with FeatureStore.sync(home="/tmp/x") as fs:
        assert_type(fs, SyncFeatureStore)
        assert_type(fs.settings, Settings)
        assert_type(fs.create_entity(Entity(name="customer")), Entity)
        assert_type(fs.create_feature({"name": "amount", "entity": "customer"}), Feature)
        assert_type(fs.get_feature("amount"), Feature)
        assert_type(fs.list_groups(), list[FeatureGroup])
        assert_type(fs.fit_transformer("amount", as_of="2025-01-01"), FeatureVersion)
        assert_type(fs.ingest(frame, validate_only=True), IngestResult)
        assert_type(fs.store_feature_value("amount", "c1", 1.0), StoreResult)
        assert_type(fs.get_feature_value("amount", "c1"), FeatureValue | None)
        vector = fs.get_feature_vector(["amount"], ["c1"], transformed=False)
        assert_type(vector, FeatureVector)
        assert_type(vector.to_arrow(), pa.Table)
        assert_type(fs.get_feature_history("amount", limit=3), pa.Table)
        assert_type(fs.materialize(features=["amount"]), dict[str, int])
        fs.get_historical_features(frame, ["amount"], output="polars")
        fs.get_feature_vector(["amount"], ["c1"], transformd=False)  # type: ignore[call-arg]
        fs.get_feature("amount", "1.0.0")  # type: ignore[call-arg]
        fs.no_such_method()  # type: ignore[attr-defined]


async def awaiting(frame: pd.DataFrame) -> None:
    async with FeatureStore(home="/tmp/x") as fs:
        assert_type(fs, FeatureStore)
        assert_type(await fs.get_feature("amount"), Feature)
        assert_type(await fs.get_feature_vector(["amount"], ["c1"]), FeatureVector)
        await fs.get_historical_features(frame, ["amount"], output="numpy")  # type: ignore[arg-type]
