"""The ingestion activity every offline store keeps (PostgreSQL table; SQLite file embedded):
values stored per feature and minute, by every process writing the store, kept across restarts."""

from __future__ import annotations

import time

import pytest

from contract.conftest import RunProcesses
from fstore.backends import create_offline_store
from fstore.backends.offline.base import INGESTION_RETENTION_SECONDS, OfflineStore
from fstore.errors import ValidationError

MINUTE_US = 60_000_000


def minute_us(minute: int) -> int:
    """A time inside minute ``minute`` of an hour ago (µs)."""
    base = (time.time_ns() // 1000 - 3_600_000_000) // MINUTE_US * MINUTE_US
    return base + minute * MINUTE_US + 1_234


async def test_counts_add_up_per_feature_and_minute(offline: OfflineStore) -> None:
    since = minute_us(0)
    assert await offline.ingestion(since) == []
    await offline.record_ingestion({"amount": 3, "count": 2}, minute_us(0))
    await offline.record_ingestion({"amount": 4, "score": 0}, minute_us(0) + 59_000_000)  # same minute
    await offline.record_ingestion({"count": 5}, minute_us(2))
    await offline.record_ingestion({}, minute_us(3))  # nothing stored: nothing recorded
    start = since // MINUTE_US * 60
    assert await offline.ingestion(since) == [(start, 9), (start + 120, 5)]
    assert await offline.ingestion(since, "amount") == [(start, 7)]
    assert await offline.ingestion(since, "count") == [(start, 2), (start + 120, 5)]
    assert await offline.ingestion(since, "score") == []  # zero counts are not rows
    assert await offline.ingestion(minute_us(1)) == [(start + 120, 5)]  # from the minute of since_us
    await offline.record_ingestion({"amount": 1})  # now by default
    assert (await offline.ingestion(time.time_ns() // 1000 - MINUTE_US, "amount"))[-1][1] >= 1


async def test_counts_are_validated(offline: OfflineStore) -> None:
    for bad in ({"": 1}, {"a\x00b": 1}, {"amount": 1.5}, {"amount": True}, {"amount": -1}, {3: 1}):
        with pytest.raises(ValidationError):
            await offline.record_ingestion(bad)  # type: ignore[arg-type]
    assert await offline.ingestion(0) == []


async def test_old_minutes_are_pruned_now_and_then(offline: OfflineStore) -> None:
    now = time.time_ns() // 1000
    old = now - (INGESTION_RETENTION_SECONDS + 3_600) * 1_000_000
    await offline.record_ingestion({"amount": 1}, old)  # the first write prunes: gone at once
    assert await offline.ingestion(old) == []
    await offline.record_ingestion({"amount": 2}, old)  # not due again within the hour: kept
    assert [n for _, n in await offline.ingestion(old)] == [2]
    other = create_offline_store(offline.url)  # a new process prunes on its first write
    await other.open()
    try:
        await other.record_ingestion({"amount": 5}, now)
        assert [n for _, n in await offline.ingestion(old)] == [5]
    finally:
        await other.close()


async def test_concurrent_writers_in_other_processes_lose_no_count(
    offline: OfflineStore, run_processes: RunProcesses
) -> None:
    at = minute_us(5)
    code = """
    from fstore.backends import create_offline_store

    async def main(url, at):
        store = create_offline_store(url)
        await store.open()
        await start_together()
        for i in range(50):
            await store.record_ingestion({"amount": 1, "count": 2, f"f{i % 3}": 1}, int(at))
        await store.close()
    """
    await run_processes(code, [[offline.url, str(at)]] * 4)
    start = at // MINUTE_US * 60
    assert await offline.ingestion(at) == [(start, 4 * 50 * 4)]
    assert await offline.ingestion(at, "count") == [(start, 400)]
    assert await offline.ingestion(at, "f0") == [(start, 4 * 17)]
    await offline.close()
    again = create_offline_store(offline.url)  # a restart keeps them
    await again.open()
    try:
        assert await again.ingestion(at, "amount") == [(start, 200)]
    finally:
        await again.close()
    await offline.open()  # the fixture closes it


async def test_deleting_a_feature_drops_its_activity(offline: OfflineStore) -> None:
    at = minute_us(7)
    await offline.record_ingestion({"amount": 3, "count": 4}, at)
    await offline.delete_feature("amount")  # a feature created again under its id starts empty
    start = at // MINUTE_US * 60
    assert await offline.ingestion(at, "amount") == []
    assert await offline.ingestion(at) == [(start, 4)]
    await offline.delete_feature("never_written")
