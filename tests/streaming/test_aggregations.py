"""Real-time aggregations: the stream's results equal pandas over the same events (late and
out-of-order ones included), for every function and window kind; backfill equals stream;
state survives a restart and a replay counts nothing twice."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow as pa
import pytest
from aggregation_reference import (
    FUNCTIONS,
    TOPIC,
    WINDOWS,
    assert_same,
    definition,
    expected,
    make_events,
    micro_batches,
    records,
    stored,
)

from fstore import FeatureStore
from fstore.errors import StoreUnavailableError, ValidationError
from fstore.models import Feature
from fstore.streaming import aggregator
from fstore.streaming.aggregations import AggregationHandler, backfill
from fstore.streaming.handlers import Record
from fstore.streaming.window_state import WindowStateConflict
from fstore.streaming.window_state_sqlite import SqliteWindowState

CASES = [(f, w) for w in WINDOWS for f in FUNCTIONS]


@pytest.mark.parametrize(("function", "window"), CASES)
async def test_the_stream_equals_pandas_and_the_backfill_equals_the_stream(
    store: FeatureStore, tmp_path: Path, function: str, window: str
) -> None:
    events = make_events()
    await store.create_feature(definition("streamed", function, window))
    await store.create_feature(definition("backfilled", function, window))
    want = expected(events, function, window)
    assert len(want) > 50

    handler = await AggregationHandler.open(store, tmp_path / "state.sqlite")
    # the handler takes the source topic of every aggregation; "backfilled" shares it, so
    # give it a private copy of the stream's definition only
    handler.engine.aggregators = [a for a in handler.engine.aggregators if a.feature == "streamed"]
    assert list(handler.topics) == [TOPIC]
    for batch in micro_batches(records(events)):
        assert await handler.handle(batch) == []
    assert_same(await stored(store, "streamed"), want)
    assert handler.engine.dropped()["streamed"] > 0  # some events were later than the lateness

    read, refused, dropped = await backfill(store, "backfilled", events, batch_size=97)
    assert (read, refused, dropped) == (len(events), 0, handler.engine.dropped()["streamed"])
    assert_same(await stored(store, "backfilled"), want)


async def test_online_serves_the_current_window(store: FeatureStore, tmp_path: Path) -> None:
    events = make_events(n=200)
    await store.create_feature(definition("txn_count", "count", "tumbling"))
    handler = await AggregationHandler.open(store, tmp_path / "state.sqlite")
    await handler.handle(records(events))
    want = expected(events, "count", "tumbling")
    for entity, rows in want.groupby("entity_id"):
        latest = rows.sort_values("end").iloc[-1]
        served = await store.get_feature_value("txn_count", entity)
        assert served is not None
        assert served.value == latest["value"]
        assert int(served.event_timestamp.timestamp() * 1000) == latest["end"]


async def test_a_deleted_aggregation_s_windows_go_with_it(store: FeatureStore) -> None:
    await store.create_feature(definition("txn_count", "count", "tumbling"))
    first = await AggregationHandler.open(store)  # the store's own window state
    await first.handle(records(make_events(n=200)))
    await store.delete_feature("txn_count")
    await store.create_feature(definition("txn_count", "count", "tumbling"))
    later = make_events(n=200, seed=3)  # the same windows, other events
    again = await AggregationHandler.open(store)
    await again.handle(records(later, first_offset=1_000))
    assert_same(await stored(store, "txn_count"), expected(later, "count", "tumbling"))


@pytest.mark.parametrize("snapshot_rows", [50_000, 40])
async def test_state_survives_a_restart(
    store: FeatureStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snapshot_rows: int
) -> None:
    """With the state log compacted often (40 rows) or not at all in this test (50,000)."""
    monkeypatch.setattr(aggregator, "SNAPSHOT_MIN_ROWS", snapshot_rows)
    events = make_events(seed=11)
    await store.create_feature(definition("amount_sum", "sum", "hopping"))
    await store.create_feature(definition("amount_kinds", "distinct_count", "sliding"))
    batches = micro_batches(records(events), seed=5)
    half = len(batches) // 2
    first = await AggregationHandler.open(store, tmp_path / "state.sqlite")
    for batch in batches[:half]:
        await first.handle(batch)
    await first.engine.state.close()

    second = await AggregationHandler.open(store, tmp_path / "state.sqlite")
    for batch in batches[half:]:
        await second.handle(batch)
    assert_same(await stored(store, "amount_sum"), expected(events, "sum", "hopping"))
    assert_same(await stored(store, "amount_kinds"), expected(events, "distinct_count", "sliding"))
    if snapshot_rows < 100:  # compacted: closed windows were forgotten, the log holds a snapshot
        rows = second.engine.state._db.execute(
            "SELECT key, MIN(seq), MIN(CASE WHEN snapshot = 1 THEN seq END), SUM(snapshot)"
            " FROM window_log GROUP BY key"
        ).fetchall()
        assert len(rows) == 2
        assert all(first == snap and n == 1 for _, first, snap, n in rows), rows  # older entries deleted
        kinds = {"amount_sum": "hopping", "amount_kinds": "sliding"}
        for agg in second.engine.aggregators:
            (blob,) = second.engine.state._db.execute(
                "SELECT windows FROM window_log WHERE key = ? AND snapshot = 1", (agg.key,)
            ).fetchone()
            kept = pa.ipc.open_stream(blob).read_all().num_rows
            assert 0 < kept < len(expected(events, "count", kinds[agg.feature])) / 4


async def test_a_replay_counts_nothing_twice(
    store: FeatureStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash after the store write but before the state commit replays the batch from the old
    state (same values: unchanged); a replay of committed records is skipped."""
    events = make_events(seed=13)
    await store.create_feature(definition("txn_count", "count", "hopping"))
    batches = micro_batches(records(events), seed=9)
    handler = await AggregationHandler.open(store, tmp_path / "state.sqlite")
    half = len(batches) // 2
    for batch in batches[:half]:
        await handler.handle(batch)

    crash = RuntimeError("killed between the store write and the state commit")

    async def fail(*_: object) -> None:
        raise crash

    with monkeypatch.context() as patch:
        patch.setattr(SqliteWindowState, "commit", fail)
        with pytest.raises(RuntimeError):
            await handler.handle(batches[half])
    written = len(await store.get_feature_history("txn_count", include_superseded=True))
    restarted = await AggregationHandler.open(store, tmp_path / "state.sqlite")
    await restarted.handle(batches[half])  # the replay: same values as the crashed attempt
    assert len(await store.get_feature_history("txn_count", include_superseded=True)) == written
    for batch in batches[: half + 1]:  # committed, then replayed by Kafka: skipped
        await restarted.handle(batch)
    for batch in batches[half + 1 :]:
        await restarted.handle(batch)
    assert_same(await stored(store, "txn_count"), expected(events, "count", "hopping"))


async def test_bad_events_are_refused_and_the_rest_aggregated(store: FeatureStore, tmp_path: Path) -> None:
    await store.create_feature(definition("amount_max", "max", "tumbling"))
    handler = await AggregationHandler.open(store, tmp_path / "state.sqlite")
    good = {"customer": "c1", "ts": "2026-01-01T00:00:30Z", "amount": 4.5}
    values = [
        orjson.dumps(good),
        b"not json",
        orjson.dumps([1, 2]),
        orjson.dumps({**good, "customer": None}),
        orjson.dumps({**good, "ts": "yesterday"}),
        orjson.dumps({**good, "amount": "lots"}),
        orjson.dumps({**good, "customer": 7, "amount": 2}),
    ]
    batch = [Record(TOPIC, 0, i, None, v, 0) for i, v in enumerate(values)]
    refused = await handler.handle(batch)
    assert [d.record.offset for d in refused] == [1, 2, 3, 4, 5]
    assert "entity id" in refused[2].reason and "event time" in refused[3].reason
    got = await stored(store, "amount_max")
    assert got["entity_id"].tolist() == ["7", "c1"]
    assert got["value"].tolist() == [2.0, 4.5]


async def test_a_changed_window_is_a_new_major_version(store: FeatureStore) -> None:
    await store.create_feature(definition("txn_count", "count", "tumbling"))
    spec = definition("txn_count", "count", "tumbling")["aggregation"]
    await store.update_feature("txn_count", {"aggregation": {**spec, "allowed_lateness_seconds": 60}})
    assert (await store.registry.get_feature("txn_count")).current_version == "1.1.0"
    await store.update_feature("txn_count", {"aggregation": {**spec, "size_seconds": 3600}})
    assert (await store.registry.get_feature("txn_count")).current_version == "2.0.0"
    await store.update_feature("txn_count", {"aggregation": None})
    assert (await store.registry.get_feature("txn_count")).current_version == "3.0.0"


def test_a_definition_is_checked() -> None:
    from fstore.streaming.spec import AggregationSpec

    with pytest.raises(ValueError, match="value_field"):
        AggregationSpec(source_topic="t", entity_field="c", function="sum", size_seconds=60)
    with pytest.raises(ValueError, match="dtype 'float'"):
        Feature.model_validate({**definition("f", "sum", "tumbling"), "dtype": "int"})
    with pytest.raises(ValueError, match="step"):
        AggregationSpec(
            source_topic="t", entity_field="c", function="count", window="hopping", size_seconds=60
        )


async def test_backfill_refuses_a_feature_that_is_not_an_aggregation(store: FeatureStore) -> None:
    await store.create_feature({"name": "plain", "entity": "customer"})
    with pytest.raises(ValidationError):
        await backfill(store, "plain", make_events(n=5))


async def test_positions_are_committed_with_a_compare_and_set(tmp_path: Path) -> None:
    state = SqliteWindowState(tmp_path / "s.sqlite")
    await state.commit([], {("t", 0): 41, ("t", 1): 7}, {("t", 0): None, ("t", 1): None})
    other = SqliteWindowState(tmp_path / "s.sqlite")
    assert await other.positions() == {("t", 0): 41, ("t", 1): 7}
    await other.commit([], {("t", 0): 50}, {("t", 0): 41})
    with pytest.raises(WindowStateConflict) as caught:  # "state" still believes 41
        await state.commit([], {("t", 0): 60, ("t", 1): 9}, {("t", 0): 41, ("t", 1): 7})
    assert caught.value.partitions == [("t", 0)]
    assert await state.positions() == {("t", 0): 50, ("t", 1): 7}  # nothing of it committed


async def test_a_store_outage_stores_and_commits_nothing_and_the_retry_is_exact(
    store: FeatureStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The processor retries a batch whose handler raised StoreUnavailableError."""
    events = make_events(seed=23)
    await store.create_feature(definition("amount_mean", "mean", "hopping"))
    batches = micro_batches(records(events), seed=4)
    handler = await AggregationHandler.open(store, tmp_path / "state.sqlite")
    await handler.handle(batches[0])
    positions = await handler.engine.state.positions()

    async def down(*_: object, **__: object) -> None:
        raise StoreUnavailableError("offline store down")

    with monkeypatch.context() as patch:
        patch.setattr(FeatureStore, "store_values_of_features", down)
        for _ in range(2):
            with pytest.raises(StoreUnavailableError):
                await handler.handle(batches[1])
    assert await handler.engine.state.positions() == positions
    for batch in batches[1:]:
        await handler.handle(batch)
    assert_same(await stored(store, "amount_mean"), expected(events, "mean", "hopping"))


async def test_last_of_a_numerical_feature_refuses_text(store: FeatureStore, tmp_path: Path) -> None:
    await store.create_feature(definition("amount_last", "last", "tumbling"))
    handler = await AggregationHandler.open(store, tmp_path / "state.sqlite")
    good = {"customer": "c1", "ts": 1_767_225_600_000, "amount": 3}
    batch = [
        Record(TOPIC, 0, 0, None, orjson.dumps(good), 0),
        Record(TOPIC, 0, 1, None, orjson.dumps({**good, "amount": "three"}), 0),
    ]
    refused = await handler.handle(batch)
    assert [(d.record.offset, "not a number" in d.reason) for d in refused] == [(1, True)]
    assert (await stored(store, "amount_last"))["value"].tolist() == [3.0]
