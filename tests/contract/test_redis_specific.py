"""What the Redis online store guarantees beyond the OnlineStore contract: the specification's
key formats, TTL as key expiry, fail-fast on an unreachable server, last write wins under
concurrent writers, exact event-time comparison in Lua, and the cluster's write/read paths."""

from __future__ import annotations

import asyncio
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from fstore.backends import create_online_store
from fstore.backends.online.base import OnlineWrite
from fstore.backends.online.redis import RedisOnlineStore
from fstore.errors import ConfigurationError, StoreUnavailableError
from server_redis import delete_prefix, free_port, raw_client, throwaway_redis

T0 = 1_700_000_000_000_000


def ow(feature: str, ids: list[str], ts: list[int], values: list[Any], ttl: int | None = None) -> OnlineWrite:
    return OnlineWrite(feature, ids, ts, values, values, "1.0.0", ttl)


def with_prefix(url: str, prefix: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}prefix={prefix}"


@pytest.fixture(params=["redis_url", "redis_cluster"], ids=["redis", "redis-cluster"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[RedisOnlineStore]:
    server = request.getfixturevalue(request.param)
    prefix = f"fstore-test-{uuid.uuid4().hex[:12]}:"
    s = RedisOnlineStore(with_prefix(server, prefix))
    await s.open()
    try:
        yield s
    finally:
        await s.close()
        delete_prefix(server, prefix)


async def read_one(store: RedisOnlineStore, eid: str, feature: str) -> Any:
    return (await store.read("customer", [eid], [feature]))[0][0]


async def test_keys_follow_the_specification(store: RedisOnlineStore) -> None:
    await store.write("customer", [ow("amount", ["c1", "c:2"], [T0, T0 + 1], [1.5, None])])
    await store.put_feature_meta("amount", {"id": "amount"})
    await store.put_transformer("amount", "1.0.0", {"kind": "standard_scaler"})
    p = store.prefix
    raw = raw_client(store.url)
    try:
        keys = {k.decode() for k in raw.scan_iter(match=f"{p}*", count=1000, **_all_masters(raw))}
        assert keys == {
            f"{p}feature_value:amount:c1",
            f"{p}feature_value:amount:c:2",
            f"{p}feature:amount",
            f"{p}transformer:amount:1.0.0",
        }
        # the value record: [event_ts_us, value, transformed, version]
        assert orjson.loads(raw.get(f"{p}feature_value:amount:c1")) == [T0, 1.5, 1.5, "1.0.0"]
        assert raw.get(f"{p}feature_value:amount:c1").startswith(f"[{T0},".encode())
        assert orjson.loads(raw.get(f"{p}feature:amount")) == {"id": "amount"}
        assert raw.ttl(f"{p}feature_value:amount:c1") == -1  # no TTL: no expiry
    finally:
        raw.close()


async def test_the_entity_is_not_part_of_the_key(store: RedisOnlineStore) -> None:
    # feature_value:{feature_id}:{entity_id}: feature ids are global (a feature belongs to one
    # entity), so the entity argument does not namespace values (SQLite's rows do).
    await store.write("customer", [ow("amount", ["1"], [T0], [1.0])])
    assert (await store.read("merchant", ["1"], ["amount"]))[0][0][1] == 1.0


def _all_masters(raw: Any) -> dict[str, Any]:
    from redis.cluster import RedisCluster

    return {"target_nodes": RedisCluster.PRIMARIES} if isinstance(raw, RedisCluster) else {}


def now_us() -> int:
    return time.time_ns() // 1_000


async def test_ttl_expires_the_key_at_event_time_plus_ttl(store: RedisOnlineStore) -> None:
    # Event time 30 s ago with a TTL of 60 s: the key expires ~30 s from now (event time +
    # TTL), not 60 s from now (write time + TTL).
    event = now_us() - 30_000_000
    await store.write("customer", [ow("amount", ["c1", "c2"], [event, event], [1.0, 2.0], ttl=60)])
    await store.write("customer", [ow("count", ["c1"], [T0], [5])])  # no TTL
    key = f"{store.prefix}feature_value:amount:c1"
    raw = raw_client(store.url)
    try:
        expected_ms = event // 1000 + 60_000
        assert raw.execute_command("PEXPIRETIME", key) == expected_ms
        assert 25_000 < raw.pttl(key) <= 30_000
        assert raw.pttl(f"{store.prefix}feature_value:count:c1") == -1  # no TTL: no expiry
        # an identical re-write without a TTL (a feature whose TTL was removed) clears it
        assert await store.write("customer", [ow("amount", ["c2"], [event], [2.0])]) == 0
        assert raw.pttl(f"{store.prefix}feature_value:amount:c2") == -1
        # last write wins still holds: an older event is refused, a newer one moves the expiry
        assert await store.write("customer", [ow("amount", ["c1"], [event - 1], [9.0], ttl=60)]) == 0
        assert raw.execute_command("PEXPIRETIME", key) == expected_ms
        newer = event + 10_000_000
        assert await store.write("customer", [ow("amount", ["c1"], [newer], [3.0], ttl=60)]) == 1
        assert raw.execute_command("PEXPIRETIME", key) == newer // 1000 + 60_000
    finally:
        raw.close()
    assert (await read_one(store, "c1", "amount"))[1] == 3.0
    assert (await read_one(store, "c1", "count"))[1] == 5


async def test_a_key_expires_when_its_event_time_plus_ttl_passes(store: RedisOnlineStore) -> None:
    raw = raw_client(store.url)  # before the write: a cluster client's setup eats the 0.5 s under load
    raw.ping()
    event = now_us() - 500_000  # half a second ago, TTL 1 s: gone ~0.5 s from now
    await store.write("customer", [ow("amount", ["c1"], [event], [1.0], ttl=1)])
    key = f"{store.prefix}feature_value:amount:c1"
    try:
        assert 0 < raw.pttl(key) <= 500
        for _ in range(100):
            if not raw.exists(key):
                break
            await asyncio.sleep(0.05)
        assert not raw.exists(key)
    finally:
        raw.close()
    assert await read_one(store, "c1", "amount") is None
    # a record already expired at write time (sent by a caller that did not filter it) is
    # never readable, and an expired value no longer blocks an older event
    assert await store.write("customer", [ow("amount", ["c2"], [T0], [4.0], ttl=1)]) == 1
    assert await read_one(store, "c2", "amount") is None
    assert await store.write("customer", [ow("amount", ["c1"], [now_us()], [3.0], ttl=60)]) == 1
    assert (await read_one(store, "c1", "amount"))[1] == 3.0


async def test_event_times_compare_exactly(store: RedisOnlineStore) -> None:
    big = 2**53  # a Lua number (a double) cannot tell big from big + 1
    cases = [
        ("a", [big + 1, big, big + 2], [big + 2]),
        ("b", [-5, -10, -3, -4], [-3]),
        ("c", [-1, 0, -2], [0]),
        ("d", [9, 10, 99, 100, 11], [100]),
        ("e", [2**63 - 1, 2**63 - 2], [2**63 - 1]),
        ("f", [-(2**63), -(2**63) + 1], [-(2**63) + 1]),
    ]
    for eid, times, (newest,) in cases:
        for i, ts in enumerate(times):  # one write per call: the server decides
            await store.write("customer", [ow("t", [eid], [ts], [i])])
        record = await read_one(store, eid, "t")
        assert record[0] == newest, (eid, record)
        assert record[1] == times.index(newest)


async def test_concurrent_writers_never_leave_an_older_value(store: RedisOnlineStore) -> None:
    ids = [f"c{i}" for i in range(40)]
    other = create_online_store(store.url)  # a second client (its own connections)
    await other.open()
    rng = random.Random(7)
    # every task writes every id with its own shuffled event times, newest and oldest mixed
    plans = []
    for task in range(60):
        rounds = [[T0 + rng.randrange(1_000) for _ in ids] for _ in range(5)]
        plans.append((task, rounds))
    newest = [max(r[i] for _, rounds in plans for r in rounds) for i in range(len(ids))]

    async def writer(task: int, rounds: list[list[int]]) -> None:
        client = store if task % 2 else other
        for r, ts in enumerate(rounds):
            await client.write("customer", [ow("f", ids, ts, [[task, r, t] for t in ts])])
            await asyncio.sleep(0)

    try:
        await asyncio.gather(*(writer(task, rounds) for task, rounds in plans))
    finally:
        await other.close()
    rows = await store.read("customer", ids, ["f"])
    for i, row in enumerate(rows):
        ts, value = row[0][0], row[0][1]
        assert ts == newest[i], (ids[i], ts, newest[i])
        assert value[2] == ts  # the value written with that event time


async def test_many_keys_span_several_script_calls_and_round_trips(store: RedisOnlineStore) -> None:
    ids = [f"e{i}" for i in range(25_000)]
    assert await store.write("customer", [ow("f", ids, list(range(25_000)), list(range(25_000)))]) == 25_000
    # half the ids newer, half older than stored: only the newer apply
    ts = [i + 1 if i % 2 else i - 1 for i in range(25_000)]
    assert await store.write("customer", [ow("f", ids, ts, [-1] * 25_000)]) == 12_500
    rows = await store.read("customer", ids, ["f"])
    assert [row[0][1] for row in rows] == [-1 if i % 2 else i for i in range(25_000)]
    await store.delete_feature("customer", "f")
    assert (await store.read("customer", ids[:3], ["f"])) == [[None]] * 3


async def test_empty_writes_apply_nothing(store: RedisOnlineStore) -> None:
    assert await store.write("customer", []) == 0
    assert await store.write("customer", [ow("f", [], [], [])]) == 0
    assert await store.write("customer", [ow("f", [], [], []), ow("f", ["c1"], [T0], [1])]) == 1


async def test_many_concurrent_callers_wait_for_a_connection(store: RedisOnlineStore) -> None:
    await store.write("customer", [ow("f", ["c1"], [T0], [1])])
    results = await asyncio.gather(*(store.read("customer", ["c1"], ["f"]) for _ in range(300)))
    assert all(r[0][0][1] == 1 for r in results)


async def test_ping(store: RedisOnlineStore) -> None:
    info = await store.ping()
    assert info["backend"] == "redis"
    assert info["version"].split(".")[0].isdigit()
    assert info["mode"] == ("cluster" if store.cluster else "standalone")


async def test_delete_prefix_needs_a_prefix(redis_url: str) -> None:
    s = RedisOnlineStore(redis_url)
    await s.open()
    try:
        with pytest.raises(ConfigurationError):
            await s.delete_prefix()
    finally:
        await s.close()


# -- cluster: the slot-by-slot paths --------------------------------------------------------------


@pytest.fixture
async def cluster_store(redis_cluster: str) -> AsyncIterator[RedisOnlineStore]:
    prefix = f"fstore-test-{uuid.uuid4().hex[:12]}:"
    s = RedisOnlineStore(with_prefix(redis_cluster, prefix))
    await s.open()
    try:
        yield s
    finally:
        await s.close()
        delete_prefix(redis_cluster, prefix)


async def _check_last_write_wins(s: RedisOnlineStore) -> None:
    ids = [f"c{i}" for i in range(300)]
    assert await s.write("customer", [ow("f", ids, [T0 + 10] * 300, [1] * 300)]) == 300
    ts = [T0 + 20 if i % 3 == 0 else T0 + 10 if i % 3 == 1 else T0 for i in range(300)]
    assert await s.write("customer", [ow("f", ids, ts, [2] * 300)]) == 200
    rows = await s.read("customer", ["missing", *ids], ["f", "g"])
    assert rows[0] == [None, None]
    assert [row[0][1] for row in rows[1:]] == [2 if i % 3 != 2 else 1 for i in range(300)]
    assert all(row[1] is None for row in rows)


async def test_cluster_without_node_scripts_goes_slot_by_slot(cluster_store: RedisOnlineStore) -> None:
    cluster_store._node_scripts = False  # as on a cluster older than Redis 7.0
    await _check_last_write_wins(cluster_store)


async def test_cluster_calls_a_node_refuses_are_redone_slot_by_slot(
    cluster_store: RedisOnlineStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stale slot map: every key is sent to the node of the first key. The node refuses the
    # keys it does not serve (nothing written for them); they are written slot by slot.
    monkeypatch.setattr(cluster_store, "_nodes", lambda client, keys: {"stale": list(range(len(keys)))})
    await _check_last_write_wins(cluster_store)


async def test_cluster_reloads_scripts_it_lost(cluster_store: RedisOnlineStore) -> None:
    raw = raw_client(cluster_store.url)
    try:
        from redis.cluster import RedisCluster

        raw.execute_command("SCRIPT FLUSH", target_nodes=RedisCluster.ALL_NODES)
    finally:
        raw.close()
    await _check_last_write_wins(cluster_store)


# -- an unreachable or lost server ----------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "?cluster=true"], ids=["redis", "redis-cluster"])
async def test_unreachable_redis_fails_fast(query: str) -> None:
    port = free_port()  # nothing listens there
    store = create_online_store(f"redis://:secret@127.0.0.1:{port}/0{query}")
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as info:
        await store.open()
    assert time.monotonic() - started < 3
    assert info.value.details["store"] == "redis online"
    assert f"127.0.0.1:{port}" in info.value.message
    assert "secret" not in info.value.message
    with pytest.raises(StoreUnavailableError):  # not open: no hang, no AttributeError
        await store.read("customer", ["c1"], ["amount"])


async def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as listener:  # accepts connections, never replies
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        port = listener.getsockname()[1]
        store = RedisOnlineStore(f"redis://127.0.0.1:{port}/0?socket_timeout=0.5&socket_connect_timeout=0.5")
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError):
            await store.open()
        assert time.monotonic() - started < 3


async def test_lost_server_fails_fast_then_recovers() -> None:
    with throwaway_redis() as server:
        store = RedisOnlineStore(server.url)
        await store.open()
        try:
            await store.write("customer", [ow("f", ["c1"], [T0], [1])])
            server.stop()
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError) as info:
                await store.read("customer", ["c1"], ["f"])
            assert time.monotonic() - started < 3
            assert f"127.0.0.1:{server.port}" in info.value.message
            with pytest.raises(StoreUnavailableError):
                await store.write("customer", [ow("f", ["c1"], [T0 + 1], [2])])
            server.start()  # empty again, and without the script: it is loaded on NOSCRIPT
            assert await store.read("customer", ["c1"], ["f"]) == [[None]]
            assert await store.write("customer", [ow("f", ["c1"], [T0 + 1], [2])]) == 1
            assert await store.write("customer", [ow("f", ["c1", "c2"], [T0, T0], [3, 3])]) == 1
            assert [r[0][1] for r in await store.read("customer", ["c1", "c2"], ["f"])] == [2, 3]
        finally:
            await store.close()
