"""The need to repair the online copy is kept in the offline store (the repair ledger), not in
one process's memory: whichever process next reaches the online store repairs it.

Real processes throughout: ``fstore`` CLI commands write while a throwaway Redis is down and
exit; Redis comes back with its old (now stale) values (it persists them: append-only file);
a new process, and a long-running store that was idle meanwhile, must then serve — and leave
in Redis — the values written during the outage. A writer killed between its offline commit
and its online write must not leave the online copy stale either.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fstore import FeatureStore
from fstore.backends import create_online_store
from fstore.models import Entity, Feature
from server_postgres import drop_schema
from server_redis import throwaway_redis

T0 = datetime(2025, 1, 1, tzinfo=UTC)
RETRY = 0.5  # online_retry_seconds of every store here


def at(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=120, check=False)


def fstore(home: Path, online_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """A real ``fstore`` CLI process on ``home`` with Redis at ``online_url``."""
    env = {
        **os.environ,
        "FSTORE_HOME": str(home),
        "FSTORE_ONLINE_URL": online_url,
        "FSTORE_ONLINE_RETRY_SECONDS": str(RETRY),
    }
    return run(sys.executable, "-m", "fstore.cli", *args, env=env)


async def in_redis(url: str, entity_ids: list[str]) -> list[Any]:
    """The raw values Redis holds for ``amount`` (a fresh client: no guard, no repair)."""
    online = create_online_store(url)
    await online.open()
    try:
        rows = await online.read("customer", entity_ids, ["amount"])
    finally:
        await online.close()
    return [None if row[0] is None else row[0][1] for row in rows]


async def test_a_cli_writing_during_a_redis_outage_leaves_no_stale_value(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with throwaway_redis("--appendonly", "yes") as server:  # Redis keeps its data across restarts
        url = f"{server.url}?socket_timeout=0.5"
        idle = FeatureStore(home=home, online_url=url, online_retry_seconds=RETRY)  # e.g. an API server
        await idle.open()
        try:
            await idle.create_entity(Entity(name="customer", join_key="customer_id"))
            await idle.create_feature(Feature(name="amount", entity="customer"))
            await idle.store_feature_values(
                "amount",
                [
                    {"entity_id": "c1", "value": 1.0, "event_timestamp": at(1)},
                    {"entity_id": "c2", "value": 10.0, "event_timestamp": at(1)},
                ],
            )
            assert (await idle.get_feature_value("amount", "c1")).value == 1.0  # type: ignore[union-attr]

            # 1. an idle long-running store learns of the outage writes from the ledger
            server.stop()
            put = fstore(home, url, "values", "put", "amount", "c1", "2.0", "--at", at(2).isoformat())
            assert put.returncode == 0, put.stderr  # durable offline: success, not a 503
            standing = [e.feature_id for e in await idle.offline.online_repairs() if not e.call]
            assert standing == [(await idle.get_feature("amount")).id]
            server.start()
            back = time.monotonic()
            assert await in_redis(url, ["c1"]) == [1.0]  # the stale value came back with Redis
            deadline = back + RETRY
            while await in_redis(url, ["c1"]) != [2.0]:
                assert time.monotonic() < deadline, "the idle store did not repair Redis in time"
                got = await idle.get_feature_value("amount", "c1")  # the read path checks the ledger
                await asyncio.sleep(0.05)
            assert got is not None and idle.metrics.online_repairs >= 1
            assert (await idle.get_feature_value("amount", "c1")).value == 2.0  # type: ignore[union-attr]
            assert await idle.offline.online_repairs() == []  # the repair removed its entry

            # 2. a new process repairs at open (the idle store stays idle this time)
            server.stop()
            put = fstore(home, url, "values", "put", "amount", "c1", "3.0", "--at", at(3).isoformat())
            assert put.returncode == 0, put.stderr
            csv = tmp_path / "late.csv"
            csv.write_text(f"customer_id,event_timestamp,amount\nc2,{at(3).isoformat()},30.0\n")
            ingest = fstore(home, url, "ingest", str(csv))
            assert ingest.returncode == 0, ingest.stderr
            server.start()
            assert await in_redis(url, ["c1", "c2"]) == [2.0, 10.0]  # stale
            get = fstore(home, url, "values", "get", "amount", "c2", "--json")
            assert get.returncode == 0, get.stderr
            assert '"value":30.0' in get.stdout.replace(" ", "")
            assert await in_redis(url, ["c1", "c2"]) == [3.0, 30.0], "the reader repaired Redis"
            assert await idle.offline.online_repairs() == []
        finally:
            await idle.close()


KILLED_WRITER = """
import asyncio, os, sys

from fstore import FeatureStore


async def main(home: str, offline_url: str = "") -> None:
    store = FeatureStore(home=home, **({"offline_url": offline_url} if offline_url else {}))
    await store.open()

    async def killed(*args: object) -> None:  # dies after its offline commit, before writing online
        os._exit(9)

    store.online.write = killed
    await store.store_feature_value("amount", "c1", 2.0, "2025-01-01T02:00:00+00:00")


asyncio.run(main(*sys.argv[1:]))
"""


@pytest.fixture(params=["embedded", "postgres"])
def offline_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The offline store of the test: "" (embedded) or a fresh schema in PostgreSQL."""
    if request.param == "embedded":
        yield ""
        return
    url = request.getfixturevalue("postgres_url")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield f"{url}?schema={schema}"
    drop_schema(url, schema)


async def test_a_writer_killed_between_offline_and_online_leaves_no_stale_value(
    tmp_path: Path, offline_url: str
) -> None:
    home = tmp_path / "home"
    # embedded online store; no retry delay: finished calls leave the ledger at once, and every
    # read looks at it
    options = {"offline_url": offline_url} if offline_url else {}
    async with FeatureStore(home=home, online_retry_seconds=0, **options) as store:
        store.guard.pending_grace = 1.5
        await store.create_entity(Entity(name="customer", join_key="customer_id"))
        await store.create_feature(Feature(name="amount", entity="customer"))
        await store.store_feature_value("amount", "c1", 1.0, at(1))
        assert await store.offline.online_repairs() == []  # a finished call leaves nothing
        script = tmp_path / "writer.py"
        script.write_text(KILLED_WRITER)
        proc = run(sys.executable, str(script), str(home), offline_url)
        assert proc.returncode == 9, proc.stderr
        killed_at = time.monotonic()
        assert (await store.get_feature_history("amount", "c1")).column("value").to_pylist() == [1.0, 2.0]
        (entry,) = await store.offline.online_repairs()
        assert entry.call != "" and entry.oldest_us == int(at(2).timestamp() * 1_000_000)
        online = lambda: store.online.read("customer", ["c1"], ["amount"])  # noqa: E731
        assert (await online())[0][0][1] == 1.0  # stale: the writer died before writing it

        # within the grace period the entry is its writer's (alive, as far as anyone knows)
        await asyncio.sleep(0.3)
        await store.get_feature_value("amount", "c1")
        if time.monotonic() - killed_at < 1.4:
            assert len(await store.offline.online_repairs()) == 1
        deadline = killed_at + 1.5 + 1.0
        while (await online())[0][0][1] != 2.0:
            assert time.monotonic() < deadline, "the dead writer's entry was not repaired"
            await store.get_feature_value("amount", "c1")
            await asyncio.sleep(0.05)
        assert (await store.get_feature_value("amount", "c1")).value == 2.0  # type: ignore[union-attr]
        assert await store.offline.online_repairs() == []


async def test_serving_looks_at_the_ledger_at_most_every_retry_interval(tmp_path: Path) -> None:
    async with FeatureStore(home=tmp_path / "home", online_retry_seconds=30) as store:
        await store.create_entity(Entity(name="customer", join_key="customer_id"))
        await store.create_feature(Feature(name="amount", entity="customer"))
        await store.store_feature_value("amount", "c1", 1.0, at(1))
        ops = store.metrics.operations
        looked = ops.histogram("offline", "online_repairs").count
        for _ in range(2000):
            await store.get_feature_vector(["amount"], ["c1"])
            await store.get_feature_value("amount", "c1")
        assert ops.histogram("offline", "online_repairs").count == looked  # none within 30 s
        assert ops.histogram("offline", "add_online_repairs").count == 1  # the one write call


async def test_an_online_write_alongside_a_failed_offline_write_is_settled_by_the_repeat(
    tmp_path: Path,
) -> None:
    """``online_alongside`` (the aggregation processor's writes): online is written while the
    offline write runs. When that fails, online is ahead of the history until the call is
    repeated — which its writer does (the processor retries a batch until it is stored, and a
    replay recomputes the same values); the repeat stores it and settles the ledger."""
    from fstore.errors import StoreUnavailableError

    async with FeatureStore(home=tmp_path / "home", online_retry_seconds=0) as store:
        await store.create_entity(Entity(name="customer", join_key="customer_id"))
        await store.create_feature(Feature(name="amount", entity="customer"))
        one = {"amount": [{"entity_id": "c1", "value": 1.0, "event_timestamp": at(1)}]}
        await store.store_values_of_features(one, online_alongside=True)
        assert await store.offline.online_repairs() == []  # a finished call leaves nothing
        online = lambda: store.online.read("customer", ["c1"], ["amount"])  # noqa: E731
        assert (await online())[0][0][1] == 1.0

        write = store.offline.write

        async def failing(tables: Any) -> Any:
            await asyncio.sleep(0.2)  # the online write goes first
            raise StoreUnavailableError("offline store down", store="test")

        store.offline.write = failing  # type: ignore[method-assign]
        two = {"amount": [{"entity_id": "c1", "value": 2.0, "event_timestamp": at(2)}]}
        with pytest.raises(StoreUnavailableError):
            await store.store_values_of_features(two, online_alongside=True)
        store.offline.write = write  # type: ignore[method-assign]
        assert (await online())[0][0][1] == 2.0  # ahead of the history
        assert (await store.get_feature_history("amount", "c1")).column("value").to_pylist() == [1.0]
        assert len(await store.offline.online_repairs()) == 1  # the failed call's entry stays

        result = await store.store_values_of_features(two, online_alongside=True)  # the repeat
        assert result["amount"].stored == 1
        assert (await store.get_feature_history("amount", "c1")).column("value").to_pylist() == [1.0, 2.0]
        assert (await online())[0][0][1] == 2.0
