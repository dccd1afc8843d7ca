"""The dashboard's ingestion activity comes from the offline store: what any process stored
(another SDK process, a second store object) shows, replays of stored values do not count,
and a server restart keeps it."""

from __future__ import annotations

import asyncio
import sys
import textwrap

import httpx
from api_helpers import assert_problem, make_feature

from fstore import Feature, FeatureStore
from fstore.api import create_app
from server_api import api_server

T0 = "2026-01-01T00:00:00Z"

_SDK_WRITER = """
import asyncio, sys
from fstore import Feature, FeatureStore

async def main(home):
    async with FeatureStore(home=home) as fs:
        rows = [{"entity_id": f"c{i}", "value": i, "event_timestamp": "2026-01-01"} for i in range(5)]
        assert (await fs.store_feature_values("age", rows)).stored == 5
        assert (await fs.store_feature_values("age", rows)).stored == 0  # a replay: unchanged

asyncio.run(main(sys.argv[1]))
"""


async def _sdk_in_another_process(home: str) -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", textwrap.dedent(_SDK_WRITER), home)
    assert await proc.wait() == 0


def _last_hour(base_url: str) -> int:
    overview = httpx.get(f"{base_url}/api/v1/overview", timeout=10).json()
    assert sum(m["values"] for m in overview["ingested_per_minute"]) == overview["ingested_last_hour"]
    return int(overview["ingested_last_hour"])


async def test_another_process_shows_and_a_restart_keeps_it(store: FeatureStore) -> None:
    settings = store.settings.model_copy(update={"dev_mode": True, "auth_disabled": True})
    app = create_app(store, settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        await make_feature(client, "age")
        await _sdk_in_another_process(str(settings.home))
        assert (await client.get("/api/v1/overview")).json()["ingested_last_hour"] == 5
    await store.close()  # the server restarts: a new process's store, nothing kept in memory
    for _ in range(2):
        with api_server(settings) as url:
            assert await asyncio.to_thread(_last_hour, url) == 5
    await store.open()  # the fixture closes it


async def test_a_feature_has_its_activity(client: httpx.AsyncClient) -> None:
    await make_feature(client, "age")
    await make_feature(client, "score")
    rows = [{"entity_id": f"c{i}", "value": i, "event_timestamp": T0} for i in range(4)]
    await client.post("/api/v1/features/age/values/batch", json={"values": rows})
    await client.post("/api/v1/features/score/values/batch", json={"values": rows[:1]})
    hour = (await client.get("/api/v1/features/age/ingestion", params={"hours": 1})).json()
    assert hour["feature"] == "age" and hour["period_minutes"] == 1 and hour["total"] == 4
    assert len(hour["periods"]) == 60 and hour["periods"][-1]["values"] == 4
    day = (await client.get("/api/v1/features/age/ingestion")).json()  # 24 hours by default
    assert day["period_minutes"] == 24 and len(day["periods"]) == 60 and day["total"] == 4
    assert (await client.get("/api/v1/overview")).json()["ingested_last_hour"] == 5
    assert_problem(await client.get("/api/v1/features/ghost/ingestion"), 404)
    assert_problem(await client.get("/api/v1/features/age/ingestion", params={"hours": 0}), 422)
    assert_problem(await client.get("/api/v1/features/age/ingestion", params={"hours": 721}), 422)


async def test_a_second_store_object_shows_on_the_production_stores(production_store: FeatureStore) -> None:
    settings = production_store.settings.model_copy(update={"dev_mode": True, "auth_disabled": True})
    app = create_app(production_store, settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        await make_feature(client, "age")
        rows = [{"entity_id": f"c{i}", "value": i, "event_timestamp": T0} for i in range(7)]
        async with FeatureStore(settings) as other:  # another API replica, the CLI, a processor
            await asyncio.gather(
                other.store_feature_values("age", rows[:3]), other.store_feature_values("age", rows[3:])
            )
            await other.store_feature_values("age", rows)  # replays: not counted
        overview = (await client.get("/api/v1/overview")).json()
        assert overview["ingested_last_hour"] == 7
        found = (await client.get("/api/v1/features/age/ingestion", params={"hours": 2})).json()
        assert found["total"] == 7 and found["period_minutes"] == 2


async def test_concurrent_calls_of_one_process_are_all_counted(store: FeatureStore) -> None:
    await store.create_feature(Feature(name="age", entity="customer"))
    writes = (store.store_feature_value("age", f"c{i}", i, T0) for i in range(40))
    await asyncio.gather(*writes)  # calls that end while a flush runs go into the next one
    await store.store_feature_value("age", "c0", 0, T0)  # a replay: nothing new
    assert sum(n for _, n in await store.ingestion_activity("age")) == 40
    assert sum(n for _, n in await store.ingestion_activity(minutes=1)) == 40
