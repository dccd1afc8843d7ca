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


async def test_api_writes_during_an_outage_and_a_hung_repair_answer_2xx(tmp_path: Path) -> None:
    """Durable offline means acknowledged: never a 503 for a write, even one that arrives while
    another request's repair of the online store hangs on it."""
    import httpx

    from fstore.api import create_app

    with throwaway_redis() as server:
        store = await make_store(tmp_path, server.url)
        app = create_app(store, store.settings.model_copy(update={"dev_mode": True, "auth_disabled": True}))
        try:
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
            ):

                async def put(value: float, hours: int) -> int:
                    body = {"entity_id": "c1", "value": value, "event_timestamp": at(hours).isoformat()}
                    return (await client.post("/api/v1/features/amount/values", json=body)).status_code

                async def latest() -> float:
                    return (await client.get("/api/v1/features/amount/values/c1")).json()["value"]

                assert await put(1.0, 1) == 201
                assert server.proc is not None
                os.kill(server.proc.pid, signal.SIGSTOP)  # hung
                try:
                    assert await put(2.0, 2) == 201  # the circuit opens; the ledger records it
                    batch = {
                        "values": [{"entity_id": "c2", "value": 5.0, "event_timestamp": at(2).isoformat()}]
                    }
                    r = await client.post("/api/v1/features/amount/values/batch", json=batch)
                    assert r.status_code == 201
                    await asyncio.sleep(0.35)  # the circuit closes: the next read repairs, and hangs
                    reading = asyncio.create_task(latest())
                    await asyncio.sleep(0.1)
                    assert await put(3.0, 3) == 201  # meanwhile a write: still acknowledged
                    assert await reading in (2.0, 3.0)  # the repair failed: served from the offline store
                finally:
                    os.kill(server.proc.pid, signal.SIGCONT)
                await asyncio.sleep(0.4)
                assert await latest() == 3.0
                record = await store.online.read("customer", ["c1", "c2"], ["amount"])
                assert [row[0][1] for row in record] == [3.0, 5.0], "Redis was repaired"
                assert await store.offline.online_repairs() == []
        finally:
            await store.close()


async def test_a_feature_deleted_during_an_outage_leaves_no_online_values(tmp_path: Path) -> None:
    with throwaway_redis() as server:
        store = await make_store(tmp_path, server.url)
        try:
            await store.store_feature_value("amount", "c1", 9.0, at(5))
            assert server.proc is not None
            os.kill(server.proc.pid, signal.SIGSTOP)  # hung: keeps the deleted feature's values
            try:
                await store.delete_feature("amount")  # gone from registry and history: success
                await store.create_feature(Feature(name="amount", entity="customer"))  # same name again
                await store.store_feature_value("amount", "c1", 1.0, at(1))  # older than the deleted value
            finally:
                os.kill(server.proc.pid, signal.SIGCONT)
            await asyncio.sleep(0.4)
            # last write wins by event time would keep 9.0: the repair deletes it first
            assert (await store.get_feature_vector(["amount"], ["c1"])).values["amount"] == [1.0]
            assert (await store.online.read("customer", ["c1"], ["amount"]))[0][0][1] == 1.0
            assert await store.offline.online_repairs() == []
        finally:
            await store.close()
