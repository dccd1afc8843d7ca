"""The OnlineStore contract: every backend passes these (only protocol methods are used)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from fstore.backends import create_online_store
from fstore.backends.online.base import OnlineStore, OnlineWrite
from fstore.backends.online.sqlite import SQLiteOnlineStore
from fstore.errors import StoreUnavailableError

T0 = 1_700_000_000_000_000  # event times are integer microseconds


def ow(
    feature: str,
    ids: list[str],
    ts: list[int],
    values: list,
    transformed: list | None = None,
    version: str | None = "1.0.0",
) -> OnlineWrite:
    return OnlineWrite(feature, ids, ts, values, values if transformed is None else transformed, version)


async def read_one(store: OnlineStore, entity: str, eid: str, feature: str):  # type: ignore[no-untyped-def]
    return (await store.read(entity, [eid], [feature]))[0][0]


async def test_implements_protocol(online_store: OnlineStore) -> None:
    assert isinstance(online_store, OnlineStore)
    assert online_store.url


async def test_write_then_read_round_trips_every_value_kind(online_store: OnlineStore) -> None:
    onehot = [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    applied = await online_store.write(
        "customer",
        [
            ow(
                "amount",
                ["c1", "c2", "c3"],
                [T0, T0 + 1, T0 + 2],
                [1.5, -2.25, None],
                [0.1, -0.2, None],
                "1.2.0",
            ),
            ow("count", ["c1", "c2", "c3"], [T0, T0, T0], [3, 0, 2**40], [0.5, 0.0, 1.0]),
            ow("method", ["c1", "c2", "c3"], [T0, T0, T0], ["card", "pix", "é漢"], [0, 1, 2]),
            ow("category", ["c1", "c2", "c3"], [T0, T0, T0], ["b", "a", "c"], onehot, "2.0.0"),
            ow("raw", ["c1"], [T0], [7.0], [None], None),
        ],
    )
    assert applied == 13
    rows = await online_store.read(
        "customer", ["c1", "c2", "c3"], ["amount", "count", "method", "category", "raw"]
    )
    assert [list(r) if r is not None else None for r in rows[0]] == [
        [T0, 1.5, 0.1, "1.2.0"],
        [T0, 3, 0.5, "1.0.0"],
        [T0, "card", 0, "1.0.0"],
        [T0, "b", [0.0, 1.0, 0.0], "2.0.0"],
        [T0, 7.0, None, None],
    ]
    assert list(rows[1][0]) == [T0 + 1, -2.25, -0.2, "1.2.0"]
    assert list(rows[2][0]) == [T0 + 2, None, None, "1.2.0"]
    assert rows[2][1][1] == 2**40 and isinstance(rows[2][1][1], int)
    assert list(rows[2][3][2]) == [0.0, 0.0, 1.0]
    assert rows[2][2][1] == "é漢"
    assert rows[1][4] is None and rows[2][4] is None


async def test_numpy_values_are_stored_as_plain_values(online_store: OnlineStore) -> None:
    ids = np.array(["c1", "c2"], dtype=object)
    await online_store.write(
        "customer",
        [
            OnlineWrite(
                "amount",
                list(ids),
                [np.int64(T0), np.int64(T0 + 5)],
                [np.float64(1.5), np.float32(2.5)],
                [np.array([0.0, 1.0]), np.array([1.0, 0.0])],
                "1.0.0",
            ),
            OnlineWrite(
                "count", ["c1"], np.array([T0], dtype=np.int64), [np.int64(4)], [np.int32(1)], "1.0.0"
            ),
        ],
    )
    rows = await online_store.read("customer", ["c1", "c2"], ["amount", "count"])
    assert list(rows[0][0]) == [T0, 1.5, [0.0, 1.0], "1.0.0"]
    assert list(rows[1][0]) == [T0 + 5, 2.5, [1.0, 0.0], "1.0.0"]
    assert list(rows[0][1]) == [T0, 4, 1, "1.0.0"]
    assert type(rows[0][1][1]) is int


async def test_reads_of_missing_entities_and_features_are_none(online_store: OnlineStore) -> None:
    assert await online_store.read("customer", ["nobody"], ["amount"]) == [[None]]
    assert await online_store.read("customer", ["a", "b"], ["amount", "count"]) == [
        [None, None],
        [None, None],
    ]
    assert await online_store.read("customer", [], ["amount"]) == []
    await online_store.write("customer", [ow("amount", ["c1"], [T0], [1.0])])
    assert await online_store.read("customer", ["c1"], ["count"]) == [[None]]
    assert await online_store.read("customer", ["c1"], []) == [[]]
    rows = await online_store.read("customer", ["c1", "nobody"], ["count", "amount"])
    assert rows[0][0] is None and list(rows[0][1]) == [T0, 1.0, 1.0, "1.0.0"]
    assert rows[1] == [None, None]


async def test_vector_read_has_the_requested_shape_and_order(online_store: OnlineStore) -> None:
    ids = [f"e{i}" for i in range(1200)]  # more than one IN-list chunk
    features = ["f0", "f1", "f2"]
    await online_store.write(
        "customer",
        [ow(f, ids[::2], [T0 + j] * 600, [f"{f}:{e}" for e in ids[::2]]) for j, f in enumerate(features)],
    )
    wanted = ["e7", "e4", "missing", "e4", "e0", *reversed(ids)]
    asked = ["f2", "nope", "f0"]
    rows = await online_store.read("customer", wanted, asked)
    assert len(rows) == len(wanted)
    for eid, row in zip(wanted, rows, strict=True):
        assert len(row) == len(asked)
        assert row[1] is None
        stored = eid != "missing" and int(eid[1:]) % 2 == 0
        for j in (0, 2):
            if stored:
                assert row[j][1] == f"{asked[j]}:{eid}"
                assert row[j][0] == T0 + features.index(asked[j])
            else:
                assert row[j] is None
    rows[1][0] = "mutated"  # callers fill in rows (read-through); duplicates are separate rows
    assert rows[3][0][1] == "f2:e4"
    assert (await online_store.read("customer", ["e4", "e4"], ["f0"]))[1][0][1] == "f0:e4"


async def test_last_write_wins_within_a_batch(online_store: OnlineStore) -> None:
    applied = await online_store.write(
        "customer",
        [
            # newest first: the older later entry must not win
            ow(
                "amount",
                ["c1", "c1", "c2", "c2", "c2"],
                [T0 + 10, T0 + 5, T0, T0 + 3, T0 + 3],
                [1.0, 2.0, 3.0, 4.0, 5.0],
            ),
            # the same feature again in a second OnlineWrite of the call: equal time, later wins
            ow("amount", ["c1"], [T0 + 10], [6.0]),
        ],
    )
    assert applied == 2  # one value per (feature, entity)
    assert (await read_one(online_store, "customer", "c1", "amount"))[1] == 6.0
    assert (await read_one(online_store, "customer", "c2", "amount"))[1] == 5.0


async def test_last_write_wins_across_writes_by_event_time(online_store: OnlineStore) -> None:
    assert (
        await online_store.write("customer", [ow("amount", ["c1"], [T0 + 10], [1.0], version="1.0.0")]) == 1
    )
    # older event: ignored, even though written later
    assert await online_store.write("customer", [ow("amount", ["c1"], [T0 + 9], [2.0])]) == 0
    assert (await read_one(online_store, "customer", "c1", "amount"))[1] == 1.0
    # equal event time: the new write wins (a replay with a new transformer version)
    assert (
        await online_store.write("customer", [ow("amount", ["c1"], [T0 + 10], [3.0], version="1.1.0")]) == 1
    )
    assert list(await read_one(online_store, "customer", "c1", "amount")) == [T0 + 10, 3.0, 3.0, "1.1.0"]
    # the same record again (a re-materialisation): nothing to write
    same = ow("amount", ["c1"], [T0 + 10], [3.0], version="1.1.0")
    assert await online_store.write("customer", [same]) == 0
    # newer event: wins
    assert await online_store.write("customer", [ow("amount", ["c1"], [T0 + 11], [4.0])]) == 1
    assert (await read_one(online_store, "customer", "c1", "amount"))[1] == 4.0


async def test_one_feature_at_a_time_merges_into_the_entity(online_store: OnlineStore) -> None:
    """Writes of one feature (an ingested batch) and of several (materialisation) share the
    entity's record; every value kind survives both."""
    ids = ["c1", "c2"]
    onehot = [[0.0, 1.0], [1.0, 0.0]]
    for write in (
        ow("amount", ids, [T0, T0], [1.5, None], [0.1, None], "1.2.0"),
        ow("count", ids, [T0, T0], [2**40, 0]),
        ow("method", ids, [T0, T0], ["é漢", 'quote " and ]'], [0, 1]),
        ow("category", ids, [T0, T0], ["b", "a"], onehot, "2.0.0"),
    ):
        assert await online_store.write("customer", [write]) == 2
    both = [ow("amount", ["c1"], [T0 + 1], [9.0]), ow("extra", ["c1"], [T0], [True], [None], None)]
    assert await online_store.write("customer", both) == 2
    assert await online_store.write("customer", [ow("count", ["c2", "c3"], [T0 - 1, T0], [5, 6])]) == 1
    rows = await online_store.read(
        "customer", ["c1", "c2", "c3"], ["amount", "count", "method", "category", "extra"]
    )
    assert [[list(r) if r is not None else None for r in row] for row in rows] == [
        [
            [T0 + 1, 9.0, 9.0, "1.0.0"],
            [T0, 2**40, 2**40, "1.0.0"],
            [T0, "é漢", 0, "1.0.0"],
            [T0, "b", [0.0, 1.0], "2.0.0"],
            [T0, True, None, None],
        ],
        [
            [T0, None, None, "1.2.0"],
            [T0, 0, 0, "1.0.0"],
            [T0, 'quote " and ]', 1, "1.0.0"],
            [T0, "a", [1.0, 0.0], "2.0.0"],
            None,
        ],
        [None, [T0, 6, 6, "1.0.0"], None, None, None],
    ]


async def test_last_write_wins_is_per_feature_and_entity(online_store: OnlineStore) -> None:
    await online_store.write(
        "customer",
        [ow("amount", ["c1", "c2"], [T0 + 10, T0], [1.0, 1.0]), ow("count", ["c1"], [T0 + 10], [1])],
    )
    applied = await online_store.write(
        "customer",
        [
            ow("amount", ["c1", "c2", "c3"], [T0 + 5, T0 + 5, T0 + 5], [2.0, 2.0, 2.0]),
            ow("count", ["c1"], [T0 + 20], [2]),
        ],
    )
    assert applied == 3  # c1/amount is older than what is stored
    rows = await online_store.read("customer", ["c1", "c2", "c3"], ["amount", "count"])
    assert [[r[1] if r else None for r in row] for row in rows] == [[1.0, 2], [2.0, None], [2.0, None]]


async def test_another_client_sees_writes_and_respects_their_times(
    online_store: OnlineStore, other_online_store: OnlineStore
) -> None:
    await online_store.write("customer", [ow("amount", ["c1"], [T0 + 10], [1.0])])
    assert (await read_one(other_online_store, "customer", "c1", "amount"))[1] == 1.0
    assert await other_online_store.write("customer", [ow("amount", ["c1"], [T0], [2.0])]) == 0
    await other_online_store.write("customer", [ow("count", ["c1"], [T0], [5])])
    row = (await online_store.read("customer", ["c1"], ["amount", "count"]))[0]
    assert row[0][1] == 1.0 and row[1][1] == 5


async def test_delete_feature(online_store: OnlineStore) -> None:
    ids = [f"c{i}" for i in range(30)]
    await online_store.write(
        "customer", [ow("amount", ids, [T0] * 30, [1.0] * 30), ow("count", ids[:10], [T0] * 10, [1] * 10)]
    )
    await online_store.write("merchant", [ow("volume", ["m1"], [T0], [9.0])])
    for feature in ("amount", "count"):
        await online_store.put_feature_meta(feature, {"id": feature})
        await online_store.put_transformer(feature, "1.0.0", {"kind": "standard_scaler"})
        await online_store.put_transformer(feature, "1.1.0", {"kind": "minmax_scaler"})
    await online_store.put_feature_meta("amount_x", {"id": "amount_x"})  # a name sharing a prefix

    await online_store.delete_feature("customer", "amount")
    rows = await online_store.read("customer", ids, ["amount", "count"])
    assert all(row[0] is None for row in rows)
    assert [row[1] is not None for row in rows] == [True] * 10 + [False] * 20
    assert (await read_one(online_store, "merchant", "m1", "volume"))[1] == 9.0
    assert await online_store.get_feature_meta("amount") is None
    assert await online_store.get_transformer("amount", "1.0.0") is None
    assert await online_store.get_transformer("amount", "1.1.0") is None
    assert await online_store.get_feature_meta("count") == {"id": "count"}
    assert await online_store.get_transformer("count", "1.1.0") == {"kind": "minmax_scaler"}
    assert await online_store.get_feature_meta("amount_x") == {"id": "amount_x"}

    # no tombstone: the feature can be written again, with any event time
    assert await online_store.write("customer", [ow("amount", ["c1"], [T0 - 100], [5.0])]) == 1
    assert (await read_one(online_store, "customer", "c1", "amount"))[1] == 5.0
    await online_store.delete_feature("customer", "never_written")  # fine


async def test_feature_meta_cache(online_store: OnlineStore) -> None:
    assert await online_store.get_feature_meta("amount") is None
    doc = {"id": "amount", "entity": "customer", "tags": ["a"], "ttl_seconds": None, "x": 1.5}
    await online_store.put_feature_meta("amount", doc)
    assert await online_store.get_feature_meta("amount") == doc
    await online_store.put_feature_meta("amount", {"id": "amount", "v": 2})
    assert await online_store.get_feature_meta("amount") == {"id": "amount", "v": 2}
    assert await online_store.get_feature_meta("count") is None


async def test_transformer_cache_is_per_version(online_store: OnlineStore) -> None:
    assert await online_store.get_transformer("amount", "1.0.0") is None
    state = {"kind": "onehot_encoder", "params": {}, "state": {"categories": ["a", "b"]}}
    await online_store.put_transformer("amount", "1.0.0", state)
    await online_store.put_transformer("amount", "1.1.0", {"kind": "standard_scaler", "state": {"mean": 1.0}})
    assert await online_store.get_transformer("amount", "1.0.0") == state
    assert await online_store.get_transformer("amount", "1.1.0") == {
        "kind": "standard_scaler",
        "state": {"mean": 1.0},
    }
    assert await online_store.get_transformer("amount", "2.0.0") is None
    assert await online_store.get_transformer("count", "1.0.0") is None
    await online_store.put_transformer("amount", "1.0.0", {"kind": "replaced"})
    assert await online_store.get_transformer("amount", "1.0.0") == {"kind": "replaced"}


async def test_data_survives_reopening(online_store: OnlineStore) -> None:
    await online_store.write("customer", [ow("amount", ["c1"], [T0], [1.0])])
    await online_store.put_feature_meta("amount", {"id": "amount"})
    await online_store.open()  # idempotent
    reopened = create_online_store(online_store.url)
    await reopened.open()
    try:
        assert (await read_one(reopened, "customer", "c1", "amount"))[1] == 1.0
        assert await reopened.get_feature_meta("amount") == {"id": "amount"}
    finally:
        await reopened.close()


async def test_ping(online_store: OnlineStore) -> None:
    info = await online_store.ping()
    assert isinstance(info["backend"], str) and info["backend"]
    assert isinstance(info["version"], str) and info["version"]


_WRITER = """
from fstore.backends.online.base import OnlineWrite

async def main(url, feature, rounds):
    # Both processes update the same entities (other features): a read-merge-write that is
    # not serialised would lose the other process's features.
    store = create_online_store(url)
    await store.open()
    ids = [f"c{i}" for i in range(50)]
    await start_together()
    start = time.time()
    for r in range(int(rounds)):
        ts = 1_000 + r
        await store.write("customer", [OnlineWrite(feature, ids, [ts] * 50, [r] * 50, [r] * 50, "1.0.0")])
        # an older write racing with newer ones must never win
        shared = OnlineWrite("shared", ids, [ts] * 50, [feature] * 50, [None] * 50, None)
        await store.write("customer", [shared])
    print(start, time.time())
    await store.close()
"""


async def test_concurrent_writers_in_two_processes_lose_nothing(
    online_store: OnlineStore, run_processes
) -> None:
    rounds = 200
    outputs = await run_processes(_WRITER, [[online_store.url, f, str(rounds)] for f in ("fa", "fb")])
    spans = [tuple(map(float, out.split())) for out in outputs]
    assert max(s for s, _ in spans) < min(e for _, e in spans), spans  # the writes overlapped
    rows = await online_store.read("customer", [f"c{i}" for i in range(50)], ["fa", "fb", "shared"])
    for row in rows:
        assert row[0] is not None and row[1] is not None, row
        assert list(row[0])[:2] == [1_000 + rounds - 1, rounds - 1]
        assert list(row[1])[:2] == [1_000 + rounds - 1, rounds - 1]
        assert row[2][0] == 1_000 + rounds - 1  # the newest event time, whoever wrote it


# -- SQLite specifics ---------------------------------------------------------------------------


async def test_sqlite_layout(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "online.db"
    store = SQLiteOnlineStore(f"sqlite:///{path}")
    await store.open()
    try:
        await store.write("customer", [ow("amount", ["c1"], [T0], [1.0]), ow("count", ["c1"], [T0], [2])])
        await store.put_transformer("amount", "1.0.0", {"k": 1})
        info = await store.ping()
        assert info["backend"] == "sqlite" and info["version"] == sqlite3.sqlite_version
        assert Path(info["path"]) == path.resolve()
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT key FROM online_values").fetchall() == [("customer:c1",)]
        assert conn.execute("SELECT key FROM online_meta").fetchall() == [("transformer:amount:1.0.0",)]
    finally:
        conn.close()


async def test_sqlite_entities_are_separate_namespaces(tmp_path: Path) -> None:
    # SQLite keys a row by "{entity}:{entity_id}", so even one feature id under two entities
    # stays apart. Redis uses the specification's keys, feature_value:{feature_id}:{entity_id}
    # (feature ids are global, a feature belongs to one entity): see test_redis_specific.py.
    store = SQLiteOnlineStore(f"sqlite:///{tmp_path / 'online.db'}")
    await store.open()
    try:
        await store.write("customer", [ow("amount", ["1"], [T0], [1.0])])
        await store.write("merchant", [ow("amount", ["1"], [T0], [2.0])])
        assert (await read_one(store, "customer", "1", "amount"))[1] == 1.0
        assert (await read_one(store, "merchant", "1", "amount"))[1] == 2.0
        assert await read_one(store, "custom", "1", "amount") is None
    finally:
        await store.close()


async def test_sqlite_without_json_each_uses_in_lists(tmp_path: Path) -> None:
    store = SQLiteOnlineStore(f"sqlite:///{tmp_path / 'online.db'}")
    await store.open()
    store._json_each = False  # as on a SQLite built without JSON
    try:
        ids = [f"e{i}" for i in range(1100)]
        await store.write("customer", [ow("amount", ids, list(range(1100)), list(range(1100)))])
        assert await store.write("customer", [ow("amount", ids, [5] * 1100, [-1] * 1100)]) == 6
        wanted = ["x", *reversed(ids)]
        rows = await store.read("customer", wanted, ["amount"])
        assert rows[0] == [None]
        assert [row[0][1] for row in rows[1:]] == [-1 if i <= 5 else i for i in reversed(range(1100))]
    finally:
        await store.close()


async def test_sqlite_unopenable_file_is_store_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreUnavailableError) as info:
        await SQLiteOnlineStore(f"sqlite:///{tmp_path / 'file' / 'online.db'}").open()
    assert info.value.details["store"] == "sqlite online"
    store = SQLiteOnlineStore(f"sqlite:///{tmp_path / 'online.db'}")
    with pytest.raises(StoreUnavailableError):
        await store.read("customer", ["c1"], ["amount"])
