"""Test helpers: raw events with out-of-order and late ones, the reference computation of
their aggregates in plain pandas (written independently of the engine), and Kafka-like
records of the events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd

from fstore import FeatureStore
from fstore.streaming.handlers import Record

FUNCTIONS = ("count", "sum", "mean", "min", "max", "last", "distinct_count")
WINDOWS: dict[str, dict[str, Any]] = {
    "tumbling": {"window": "tumbling", "size_seconds": 60},
    "hopping": {"window": "hopping", "size_seconds": 60, "step_seconds": 20},
    "sliding": {"window": "sliding", "size_seconds": 90, "step_seconds": 40},  # step not dividing size
}
LATENESS = 15
TOPIC = "transactions"


def definition(name: str, function: str, window: str, *, lateness: int = LATENESS) -> dict[str, Any]:
    return {
        "name": name,
        "entity": "customer",
        "dtype": "int" if function in ("count", "distinct_count") else "float",
        "aggregation": {
            "source_topic": TOPIC,
            "entity_field": "customer",
            "timestamp_field": "ts",
            "value_field": None if function == "count" else "amount",
            "function": function,
            "allowed_lateness_seconds": lateness,
            **WINDOWS[window],
        },
    }


def make_events(n: int = 600, seed: int = 7) -> pd.DataFrame:
    """Events in arrival order: time mostly increasing, many out of order by up to 40 s (some
    beyond the 15 s lateness, so dropped), a few null amounts, amounts with repeats (for
    distinct counts) and times given both as ISO strings and epoch milliseconds."""
    rng = np.random.default_rng(seed)
    base = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    ts = base + np.sort(rng.integers(0, 20 * 60_000, n)) - rng.integers(0, 40_000, n) * (rng.random(n) < 0.3)
    amounts: list[float | None] = [float(a) for a in rng.integers(1, 30, n)]
    for i in rng.choice(n, min(12, n // 4), replace=False):
        amounts[i] = None
    when: list[Any] = [
        int(t) if i % 3 else datetime.fromtimestamp(t / 1000, UTC).isoformat() for i, t in enumerate(ts)
    ]
    return pd.DataFrame({"customer": [f"c{i}" for i in rng.integers(0, 6, n)], "ts": when, "amount": amounts})


def as_ms(when: Any) -> int:
    if isinstance(when, str):
        return int(datetime.fromisoformat(when).timestamp() * 1000)
    return int(when)


def expected(
    events: pd.DataFrame,
    function: str,
    window: str,
    lateness: int = LATENESS,
    *,
    shape: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """The aggregate of every window (entity, window end, value), by a row-by-row replay of
    the events (per-entity watermarks) then a pandas groupby; ``shape`` (``size_seconds``,
    ``step_seconds``) replaces the window's of ``WINDOWS``."""
    w = shape or WINDOWS[window]
    size = w["size_seconds"] * 1000
    step = w.get("step_seconds", w["size_seconds"]) * 1000
    marks: dict[str, int] = {}
    kept = []
    for pos, (entity, when, amount) in enumerate(
        events[["customer", "ts", "amount"]].itertuples(index=False)
    ):
        t = as_ms(when)
        marks[entity] = max(marks.get(entity, t), t)
        start = t - t % step
        while start + size > t:
            if start + size + lateness * 1000 > marks[entity]:
                kept.append((entity, start + size, t, pos, amount))
            start -= step
    frame = pd.DataFrame(kept, columns=["entity_id", "end", "t", "pos", "amount"])
    groups = frame.sort_values(["t", "pos"]).groupby(["entity_id", "end"])["amount"]
    values = {
        "count": groups.size(),
        "sum": groups.sum(),
        "mean": groups.mean(),
        "min": groups.min(),
        "max": groups.max(),
        "last": groups.last(),  # the last non-null by (event time, arrival)
        "distinct_count": groups.nunique(),
    }[function]
    # a window without a value (only null amounts) has no mean/min/max/last: nothing stored
    return values.dropna().rename("value").reset_index()


def records(
    events: pd.DataFrame, topic: str = TOPIC, partition: int = 0, first_offset: int = 0
) -> list[Record]:
    out = []
    for i, row in enumerate(events.to_dict("records")):
        row = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        out.append(
            Record(topic, partition, first_offset + i, row["customer"].encode(), orjson.dumps(row), 1_000 * i)
        )
    return out


def micro_batches(items: Sequence[Record], seed: int = 3) -> list[list[Record]]:
    """The records in order, cut into batches of random sizes (1 to 80)."""
    rng = np.random.default_rng(seed)
    out, i = [], 0
    while i < len(items):
        k = int(rng.integers(1, 80))
        out.append(list(items[i : i + k]))
        i += k
    return out


async def stored(store: FeatureStore, feature: str) -> pd.DataFrame:
    """The feature's current values (each identity once): entity, window end (ms), value."""
    table = (await store.get_feature_history(feature)).to_pandas()
    ends = table["event_timestamp"].astype("datetime64[ms, UTC]").astype("int64")
    return pd.DataFrame({"entity_id": table["entity_id"], "end": ends, "value": table["value"]}).sort_values(
        ["entity_id", "end"], ignore_index=True
    )


def assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    want = want.sort_values(["entity_id", "end"], ignore_index=True)
    assert len(got) == len(want), f"{len(got)} windows stored, {len(want)} expected"
    assert got["entity_id"].tolist() == want["entity_id"].tolist()
    assert got["end"].tolist() == want["end"].tolist()
    g = pd.to_numeric(got["value"], errors="coerce").to_numpy(np.float64)
    w = pd.to_numeric(want["value"], errors="coerce").to_numpy(np.float64)
    np.testing.assert_allclose(g, w, rtol=1e-12, equal_nan=True)
