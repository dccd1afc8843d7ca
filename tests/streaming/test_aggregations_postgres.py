"""Window state in the PostgreSQL offline store: processors on different hosts share it.

Two handlers over one PostgreSQL store stand for two processors of a group: partitions move
between them, a restart loads the state, a commit for a partition another processor moved
on is refused and repaired, and commits of different partitions do not wait for each other.
The results equal pandas over the same events (``aggregation_reference``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from aggregation_reference import (
    assert_same,
    definition,
    expected,
    make_events,
    micro_batches,
    records,
    stored,
)

from fstore import FeatureStore
from fstore.models import Entity
from fstore.streaming import aggregator
from fstore.streaming.aggregations import STATE_FILE, AggregationHandler
from fstore.streaming.handlers import Record
from fstore.streaming.window_state import WindowStateConflict
from fstore.streaming.window_state_postgres import PostgresWindowState
from server_postgres import drop_schema
from server_redis import delete_prefix


@pytest.fixture
async def pg_store(tmp_path: Path, postgres_url: str, redis_url: str) -> AsyncIterator[FeatureStore]:
    """PostgreSQL offline, Redis online (a schema and key prefix of its own)."""
    tag = uuid4().hex[:12]
    store = FeatureStore(
        home=tmp_path / "fs",
        offline_url=f"{postgres_url}?schema=agg_{tag}",
        online_url=f"{redis_url}?prefix=agg_{tag}:",
        actor="tester",
    )
    try:
        async with store:
            await store.create_entity(Entity(name="customer", join_key="customer_id"))
            yield store
    finally:
        drop_schema(postgres_url, f"agg_{tag}")
        delete_prefix(redis_url, f"agg_{tag}:")


def partitioned(batch: list[Record], n: int = 2) -> list[Record]:
    """The records on ``n`` partitions, keyed by customer (offsets per partition)."""
    return [
        Record(r.topic, int(r.key.decode()[1:]) % n, r.offset, r.key, r.value, r.timestamp_ms)  # type: ignore[union-attr]
        for r in batch
    ]


async def test_the_state_is_in_postgres_and_partitions_move_between_processors(
    pg_store: FeatureStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Batches alternate between two processors, each handling what the group gave it;
    compacted often (every 40 rows) so that loads start from snapshots. A processor given a
    partition back loads it before the batch (no conflict at commit)."""
    monkeypatch.setattr(aggregator, "SNAPSHOT_MIN_ROWS", 40)
    events = make_events(seed=31)
    await pg_store.create_feature(definition("amount_sum", "sum", "hopping"))
    await pg_store.create_feature(definition("amount_last", "last", "sliding"))
    one, two = [await AggregationHandler.open(pg_store) for _ in range(2)]
    assert isinstance(one.engine.state, PostgresWindowState)
    for i, batch in enumerate(micro_batches(partitioned(records(events)), seed=8)):
        # each processor owns one partition for a while, then they swap, then one has both
        owner = {0: (one, two), 1: (two, one), 2: (one, one)}[i // 4 % 3]
        for partition, handler in enumerate(owner):
            part = [r for r in batch if r.partition == partition]
            if part:
                assert await handler.handle(part) == []
    assert_same(await stored(pg_store, "amount_sum"), expected(events, "sum", "hopping"))
    assert_same(await stored(pg_store, "amount_last"), expected(events, "last", "sliding"))
    assert not (tmp_path / "fs" / STATE_FILE).exists()
    assert "changed elsewhere" not in caplog.text

    restarted = await AggregationHandler.open(pg_store)  # a new processor: the state is in the database
    assert await restarted.handle(partitioned(records(events))) == []  # all already done: skipped
    assert_same(await stored(pg_store, "amount_sum"), expected(events, "sum", "hopping"))


async def test_a_processor_that_lost_its_partition_mid_batch_commits_nothing_and_repairs_the_values(
    pg_store: FeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Processor A stores a batch's aggregates; before it commits the state, the group gave
    the partition to B, which handled the same records and more. A's commit is refused; A
    reloads and stores B's aggregates again, so the newest stored values are B's."""
    events = make_events(seed=37)
    await pg_store.create_feature(definition("txn_count", "count", "tumbling"))
    batches = micro_batches(records(events), seed=2)
    a, b = await AggregationHandler.open(pg_store), await AggregationHandler.open(pg_store)
    for batch in batches[:5]:
        await a.handle(batch)
    original = FeatureStore.store_values_of_features
    writes: list[str] = []

    async def meanwhile(self: FeatureStore, tables: dict, **options: bool) -> object:  # type: ignore[type-arg]
        writes.append("write")
        if len(writes) == 1:  # A's write; the group moves the partition to B, which handles it
            for batch in batches[5:8]:
                await b.handle(batch)
        return await original(self, tables, **options)

    with monkeypatch.context() as patch:
        patch.setattr(FeatureStore, "store_values_of_features", meanwhile)
        await a.handle(batches[5])  # stores, B runs, A's commit conflicts, A repairs, then skips
    assert len(writes) == 1 + 3 + 1  # A, B's three batches, A's repair
    last = batches[7][-1].offset
    assert await a.engine.state.positions() == {("transactions", 0): last}
    assert a.engine.known == {("transactions", 0): last}  # A's cache is B's state now
    for batch in batches[8:]:
        await b.handle(batch)
    assert_same(await stored(pg_store, "txn_count"), expected(events, "count", "tumbling"))


async def test_commits_of_different_partitions_do_not_wait_for_each_other(pg_store: FeatureStore) -> None:
    state = PostgresWindowState(pg_store.offline.database)  # type: ignore[attr-defined]
    await state.commit([], {("t", 0): 10, ("t", 1): 20}, {("t", 0): None, ("t", 1): None})
    db = pg_store.offline.database  # type: ignore[attr-defined]
    url = pg_store.settings.resolved_offline_url().split("?")[0]
    # another processor's commit of partition 0, in flight (its row lock held)
    with psycopg.connect(url) as other:
        other.execute(
            f"UPDATE {db.quoted_schema}.fstore_window_positions SET position = 11"
            " WHERE topic = 't' AND partition = 0"
        )
        await asyncio.wait_for(state.commit([], {("t", 1): 21}, {("t", 1): 20}), 5)
        waiting = asyncio.create_task(state.commit([], {("t", 0): 12}, {("t", 0): 10}))
        await asyncio.sleep(0.5)
        assert not waiting.done()  # the same partition waits for the row
        other.commit()
    with pytest.raises(WindowStateConflict) as caught:
        await asyncio.wait_for(waiting, 5)
    assert caught.value.partitions == [("t", 0)]
    assert await state.positions() == {("t", 0): 11, ("t", 1): 21}
