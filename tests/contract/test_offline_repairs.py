"""The online repair ledger every offline store keeps (PostgreSQL table; SQLite file embedded):
what the online copy may lack, durable and shared by every process using the store."""

from __future__ import annotations

import asyncio
import time

import pytest

from fstore.backends import create_offline_store
from fstore.backends.offline.base import OfflineStore, RepairEntry
from fstore.errors import ValidationError


def by_key(entries: list[RepairEntry]) -> dict[tuple[str, str], int]:
    return {(e.feature_id, e.call): e.oldest_us for e in entries}


async def test_standing_entries_merge_keeping_the_oldest_time(offline: OfflineStore) -> None:
    assert await offline.online_repairs() == []
    before = time.time_ns() // 1000
    await offline.add_online_repairs({"amount": 500, "count": 7})
    await offline.add_online_repairs({"amount": 900})  # newer: the older time stays
    await offline.add_online_repairs({"amount": 100, "score": -5})  # older (and before 1970)
    entries = await offline.online_repairs()
    assert by_key(entries) == {("amount", ""): 100, ("count", ""): 7, ("score", ""): -5}
    assert all(abs(e.created_us - before) < 60_000_000 for e in entries)  # the store's clock, µs


async def test_calls_have_their_own_entries(offline: OfflineStore) -> None:
    mine = await offline.add_online_repairs({"amount": 10, "count": 20}, call="call-1")
    await offline.add_online_repairs({"amount": 5}, call="call-2")
    await offline.add_online_repairs({"amount": 50})
    assert {(e.feature_id, e.call, e.oldest_us) for e in mine} == {
        ("amount", "call-1", 10),
        ("count", "call-1", 20),
    }
    assert by_key(await offline.online_repairs()) == {
        ("amount", "call-1"): 10,
        ("count", "call-1"): 20,
        ("amount", "call-2"): 5,
        ("amount", ""): 50,
    }
    await offline.remove_online_repairs(mine)  # the call's online write succeeded
    assert by_key(await offline.online_repairs()) == {("amount", "call-2"): 5, ("amount", ""): 50}


async def test_removal_spares_entries_changed_since_they_were_read(offline: OfflineStore) -> None:
    await offline.add_online_repairs({"amount": 100, "count": 7})
    seen = await offline.online_repairs()  # a repair starts from these
    await offline.add_online_repairs({"amount": 300})  # another process merges meanwhile
    await offline.add_online_repairs({"score": 1})  # and adds a new one
    await offline.remove_online_repairs(seen)
    # "amount" kept its oldest time (100) but changed: the repair may not have covered the
    # values written meanwhile, so it survives; "count" is gone; "score" was never seen
    assert by_key(await offline.online_repairs()) == {("amount", ""): 100, ("score", ""): 1}
    await offline.remove_online_repairs(seen)  # removing again changes nothing
    await offline.remove_online_repairs([])
    await offline.remove_online_repairs(await offline.online_repairs())
    assert await offline.online_repairs() == []


async def test_the_ledger_is_validated(offline: OfflineStore) -> None:
    for bad in ({"": 1}, {"a\x00b": 1}, {"amount": 1.5}, {"amount": True}, {3: 1}):
        with pytest.raises(ValidationError):
            await offline.add_online_repairs(bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        await offline.add_online_repairs({"amount": 1}, call="a\x00")
    assert await offline.add_online_repairs({}) == []
    assert await offline.online_repairs() == []


async def test_the_ledger_is_shared_and_survives_reopening(offline: OfflineStore) -> None:
    other = create_offline_store(offline.url)  # another client: as another process has
    await other.open()
    try:
        await asyncio.gather(
            *(offline.add_online_repairs({"amount": 1000 - i}) for i in range(10)),
            *(other.add_online_repairs({"amount": 2000 + i}, call=f"c{i}") for i in range(10)),
        )
        assert by_key(await other.online_repairs()) == by_key(await offline.online_repairs())
        assert len(await other.online_repairs()) == 11
        assert by_key(await other.online_repairs())[("amount", "")] == 991
    finally:
        await other.close()
    await offline.close()
    again = create_offline_store(offline.url)
    await again.open()
    try:
        assert len(await again.online_repairs()) == 11
    finally:
        await again.close()
    await offline.open()  # the fixture closes it
