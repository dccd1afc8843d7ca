"""The offline store is the source of truth: a Redis outage changes speed, never answers.

A throwaway ``redis-server`` is paused (SIGSTOP: it keeps its data but stops answering, as a
hung server does), stopped and restarted, while the store keeps serving correct values.
"""

import asyncio
import logging
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fstore import FeatureStore
from fstore.models import Entity, Feature
from server_redis import throwaway_redis

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def at(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


async def make_store(home: Path, url: str) -> FeatureStore:
    store = FeatureStore(home=home, online_url=f"{url}?socket_timeout=0.5", online_retry_seconds=0.3)
    await store.open()
    await store.create_entity(Entity(name="customer", join_key="customer_id"))
    await store.create_feature(Feature(name="amount", entity="customer"))
    return store


async def test_reads_and_writes_survive_a_hung_redis_and_it_is_repaired(tmp_path: Path, caplog) -> None:
    with throwaway_redis() as server:
        store = await make_store(tmp_path, server.url)
        try:
            await store.store_feature_value("amount", "c1", 1.0, at(1))
            assert (await store.get_feature_value("amount", "c1")).value == 1.0  # type: ignore[union-attr]
            assert store.metrics.online_read_fallbacks == 0

            assert server.proc is not None
            os.kill(server.proc.pid, signal.SIGSTOP)  # hung: keeps its (now stale) data
            try:
                with caplog.at_level(logging.WARNING):
                    started = time.monotonic()
                    await store.store_feature_value("amount", "c1", 2.0, at(2))  # lands offline
                    got = await store.get_feature_value("amount", "c1")
                    vector = await store.get_feature_vector(["amount"], ["c1", "c2"])
                    await store.create_feature(Feature(name="other", entity="customer"))  # registry works
                    elapsed = time.monotonic() - started
                assert got is not None and got.value == 2.0
                assert vector.values["amount"] == [2.0, None]
                assert elapsed < 3, "a hung Redis must not stall serving"
                assert store.metrics.online_write_failures == 1
                assert store.metrics.online_read_fallbacks >= 2
                assert any("online store unavailable" in r.message for r in caplog.records)
            finally:
                os.kill(server.proc.pid, signal.SIGCONT)

            await asyncio.sleep(0.4)  # past the retry delay: Redis is tried again, repaired first
            got = await store.get_feature_value("amount", "c1")
            assert got is not None and got.value == 2.0
            assert store.metrics.online_repairs == 1
            record = await store.online.read("customer", ["c1"], ["amount"])
            assert record[0][0][1] == 2.0, "the stale value in Redis was replaced"
        finally:
            await store.close()


async def test_redis_restarted_empty_serves_from_history(tmp_path: Path) -> None:
    with throwaway_redis() as server:
        store = await make_store(tmp_path, server.url)
        try:
            await store.store_feature_value("amount", "c1", 1.0, at(1))
            server.stop()
            await store.store_feature_value("amount", "c1", 3.0, at(3))
            await store.store_feature_value("amount", "c2", 5.0, at(1))
            assert (await store.get_feature_vector(["amount"], ["c1", "c2"])).values["amount"] == [3.0, 5.0]
            server.start()  # no persistence: Redis comes back empty
            await asyncio.sleep(0.4)
            assert (await store.get_feature_vector(["amount"], ["c1", "c2"])).values["amount"] == [3.0, 5.0]
            online = await store.online.read("customer", ["c1", "c2"], ["amount"])
            assert [row[0][1] for row in online] == [3.0, 5.0]  # repaired / read through
        finally:
            await store.close()
