"""Contract of the offline store (``fstore.backends.offline.base.OfflineStore``).

Every backend in ``OFFLINE_BACKENDS`` (``conftest.py``) must pass the tests that take the ``offline``
fixture. A backend is a factory ``(request, tmp_path) -> store`` (not opened yet). Tests at the end
of the file (``duck`` fixture) check what only the embedded Parquet store has: its files.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from fstore.backends import create_offline_store
from fstore.backends.offline.base import HISTORY_COLUMNS, LATEST_COLUMNS, OfflineStore, PitRequest
from fstore.backends.offline.duckdb import DuckDBOfflineStore
from fstore.errors import ValidationError

TS = pa.timestamp("us", tz="UTC")
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def micros(seconds: Any) -> Any:
    return (np.asarray(seconds, dtype=np.int64) + int(T0.timestamp())) * 1_000_000


def table(
    ids: Sequence[str],
    seconds: Sequence[int],
    values: Any,
    ingested: int | Sequence[int] = 0,
    transformed: pa.Array | None = None,
    version: str = "1.0.0",
) -> pa.Table:
    """A history table; times are seconds after T0."""
    n = len(ids)
    ing = [ingested] * n if isinstance(ingested, int) else list(ingested)
    return pa.table(
        {
            "entity_id": pa.array(list(ids), pa.string()),
            "event_timestamp": pa.array(micros(list(seconds))).cast(TS),
            "value": values if isinstance(values, pa.Array) else pa.array(list(values)),
            "transformed": transformed if transformed is not None else pa.nulls(n),
            "version": pa.array([version] * n, pa.string()),
            "ingested_at": pa.array(micros(ing)).cast(TS),
        }
    )


def rows_of(t: pa.Table, *columns: str) -> list[tuple[Any, ...]]:
    cols = columns or ("entity_id", "event_timestamp", "value")
    return list(zip(*(t.column(c).to_pylist() for c in cols), strict=True))


# -- append, history ------------------------------------------------------------------------------


async def test_append_returns_rows_and_history_orders_by_entity_then_time(offline: OfflineStore) -> None:
    assert await offline.append("amount", table(["b", "a", "b"], [30, 20, 10], [3.0, 2.0, 1.0])) == 3
    assert await offline.append("amount", table(["a"], [5], [0.5], ingested=1)) == 1
    h = await offline.history("amount")
    assert h.column_names == list(HISTORY_COLUMNS)
    assert h.schema.field("event_timestamp").type == TS
    assert h.schema.field("ingested_at").type == TS
    assert rows_of(h) == [("a", at(5), 0.5), ("a", at(20), 2.0), ("b", at(10), 1.0), ("b", at(30), 3.0)]
    assert h.column("version").to_pylist() == ["1.0.0"] * 4


async def test_history_filters_and_limit(offline: OfflineStore) -> None:
    await offline.append("f", table(["a", "a", "a", "b", "c"], [1, 2, 3, 2, 2], [1, 2, 3, 4, 5]))
    await offline.append("f", table(["b", "c"], [4, 1], [6, 7]))
    h = await offline.history("f", entity_ids=["b", "c", "zz"])
    assert rows_of(h) == [("b", at(2), 4), ("b", at(4), 6), ("c", at(1), 7), ("c", at(2), 5)]
    h = await offline.history("f", start=at(2), end=at(3))  # both ends inclusive
    assert rows_of(h) == [("a", at(2), 2), ("a", at(3), 3), ("b", at(2), 4), ("c", at(2), 5)]
    h = await offline.history("f", entity_ids=["a"], start=at(2))
    assert rows_of(h) == [("a", at(2), 2), ("a", at(3), 3)]
    h = await offline.history("f", limit=3)
    assert rows_of(h) == [("a", at(1), 1), ("a", at(2), 2), ("a", at(3), 3)]
    assert (await offline.history("f", entity_ids=[])).num_rows == 0
    assert (await offline.history("f", limit=0)).num_rows == 0


async def test_value_types_round_trip(offline: OfflineStore) -> None:
    await offline.append("i", table(["a", "b"], [1, 2], pa.array([7, None], pa.int64())))
    await offline.append("s", table(["a", "b"], [1, 2], pa.array(["x", None], pa.string())))
    await offline.append("d", table(["a"], [1], pa.array([1.5], pa.float64())))
    hi, hs, hd = [await offline.history(f) for f in ("i", "s", "d")]
    assert hi.schema.field("value").type == pa.int64() and hi.column("value").to_pylist() == [7, None]
    assert hs.schema.field("value").type == pa.string() and hs.column("value").to_pylist() == ["x", None]
    assert hd.schema.field("value").type == pa.float64()


async def test_append_validates_and_ignores_empty_tables(offline: OfflineStore) -> None:
    bad = table(["a"], [1], [1.0]).drop_columns(["ingested_at"])
    with pytest.raises(ValidationError):
        await offline.append("f", bad)
    with pytest.raises(ValidationError):
        await offline.append(
            "f", table(["a"], [1], [1.0]).set_column(0, "entity_id", pa.array([None], pa.string()))
        )
    assert await offline.append("f", table([], [], pa.array([], pa.float64()))) == 0
    assert (await offline.history("f")).num_rows == 0


async def test_append_accepts_naive_and_other_unit_timestamps(offline: OfflineStore) -> None:
    t = table(["a"], [10], [1.0])
    naive_ns = pa.array(micros([10]) * 1000, pa.timestamp("ns"))
    t = t.set_column(1, "event_timestamp", naive_ns)
    await offline.append("f", t)
    h = await offline.history("f")
    assert h.column("event_timestamp").to_pylist() == [at(10)]


async def test_unknown_feature_reads_empty(offline: OfflineStore) -> None:
    h = await offline.history("nothing")
    assert h.num_rows == 0 and h.column_names == list(HISTORY_COLUMNS)
    assert (await offline.latest("nothing")).num_rows == 0
    assert len(await offline.values("nothing")) == 0
    stats = await offline.statistics("nothing", numerical=True)
    assert stats["count"] == 0 and stats["nulls"] == 0 and stats["mean"] is None
    rows = pa.table({"k": ["a"], "ts": pa.array([micros([1])[0]]).cast(TS)})
    out = await offline.point_in_time(rows, "ts", [PitRequest("nothing", "k", "x")])
    assert out.column("x").to_pylist() == [None]


async def test_delete_feature(offline: OfflineStore) -> None:
    await offline.append("f", table(["a"], [1], [1.0]))
    await offline.append("g", table(["a"], [1], [2.0]))
    await offline.delete_feature("f")
    assert (await offline.history("f")).num_rows == 0
    assert (await offline.history("g")).num_rows == 1
    await offline.delete_feature("nope")  # no error


async def test_ping(offline: OfflineStore) -> None:
    info = await offline.ping()
    assert isinstance(info, dict) and info.get("backend")


async def test_mixed_transformed_types_across_appends(offline: OfflineStore) -> None:
    await offline.append("n", table(["a"], [1], [1.0]))  # no transformer: null column
    await offline.append("n", table(["a"], [2], [2.0], transformed=pa.array([0.5])))
    await offline.append("n", table(["b"], [1], [3.0], transformed=pa.array([4], pa.int64())))
    h = await offline.history("n")
    assert pa.types.is_floating(h.schema.field("transformed").type)
    assert h.column("transformed").to_pylist() == [None, 0.5, 4.0]
    latest = await offline.latest("n")
    assert latest.column("value").to_pylist() == [2.0, 3.0]

    onehot = pa.array([[0.0, 1.0]], pa.list_(pa.float64()))
    await offline.append("c", table(["a"], [1], ["x"]))
    await offline.append("c", table(["a"], [2], ["y"], transformed=onehot))
    h = await offline.history("c")
    assert h.column("transformed").to_pylist() == [None, [0.0, 1.0]]
    # a transformer of another kind (scalar next to lists) still reads
    await offline.append("c", table(["b"], [1], ["z"], transformed=pa.array([3], pa.int64())))
    h = await offline.history("c")
    assert h.num_rows == 3 and h.column("value").to_pylist() == ["x", "y", "z"]
    assert h.column("transformed").null_count == 1


# -- latest, values -------------------------------------------------------------------------------


async def test_latest_one_row_per_entity_ties_go_to_newest_ingestion(offline: OfflineStore) -> None:
    # the newer ingestion is appended first: order of appends must not matter
    await offline.append("f", table(["a", "b"], [10, 10], [2.0, 20.0], ingested=200))
    await offline.append("f", table(["a", "b", "b"], [10, 5, 10], [1.0, 9.0, 10.0], ingested=100))
    await offline.append("f", table(["c"], [1], [5.0], ingested=50))
    latest = await offline.latest("f")
    assert rows_of(latest) == [("a", at(10), 2.0), ("b", at(10), 20.0), ("c", at(1), 5.0)]
    assert latest.column_names == list(LATEST_COLUMNS)
    only = await offline.latest("f", entity_ids=["c", "a", "missing"])
    assert rows_of(only) == [("a", at(10), 2.0), ("c", at(1), 5.0)]
    # ties inside one append
    await offline.append("g", table(["a", "a", "a", "b"], [10, 10, 5, 1], [1.0, 2.0, 0.0, 7.0], [3, 1, 0, 0]))
    assert rows_of(await offline.latest("g")) == [("a", at(10), 1.0), ("b", at(1), 7.0)]
    rows = pa.table({"k": ["a", "a"], "ts": pa.array(micros([10, 9])).cast(TS)})
    out = await offline.point_in_time(rows, "ts", [PitRequest("g", "k", "v")])
    assert out.column("v").to_pylist() == [1.0, 0.0]


async def test_latest_within_a_range(offline: OfflineStore) -> None:
    await offline.append("f", table(["a", "a", "a", "b"], [1, 5, 9, 9], [1, 5, 9, 90]))
    latest = await offline.latest("f", end=at(6))
    assert rows_of(latest) == [("a", at(5), 5)]
    latest = await offline.latest("f", start=at(2), end=at(9))
    assert rows_of(latest) == [("a", at(9), 9), ("b", at(9), 90)]
    assert (await offline.latest("f", start=at(100))).num_rows == 0


async def test_values_as_of(offline: OfflineStore) -> None:
    await offline.append("f", table(["a", "b", "c"], [1, 2, 3], pa.array([1.0, None, 3.0])))
    await offline.append("f", table(["a"], [4], [4.0]))
    values = await offline.values("f")
    assert isinstance(values, pa.Array)
    assert sorted(values.to_pylist(), key=lambda v: (v is None, v)) == [1.0, 3.0, 4.0, None]
    assert sorted((await offline.values("f", as_of=at(2))).to_pylist(), key=lambda v: (v is None, v)) == [
        1.0,
        None,
    ]


# -- statistics -----------------------------------------------------------------------------------


async def test_numerical_statistics_match_numpy(offline: OfflineStore) -> None:
    rng = np.random.default_rng(5)
    n = 500
    vals = rng.normal(10, 3, n)
    secs = rng.permutation(1000)[:n]  # distinct identities: each counts once
    nulls = rng.random(n) < 0.1
    arr = pa.array(vals, mask=nulls)
    ids = [f"e{i}" for i in rng.integers(0, 40, n)]
    await offline.append("x", table(ids[:300], secs[:300], arr[:300]))
    await offline.append("x", table(ids[300:], secs[300:], arr[300:]))

    for lo, hi in ((None, None), (200, 700)):
        keep = np.ones(n, bool)
        if lo is not None:
            keep = (secs >= lo) & (secs <= hi)
        stats = await offline.statistics(
            "x", numerical=True, start=None if lo is None else at(lo), end=None if hi is None else at(hi)
        )
        present = vals[keep & ~nulls]
        assert stats["count"] == keep.sum()
        assert stats["nulls"] == (keep & nulls).sum()
        assert stats["distinct"] == len(np.unique(present))
        assert stats["mean"] == pytest.approx(present.mean(), rel=1e-9)
        assert stats["std"] == pytest.approx(present.std(ddof=0), rel=1e-9)
        assert stats["min"] == pytest.approx(present.min()) and stats["max"] == pytest.approx(present.max())
        qs = {"p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99}
        assert set(stats["quantiles"]) == set(qs)
        for name, q in qs.items():
            assert stats["quantiles"][name] == pytest.approx(np.quantile(present, q), rel=1e-9)
        assert stats["first_event"] == at(int(secs[keep].min()))
        assert stats["last_event"] == at(int(secs[keep].max()))


async def test_integer_statistics(offline: OfflineStore) -> None:
    vals = np.array([1, 2, 2, 3, 10], dtype=np.int64)
    await offline.append("k", table(["a"] * 5, [1, 2, 3, 4, 5], pa.array(vals)))
    stats = await offline.statistics("k", numerical=True)
    assert stats["mean"] == pytest.approx(vals.mean())
    assert stats["std"] == pytest.approx(vals.std())
    assert stats["quantiles"]["p50"] == pytest.approx(2.0)
    assert stats["distinct"] == 4


async def test_categorical_statistics_match_pandas(offline: OfflineStore) -> None:
    rng = np.random.default_rng(9)
    cats = [f"k{i:02d}" for i in range(14)]
    weights = np.arange(1, 15, dtype=float)
    raw = rng.choice(cats, 1000, p=weights / weights.sum())
    nulls = rng.random(1000) < 0.05
    arr = pa.array(raw.tolist(), pa.string(), mask=nulls)
    await offline.append("m", table(["a"] * 1000, np.arange(1000), arr))
    stats = await offline.statistics("m", numerical=False)
    series = pd.Series(raw[~nulls])
    counts = series.value_counts()
    expected = sorted(((v, int(c)) for v, c in counts.items()), key=lambda vc: (-vc[1], vc[0]))[:10]
    assert [(c["value"], c["count"]) for c in stats["top_categories"]] == expected
    assert stats["count"] == 1000 and stats["nulls"] == nulls.sum()
    assert stats["distinct"] == series.nunique()
    assert stats["first_event"] == at(0) and stats["last_event"] == at(999)


# -- point in time --------------------------------------------------------------------------------


def pit_oracle(rows: pd.DataFrame, key: str, ts: str, history: pd.DataFrame, ttl: int | None) -> list[Any]:
    """pandas.merge_asof backward, after keeping the newest ingestion of equal event times."""
    left = rows.assign(_row=np.arange(len(rows)), _key=rows[key].astype(str)).sort_values(ts)
    right = (
        history.sort_values(["event_timestamp", "ingested_at"])
        .drop_duplicates(["entity_id", "event_timestamp"], keep="last")
        .rename(columns={"event_timestamp": "_feature_ts"})
    )
    merged = pd.merge_asof(
        left,
        right[["entity_id", "_feature_ts", "value"]],
        left_on=ts,
        right_on="_feature_ts",
        left_by="_key",
        right_by="entity_id",
        direction="backward",
    ).sort_values("_row")
    out = []
    for row_ts, feature_ts, value in zip(merged[ts], merged["_feature_ts"], merged["value"], strict=True):
        if pd.isna(feature_ts) or (ttl is not None and (row_ts - feature_ts) > pd.Timedelta(seconds=ttl)):
            out.append(None)
        else:
            out.append(value.item() if hasattr(value, "item") else value)
    return out


def random_history(rng: np.random.Generator, n: int, entities: int, kind: str) -> pd.DataFrame:
    secs = rng.integers(0, 200, n)  # few distinct seconds: equal event times are common
    if kind == "int":
        values: Any = rng.integers(-50, 50, n)
    elif kind == "str":
        values = rng.choice(["red", "green", "blue", "cyan"], n)
    else:
        values = np.round(rng.normal(size=n), 4)
    return pd.DataFrame(
        {
            "entity_id": [str(i) for i in rng.integers(0, entities, n)],
            "event_timestamp": pd.to_datetime(micros(secs), unit="us", utc=True),
            "value": values,
            "ingested_at": pd.to_datetime(micros(1000 + rng.permutation(n)), unit="us", utc=True),
        }
    )


def history_table(df: pd.DataFrame, value_type: pa.DataType) -> pa.Table:
    n = len(df)
    return pa.table(
        {
            "entity_id": pa.array(df["entity_id"], pa.string()),
            "event_timestamp": pa.array(df["event_timestamp"]).cast(TS),
            "value": pa.array(df["value"], value_type),
            "transformed": pa.nulls(n),
            "version": pa.array(["1.0.0"] * n),
            "ingested_at": pa.array(df["ingested_at"]).cast(TS),
        }
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
async def test_point_in_time_matches_merge_asof(offline: OfflineStore, seed: int) -> None:
    rng = np.random.default_rng(seed)
    kinds = {
        "f_float": ("float", pa.float64(), None),
        "f_int": ("int", pa.int64(), 30),
        "f_str": ("str", pa.string(), None),
    }
    histories = {}
    for name, (kind, vtype, _) in kinds.items():
        df = random_history(rng, 600, 25, kind)
        # several appends (segments), each in random order
        shuffled = df.sample(frac=1, random_state=seed)
        for lo, hi in ((0, 200), (200, 450), (450, len(df))):
            await offline.append(name, history_table(shuffled.iloc[lo:hi], vtype))
        histories[name] = df
    n = 700
    row_secs = rng.integers(-20, 230, n)  # some before any event
    keys = rng.integers(0, 30, n)  # ids 25..29 never seen
    rows = pd.DataFrame(
        {
            "customer_id": keys,
            "customer_key": [str(k) for k in keys],
            "ts": pd.to_datetime(micros(row_secs), unit="us", utc=True),
            "label": np.arange(n),
        }
    )
    rows = pd.concat([rows, rows.iloc[:50]], ignore_index=True)  # duplicate entity rows
    entity_rows = pa.Table.from_pandas(rows, preserve_index=False)
    requests = [
        PitRequest("f_float", "customer_id", "float_by_int_key"),
        PitRequest("f_int", "customer_key", "int_by_str_key", ttl_seconds=30),
        PitRequest("f_str", "customer_key", "str_value"),
        PitRequest("f_float", "customer_key", "float_by_str_key", ttl_seconds=0),
    ]
    out = await offline.point_in_time(entity_rows, "ts", requests)
    assert out.column_names == [*entity_rows.column_names, *(r.output for r in requests)]
    assert out.num_rows == len(rows)
    for c in entity_rows.column_names:  # the entity rows come back unchanged, in input order
        assert out.column(c).equals(entity_rows.column(c))
    for req in requests:
        expected = pit_oracle(rows, req.join_key, "ts", histories[req.feature_id], req.ttl_seconds)
        got = out.column(req.output).to_pylist()
        assert got == expected, req
        assert any(v is None for v in got) and any(v is not None for v in got)
    assert out.schema.field("int_by_str_key").type == pa.int64()
    assert out.schema.field("str_value").type == pa.string()


async def test_point_in_time_ties_rows_before_events_and_ttl(offline: OfflineStore) -> None:
    await offline.append("f", table(["a", "a"], [10, 20], [1.0, 2.0], ingested=5))
    await offline.append("f", table(["a"], [20], [3.0], ingested=9))  # same event time, newer
    await offline.append("f", table(["a"], [20], [4.0], ingested=7))
    rows = pa.table(
        {
            "id": ["a", "a", "a", "a", "b", None],
            "ts": pa.array(micros([5, 10, 19, 25, 25, 25])).cast(TS),
        }
    )
    out = await offline.point_in_time(
        rows, "ts", [PitRequest("f", "id", "v"), PitRequest("f", "id", "fresh", 5)]
    )
    assert out.column("v").to_pylist() == [None, 1.0, 1.0, 3.0, None, None]
    # ttl 5 s: at 19 the value from 10 is 9 s old; at 25 the value from 20 is 5 s old (kept)
    assert out.column("fresh").to_pylist() == [None, 1.0, None, 3.0, None, None]


async def test_point_in_time_accepts_naive_and_zoned_times(offline: OfflineStore) -> None:
    await offline.append("f", table(["1", "2"], [10, 20], [1.0, 2.0]))
    us = micros([15, 25, 9])
    zoned = pa.table({"k": [1, 2, 1], "ts": pa.array(us).cast(TS)})
    naive = pa.table({"k": [1, 2, 1], "ts": pa.array(us * 1000, pa.timestamp("ns"))})
    paris = pa.table({"k": [1, 2, 1], "ts": pa.array(us).cast(pa.timestamp("us", tz="Europe/Paris"))})
    for rows in (zoned, naive, paris):
        out = await offline.point_in_time(rows, "ts", [PitRequest("f", "k", "v")])
        assert out.column("v").to_pylist() == [1.0, 2.0, None]
        assert out.column("ts").equals(rows.column("ts"))


async def test_point_in_time_rejects_bad_requests(offline: OfflineStore) -> None:
    rows = pa.table({"k": ["a"], "ts": pa.array(micros([1])).cast(TS)})
    with pytest.raises(ValidationError):
        await offline.point_in_time(rows, "missing", [PitRequest("f", "k", "v")])
    with pytest.raises(ValidationError):
        await offline.point_in_time(rows, "ts", [PitRequest("f", "nokey", "v")])
    with pytest.raises(ValidationError):
        await offline.point_in_time(rows, "ts", [PitRequest("f", "k", "k")])


# -- several processes ------------------------------------------------------------------------------


async def test_concurrent_appends_from_two_processes_lose_nothing(
    offline: OfflineStore, run_processes: Any
) -> None:
    code = """
    import pyarrow as pa
    from fstore.backends import create_offline_store

    TS = pa.timestamp("us", tz="UTC")

    async def main(url, who, count):
        store = create_offline_store(url)
        await store.open()
        await start_together()
        for i in range(int(count)):  # single-row appends, as online puts make (compactions too)
            t = pa.table({
                "entity_id": [f"{who}-{i % 7}"],
                "event_timestamp": pa.array([1_700_000_000_000_000 + i], pa.int64()).cast(TS),
                "value": [float(i)],
                "transformed": pa.nulls(1),
                "version": ["1.0.0"],
                "ingested_at": pa.array([1_700_000_000_000_000 + i], pa.int64()).cast(TS),
            })
            await store.append("shared", t)
        await store.close()
    """
    count = 80
    done = asyncio.Event()
    seen = []

    async def read_meanwhile() -> None:  # a reader never sees a row twice nor loses one
        while not done.is_set():
            h = await offline.history("shared")
            pairs = list(zip(h.column("entity_id").to_pylist(), h.column("value").to_pylist(), strict=True))
            assert len(pairs) == len(set(pairs))
            assert not seen or len(pairs) >= seen[-1]
            seen.append(len(pairs))
            await asyncio.sleep(0.002)

    async def write() -> None:
        try:
            await run_processes(code, [[offline.url, "p", str(count)], [offline.url, "q", str(count)]])
        finally:
            done.set()

    await asyncio.gather(write(), read_meanwhile())
    assert len(seen) > 3
    h = await offline.history("shared")
    got = sorted(zip(h.column("entity_id").to_pylist(), h.column("value").to_pylist(), strict=True))
    expected = sorted((f"{w}-{i % 7}", float(i)) for w in "pq" for i in range(count))
    assert got == expected
    other = create_offline_store(offline.url)
    await other.open()
    try:
        assert (await other.history("shared")).num_rows == 2 * count
    finally:
        await other.close()


# -- the embedded Parquet store only ----------------------------------------------------------------


@pytest.fixture
async def duck(tmp_path: Path) -> AsyncIterator[DuckDBOfflineStore]:
    store = DuckDBOfflineStore(f"duckdb:///{tmp_path / 'offline'}")
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def segment_files(store: DuckDBOfflineStore, feature: str) -> list[Path]:
    return sorted((store.path / feature).glob("*.parquet"))


async def test_duckdb_url_names_a_directory(tmp_path: Path) -> None:
    store = DuckDBOfflineStore(f"duckdb:///{tmp_path}/a/b")
    await store.open()
    assert (tmp_path / "a" / "b").is_dir()
    info = await store.ping()
    assert info["backend"] == "duckdb" and info["path"] == str(tmp_path / "a" / "b") and info["version"]
    await store.close()


async def test_duckdb_appends_write_segments_and_compaction_keeps_results(duck: DuckDBOfflineStore) -> None:
    rng = np.random.default_rng(3)
    frames = []
    for i in range(45):
        n = 1 if i % 3 else 20
        df = pd.DataFrame(
            {
                "entity_id": [f"e{k}" for k in rng.integers(0, 6, n)],
                # distinct times within a batch; batches correct each other's identities
                "event_timestamp": pd.to_datetime(
                    micros(rng.choice(50, n, replace=False)), unit="us", utc=True
                ),
                "value": rng.normal(size=n),
                "ingested_at": pd.to_datetime(micros(np.full(n, i)), unit="us", utc=True),
            }
        )
        frames.append(df)
        await duck.append("f", history_table(df, pa.float64()))
        assert len(segment_files(duck, "f")) <= 32
    assert len(segment_files(duck, "f")) < 45  # compacted on the way
    everything = pd.concat(frames, ignore_index=True)
    h = await duck.history("f", include_superseded=True)
    assert h.num_rows == len(everything)
    expected = everything.sort_values(["entity_id", "event_timestamp", "ingested_at"])
    assert h.column("entity_id").to_pylist() == expected["entity_id"].tolist()
    assert sorted(h.column("value").to_pylist()) == sorted(everything["value"].tolist())
    newest = expected.drop_duplicates("entity_id", keep="last")
    latest = await duck.latest("f")
    assert latest.column("value").to_pylist() == newest["value"].tolist()

    assert duck.compact("f", everything=True)
    assert len(segment_files(duck, "f")) == 1
    assert (await duck.history("f", include_superseded=True)).equals(h)
    rows = pa.table({"k": ["e1", "e2", "e9"], "ts": pa.array(micros([25, 49, 49])).cast(TS)})
    out = await duck.point_in_time(rows, "ts", [PitRequest("f", "k", "v")])
    assert out.column("v").to_pylist() == pit_oracle(rows.to_pandas(), "k", "ts", everything, None)


async def test_duckdb_reader_retries_when_a_compaction_removes_files(
    duck: DuckDBOfflineStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(5):
        await duck.append("f", table(["a"], [i], [float(i)], ingested=i))
    stale = duck._segments("f")
    other = create_offline_store(duck.url)
    await other.open()
    assert other.compact("f", everything=True)  # another process merges and deletes them
    await other.close()
    assert not any(s.path.exists() for s in stale)
    real = duck._segments
    calls = []

    def listing(feature_id: str) -> list[Any]:
        calls.append(feature_id)
        return stale if len(calls) == 1 else real(feature_id)

    monkeypatch.setattr(duck, "_segments", listing)
    h = await duck.history("f")
    assert h.column("value").to_pylist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert len(calls) == 2


async def test_duckdb_readers_ignore_segments_a_merged_one_replaces(duck: DuckDBOfflineStore) -> None:
    """A compaction writes the merged segment before deleting the old ones: a reader that
    lists in between must not count rows twice (nor after a crash left the old files)."""
    for i in range(4):
        await duck.append("f", table(["a"], [i], [float(i)]))
    old = {p.name: p.read_bytes() for p in segment_files(duck, "f")}
    assert duck.compact("f", everything=True)
    for name, data in old.items():  # as if the compaction had crashed before deleting
        (duck.path / "f" / name).write_bytes(data)
    assert (await duck.history("f")).num_rows == 4
    await duck.append("f", table(["a"], [9], [9.0]))
    assert (await duck.history("f")).num_rows == 5
    assert duck.compact("f", everything=True)  # cleans the leftovers up
    assert [p.name for p in segment_files(duck, "f")] != sorted(old)
    assert len(segment_files(duck, "f")) == 1
    assert (await duck.history("f")).num_rows == 5


async def test_duckdb_rejects_feature_ids_that_are_not_names(duck: DuckDBOfflineStore) -> None:
    with pytest.raises(ValidationError):
        await duck.append("../escape", table(["a"], [1], [1.0]))
    with pytest.raises(ValidationError):
        await duck.history("a/b")
