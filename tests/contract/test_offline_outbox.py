"""The event outbox every offline store keeps (PostgreSQL table; SQLite file embedded): durable,
shared by every process, and each entry held by one publisher at a time (claims and leases)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from fstore.backends import create_offline_store
from fstore.backends.offline.base import OfflineStore, OutboxEntry
from fstore.errors import ValidationError

HOUR_US = 3_600_000_000


def entry(call: str, feature: str = "amount", held_us: int = 0) -> OutboxEntry:
    now = time.time_ns() // 1000
    return OutboxEntry(
        call, feature, feature, "customer", now, 10, 20, "sdk", now + held_us if held_us else 0, 7, now
    )


def keys(entries: list[OutboxEntry]) -> list[tuple[str, str]]:
    return [(e.call, e.feature_id) for e in entries]


async def test_free_entries_are_claimed_once_oldest_first(offline: OfflineStore) -> None:
    assert await offline.claim_outbox(10, HOUR_US) == []
    assert await offline.outbox_backlog() == 0
    await offline.add_outbox([entry("c1"), entry("c1", "count")])
    await offline.add_outbox([entry("c2")])
    await offline.add_outbox([entry("c3", held_us=HOUR_US)])  # its writer holds it
    first = await offline.claim_outbox(2, HOUR_US)
    assert keys(first) == [("c1", "amount"), ("c1", "count")]
    assert {e.stamp for e in first} != {7}  # a claim changes the stamp
    assert all(e.claimed_until_us > time.time_ns() // 1000 for e in first)
    second = await offline.claim_outbox(10, HOUR_US)
    assert keys(second) == [("c2", "amount")]
    assert await offline.claim_outbox(10, HOUR_US) == []  # every entry is held
    assert await offline.outbox_backlog() == 4
    got = second[0]
    assert (got.feature, got.entity, got.source, got.start_us, got.end_us) == (
        "amount",
        "customer",
        "sdk",
        10,
        20,
    )


async def test_release_and_removal_take_only_what_the_caller_holds(offline: OfflineStore) -> None:
    await offline.add_outbox([entry("c1"), entry("c2")])
    claimed = await offline.claim_outbox(10, 1)  # a lease of 1 µs: expired at once
    again = await offline.claim_outbox(10, HOUR_US)  # another publisher takes them over
    assert keys(again) == keys(claimed)
    await offline.remove_outbox(claimed)  # stale stamps: nothing removed
    await offline.release_outbox(claimed)
    assert await offline.outbox_backlog() == 2
    assert await offline.claim_outbox(10, HOUR_US) == []  # still held by the second
    await offline.release_outbox(again[:1])  # free at once
    await offline.release_outbox(again[1:], after_us=HOUR_US)  # free in an hour
    retaken = await offline.claim_outbox(10, HOUR_US)
    assert keys(retaken) == keys(again[:1])
    await offline.remove_outbox(retaken)
    await offline.remove_outbox([])
    assert await offline.outbox_backlog() == 1


async def test_the_outbox_is_validated(offline: OfflineStore) -> None:
    for bad in (
        entry(""),
        entry("c", ""),
        replace(entry("c"), source="a\x00"),
        replace(entry("c"), start_us=30),
    ):
        with pytest.raises(ValidationError):
            await offline.add_outbox([bad])
    await offline.add_outbox([])
    assert await offline.outbox_backlog() == 0


async def test_concurrent_publishers_split_the_outbox(offline: OfflineStore) -> None:
    await offline.add_outbox([entry(f"c{i}") for i in range(40)])
    other = create_offline_store(offline.url)  # another client: as another process has
    await other.open()
    try:
        claims = await asyncio.gather(*(store.claim_outbox(5, HOUR_US) for store in [offline, other] * 6))
    finally:
        await other.close()
    taken = [k for claim in claims for k in keys(claim)]
    assert len(taken) == len(set(taken)) == 40  # none claimed twice
    await offline.close()
    again = create_offline_store(offline.url)  # durable
    await again.open()
    try:
        assert await again.outbox_backlog() == 40
    finally:
        await again.close()
    await offline.open()  # the fixture closes it
