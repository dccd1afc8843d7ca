"""Hypothesis fuzz of the SDK's entry points: whatever they are given, they either work or
raise an ``FStoreError`` (never a raw exception), and a call that raised stored nothing.

1,200 examples in all (``EXAMPLES`` per test), on one embedded store per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fstore import FeatureStore
from fstore.errors import FStoreError
from fstore.models import Entity, Feature

EXAMPLES = 200
NS_MIN, NS_MAX = datetime(1700, 1, 1), datetime(2200, 1, 1)  # what pandas holds in nanoseconds
FEATURES = ("num", "whole", "cat", "maybe")
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

texts = st.text(max_size=12)
names = st.sampled_from([*FEATURES, "ghost", "", "num\x00", "num\n"]) | texts
ints = st.sampled_from([2**63 - 1, -(2**63), 2**63, -(2**63) - 1, 2**64, 10**400]) | st.integers(
    -(2**70), 2**70
)
scalars = st.none() | st.booleans() | ints | st.floats() | texts | st.datetimes()
values = scalars | st.lists(scalars, max_size=2) | st.dictionaries(texts, scalars, max_size=2)
entity_ids = st.none() | st.booleans() | ints | st.floats() | texts | st.sampled_from(["c1", "c2", "a\x00"])
timestamps = (
    st.none()
    | st.datetimes(timezones=st.none() | st.just(UTC))
    | st.text(max_size=30)
    | st.sampled_from(["2025-01-01T00:00:00Z", "2025-01-01T00:00:00.123456789Z", "2025-02-30", "9999-12-31"])
    | ints
)
rows = st.fixed_dictionaries(
    {
        "entity_id": st.just("c1") | entity_ids,
        "value": ints | values,
        "event_timestamp": st.none() | timestamps,
    },
    optional={"extra": scalars},
)


@pytest.fixture
def fs(tmp_path: Path) -> Iterator[Any]:
    store = FeatureStore.sync(home=tmp_path / "fuzz")
    store.create_entity(Entity(name="customer", join_key="customer_id"))
    store.create_feature(Feature(name="num", entity="customer"))
    store.create_feature(Feature(name="whole", entity="customer", dtype="int"))
    store.create_feature(Feature(name="cat", entity="customer", type="categorical"))
    store.create_feature(Feature(name="maybe", entity="customer", nullable=True))
    yield store
    store.close()


def stored(fs: Any) -> dict[str, int]:
    counts = {name: fs.get_feature_history(name).num_rows for name in FEATURES}
    counts["features"] = len(fs.list_features())
    counts["entities"] = len(fs.list_entities())
    return counts


def call(fs: Any, method: str, *args: Any, **kwargs: Any) -> None:
    """The call either works or raises an FStoreError having stored nothing."""
    before = stored(fs)
    try:
        getattr(fs, method)(*args, **kwargs)
    except FStoreError:
        assert stored(fs) == before, f"{method} raised but stored something"


@SETTINGS
@given(data=st.data())
def test_registry_entry_points(fs: Any, data: st.DataObject) -> None:
    definition = data.draw(
        st.dictionaries(
            st.sampled_from(
                ["name", "entity", "type", "dtype", "nullable", "dependencies", "tags", "ttl_seconds"]
            )
            | texts,
            scalars | st.lists(names, max_size=2) | st.sampled_from(["customer", "numerical", "categorical"]),
            max_size=5,
        )
        | scalars
    )
    call(fs, data.draw(st.sampled_from(["create_feature", "create_entity"])), definition)


@SETTINGS
@given(
    feature=st.sampled_from(FEATURES) | names,
    entity_id=st.sampled_from(["c1", 7]) | entity_ids,  # valid ids often, so values get checked
    value=ints | texts | values,
    ts=st.none() | timestamps,
)
def test_store_feature_value(fs: Any, feature: Any, entity_id: Any, value: Any, ts: Any) -> None:
    call(fs, "store_feature_value", feature, entity_id, value, ts)


@SETTINGS
@given(feature=st.sampled_from(FEATURES) | names, batch=st.lists(rows, max_size=4) | scalars)
def test_store_feature_values(fs: Any, feature: Any, batch: Any) -> None:
    call(fs, "store_feature_values", feature, batch)


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(0, 3))
    columns = draw(
        st.lists(st.sampled_from(["customer_id", "event_timestamp", *FEATURES, "other"]), max_size=6)
    )
    data: dict[str, Any] = {}
    for i, column in enumerate(columns):
        cells = draw(st.lists(scalars, min_size=n, max_size=n))
        data[f"{column}#{i}"] = pd.Series(cells, dtype=object)
    if draw(st.booleans()) and n:
        data["customer_id#x"] = [f"c{k}" for k in range(n)]
        data["event_timestamp#x"] = pd.Series(
            draw(st.lists(st.datetimes(min_value=NS_MIN, max_value=NS_MAX), min_size=n, max_size=n)),
            dtype="datetime64[ns]",
        )
        data["num#x"] = np.asarray(draw(st.lists(st.floats(), min_size=n, max_size=n)), dtype=float)
    frame = pd.DataFrame(data)
    frame.columns = [c.partition("#")[0] for c in frame.columns]  # duplicates happen
    return frame


@SETTINGS
@given(frame=frames(), features=st.none() | st.lists(names, max_size=3) | names)
def test_ingest(fs: Any, frame: pd.DataFrame, features: Any) -> None:
    call(fs, "ingest", frame, features=features)


@SETTINGS
@given(
    features=st.lists(names, max_size=3) | names | scalars,
    entities=st.lists(entity_ids, max_size=3) | entity_ids,
    frame=frames() | st.lists(st.dictionaries(texts, scalars, max_size=3), max_size=3) | scalars,
)
def test_reads(fs: Any, features: Any, entities: Any, frame: Any) -> None:
    call(fs, "get_feature_vector", features, entities)
    call(fs, "get_historical_features", frame, features)


def test_the_fuzz_reaches_the_store(fs: Any) -> None:
    """The strategies above do produce calls that store values (the fuzz is not all errors)."""
    fs.store_feature_value("num", "c1", 1.5, datetime(2025, 1, 1))
    fs.ingest(
        pd.DataFrame({"customer_id": ["c2"], "event_timestamp": [pd.Timestamp("2025-01-01")], "cat": ["x"]})
    )
    assert stored(fs)["num"] == 1 and stored(fs)["cat"] == 1
