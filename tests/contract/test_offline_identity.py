"""Offline store contract, continued: the identity of a stored value and atomic writes.

The identity of a stored value is (feature, entity_id, event_timestamp). Sending the same
value again stores nothing; a different value is a correction that supersedes the earlier
one; every read sees each identity once (history can include the superseded rows for audit).
Every backend in ``OFFLINE_BACKENDS`` runs these (the ``offline`` fixture).
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from test_offline_contract import at, micros, rows_of, table

from fstore.backends import create_offline_store
from fstore.backends.offline.base import OfflineStore, PitRequest, WriteCount
from fstore.errors import ValidationError

TS = pa.timestamp("us", tz="UTC")


async def test_the_same_values_again_change_nothing(offline: OfflineStore) -> None:
    first = table(["a", "a", "b"], [1, 2, 1], pa.array([1.0, None, 3.0]), ingested=10)
    assert await offline.append("f", first) == 3
    before = await offline.history("f", include_superseded=True)
    stats = await offline.statistics("f", numerical=True)
    # a retry: the same rows, ingested later (nulls equal nulls)
    again = await offline.write(
        {"f": table(["b", "a", "a"], [1, 1, 2], pa.array([3.0, 1.0, None]), ingested=20)}
    )
    assert again == {"f": WriteCount(stored=0, unchanged=3)}
    after = await offline.history("f", include_superseded=True)
    assert after.equals(before)  # ingested_at unchanged too
    assert await offline.statistics("f", numerical=True) == stats
    # half old, half new
    mixed = table(["a", "c"], [1, 5], [1.0, 7.0], ingested=30)
    assert await offline.write({"f": mixed}) == {"f": WriteCount(stored=1, unchanged=1)}
    assert (await offline.history("f")).num_rows == 4


async def test_a_different_value_is_a_correction_that_supersedes(offline: OfflineStore) -> None:
    await offline.append("f", table(["a", "b"], [10, 10], [1.0, 5.0], ingested=1))
    assert await offline.write({"f": table(["a"], [10], [2.0], ingested=2)}) == {"f": WriteCount(stored=1)}
    assert rows_of(await offline.history("f")) == [("a", at(10), 2.0), ("b", at(10), 5.0)]
    audit = await offline.history("f", include_superseded=True)  # superseded rows come first
    assert rows_of(audit, "entity_id", "value", "ingested_at") == [
        ("a", 1.0, at(1)),
        ("a", 2.0, at(2)),
        ("b", 5.0, at(1)),
    ]
    assert rows_of(await offline.latest("f")) == [("a", at(10), 2.0), ("b", at(10), 5.0)]
    assert sorted((await offline.values("f")).to_pylist()) == [2.0, 5.0]
    stats = await offline.statistics("f", numerical=True)
    assert stats["count"] == 2 and stats["mean"] == pytest.approx(3.5) and stats["distinct"] == 2
    rows = pa.table({"k": ["a", "b"], "ts": pa.array(micros([11, 11])).cast(TS)})
    out = await offline.point_in_time(rows, "ts", [PitRequest("f", "k", "v")])
    assert out.column("v").to_pylist() == [2.0, 5.0]
    # back to the first value: a correction again (the current value is 2.0)
    assert await offline.append("f", table(["a"], [10], [1.0], ingested=3)) == 1
    assert rows_of(await offline.history("f", entity_ids=["a"])) == [("a", at(10), 1.0)]
    assert (await offline.history("f", include_superseded=True)).num_rows == 4
    # ... and sending it once more changes nothing
    assert await offline.append("f", table(["a"], [10], [1.0], ingested=4)) == 0
    assert (await offline.history("f", include_superseded=True, limit=2)).num_rows == 2


async def test_categorical_corrections_and_statistics(offline: OfflineStore) -> None:
    await offline.append("c", table(["a", "b", "c"], [1, 1, 1], ["x", "x", "y"], ingested=1))
    await offline.append("c", table(["a", "b", "c"], [1, 1, 1], ["y", "x", None], ingested=2))
    stats = await offline.statistics("c", numerical=False)
    assert stats["count"] == 3 and stats["nulls"] == 1
    assert stats["top_categories"] == [{"value": "x", "count": 1}, {"value": "y", "count": 1}]
    assert sorted(map(str, (await offline.values("c")).to_pylist())) == ["None", "x", "y"]


async def test_within_one_write_the_last_row_wins(offline: OfflineStore) -> None:
    batch = table(["a", "a", "b", "a"], [1, 1, 1, 1], [1.0, 2.0, 3.0, 4.0], ingested=5)
    assert await offline.write({"f": batch}) == {"f": WriteCount(stored=2, duplicates=2)}
    assert rows_of(await offline.history("f", include_superseded=True)) == [
        ("a", at(1), 4.0),
        ("b", at(1), 3.0),
    ]
    # the same batch again: its winners are stored already
    assert await offline.write({"f": batch}) == {"f": WriteCount(unchanged=2, duplicates=2)}


async def test_write_of_several_features_counts_each(offline: OfflineStore) -> None:
    await offline.append("f", table(["a"], [1], [1.0]))
    counts = await offline.write(
        {
            "f": table(["a", "b"], [1, 1], [1.0, 2.0], ingested=1),
            "g": table(["a"], [1], ["x"], ingested=1),
            "h": table([], [], pa.array([], pa.float64())),
        }
    )
    assert counts == {"f": WriteCount(stored=1, unchanged=1), "g": WriteCount(stored=1), "h": WriteCount()}
    assert (await offline.history("g")).num_rows == 1


async def test_a_bad_table_stores_no_feature_of_the_write(offline: OfflineStore) -> None:
    bad = table(["a"], [1], [1.0]).drop_columns(["version"])
    with pytest.raises(ValidationError):
        await offline.write({"f": table(["a"], [1], [1.0]), "g": bad})
    assert (await offline.history("f")).num_rows == 0


async def test_overlapping_writes_of_random_data_keep_one_current_row_per_identity(
    offline: OfflineStore,
) -> None:
    rng = np.random.default_rng(11)
    current: dict[tuple[str, int], float] = {}
    stored_rows = 0
    for step in range(6):
        n = 300
        ids = [f"e{i}" for i in rng.integers(0, 30, n)]
        secs = rng.integers(0, 40, n)
        vals = rng.integers(0, 3, n).astype(float)  # few values: many rows repeat a stored one
        expect = WriteCount()
        batch = {}
        for e, t, v in zip(ids, secs.tolist(), vals.tolist(), strict=True):
            batch[(e, t)] = v  # last row wins
        for key, v in batch.items():
            if current.get(key) == v:
                expect = WriteCount(expect.stored, expect.unchanged + 1)
            else:
                expect = WriteCount(expect.stored + 1, expect.unchanged)
        counts = await offline.write({"r": table(ids, secs, vals, ingested=step)})
        assert counts["r"] == WriteCount(expect.stored, expect.unchanged, n - len(batch))
        current.update(batch)
        stored_rows += expect.stored
    h = await offline.history("r")
    got = {(e, int(t.timestamp() - at(0).timestamp())): v for e, t, v in rows_of(h)}
    assert got == current and h.num_rows == len(current)
    assert (await offline.history("r", include_superseded=True)).num_rows == stored_rows
    assert (await offline.statistics("r", numerical=True))["count"] == len(current)
    assert sorted((await offline.values("r")).to_pylist()) == sorted(current.values())


async def test_concurrent_writers_of_the_same_values_store_them_once(
    offline: OfflineStore, run_processes: Any
) -> None:
    code = """
    import pyarrow as pa
    from fstore.backends import create_offline_store

    TS = pa.timestamp("us", tz="UTC")

    async def main(url, who):
        store = create_offline_store(url)
        await store.open()
        await start_together()
        for i in range(40):  # both processes send the same rows: a retried call racing itself
            t = pa.table({
                "entity_id": [f"e{i % 5}", f"e{(i + 1) % 5}"],
                "event_timestamp": pa.array([1_700_000_000_000_000 + i] * 2, pa.int64()).cast(TS),
                "value": [float(i), float(i + 1)],
                "transformed": pa.nulls(2),
                "version": ["1.0.0"] * 2,
                "ingested_at": pa.array([1_700_000_000_000_000 + i] * 2, pa.int64()).cast(TS),
            })
            await store.write({"shared": t, "other": t})
        await store.close()
    """
    await run_processes(code, [[offline.url, "p"], [offline.url, "q"]])
    other = create_offline_store(offline.url)
    await other.open()
    try:
        for feature in ("shared", "other"):
            assert (await other.history(feature, include_superseded=True)).num_rows == 80
    finally:
        await other.close()


async def test_readers_meanwhile_never_see_an_identity_twice(offline: OfflineStore) -> None:
    await offline.append("f", table(["a", "b"], [1, 1], [0.0, 0.0]))
    done = asyncio.Event()

    async def correct() -> None:
        for i in range(1, 30):
            await offline.write({"f": table(["a", "b"], [1, 1], [float(i), float(i)], ingested=i)})
        done.set()

    async def read() -> None:
        while not done.is_set():
            h = await offline.history("f")
            assert h.num_rows == 2
            assert (await offline.statistics("f", numerical=True))["count"] == 2
            await asyncio.sleep(0)

    await asyncio.gather(correct(), read())
