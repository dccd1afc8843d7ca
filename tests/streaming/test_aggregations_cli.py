"""``fstore aggregations backfill`` over a CSV or Parquet file equals the stream; from a
feature's offline history it equals pandas over those values."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pandas as pd
import pytest
from aggregation_reference import (
    as_ms,
    assert_same,
    definition,
    expected,
    make_events,
    micro_batches,
    records,
    stored,
)
from typer.testing import CliRunner

from fstore import FeatureStore
from fstore.cli import app
from fstore.models import Entity
from fstore.streaming.aggregations import AggregationHandler


def cli(home: Path, *args: str, code: int = 0) -> str:
    """stdout (stderr too when the command fails)."""
    result = CliRunner().invoke(app, ["--home", str(home), *args])
    assert result.exit_code == code, f"{result.stdout}\n{result.stderr}"
    return result.stdout if code == 0 else result.stderr


async def setup(home: Path, *features: dict) -> None:
    async with FeatureStore(home=home, actor="tester") as store:
        await store.create_entity(Entity(name="customer", join_key="customer_id"))
        for feature in features:
            await store.create_feature(feature)


async def stream(home: Path, events: pd.DataFrame) -> None:
    async with FeatureStore(home=home, actor="tester") as store:
        handler = await AggregationHandler.open(store, home / "state.sqlite")
        handler.engine.aggregators = [a for a in handler.engine.aggregators if a.feature == "streamed"]
        for batch in micro_batches(records(events)):
            await handler.handle(batch)


async def current(home: Path, feature: str) -> pd.DataFrame:
    async with FeatureStore(home=home, actor="tester") as store:
        return await stored(store, feature)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_backfill_of_a_file_equals_the_stream(tmp_path: Path, kind: str) -> None:
    home = tmp_path / "fstore"
    events = make_events(seed=21)
    events["ts"] = pd.to_datetime(
        [as_ms(t) for t in events["ts"]], unit="ms", utc=True
    )  # one format per column
    asyncio.run(
        setup(home, definition("streamed", "mean", "hopping"), definition("backfilled", "mean", "hopping"))
    )
    asyncio.run(stream(home, events.assign(ts=events["ts"].map(lambda t: t.isoformat()))))
    path = tmp_path / f"events.{kind}"
    if kind == "csv":
        events.to_csv(path, index=False)
    else:
        events.to_parquet(path, index=False)
    out = json.loads(
        cli(home, "aggregations", "backfill", "backfilled", str(path), "--batch-size", "50", "--json")
    )
    assert out["events"] == len(events) and out["refused"] == 0 and out["late_updates_dropped"] > 0
    want = expected(events.assign(ts=[int(t.timestamp() * 1000) for t in events["ts"]]), "mean", "hopping")
    assert_same(asyncio.run(current(home, "streamed")), want)
    assert_same(asyncio.run(current(home, "backfilled")), want)
    listed = json.loads(cli(home, "aggregations", "list", "--json"))
    assert [r["feature"] for r in listed] == ["backfilled", "streamed"]


def test_backfill_from_the_offline_history(tmp_path: Path) -> None:
    home = tmp_path / "fstore"
    events = make_events(n=300, seed=5).dropna()
    events["ts"] = [as_ms(t) for t in events["ts"]]
    events = events.drop_duplicates(["customer", "ts"])
    asyncio.run(
        setup(home, {"name": "amount", "entity": "customer"}, definition("amount_max", "max", "tumbling"))
    )

    async def ingest() -> None:
        async with FeatureStore(home=home, actor="tester") as store:
            rows = pd.DataFrame(
                {
                    "entity_id": events["customer"],
                    "value": events["amount"],
                    "event_timestamp": pd.to_datetime(events["ts"], unit="ms", utc=True),
                }
            )
            await store.store_feature_values("amount", rows)

    asyncio.run(ingest())
    out = json.loads(
        cli(home, "aggregations", "backfill", "amount_max", "--from-feature", "amount", "--json")
    )
    assert out["events"] == len(events)
    # one ingest call: the history's order (entity, event time) is the arrival order
    in_order = events.sort_values(["customer", "ts"], kind="stable")
    assert_same(asyncio.run(current(home, "amount_max")), expected(in_order, "max", "tumbling"))


def test_backfill_needs_an_aggregation_and_one_source(tmp_path: Path) -> None:
    home = tmp_path / "fstore"
    asyncio.run(setup(home, {"name": "amount", "entity": "customer"}))
    assert "not an aggregation" in cli(
        home, "aggregations", "backfill", "amount", "--from-feature", "amount", code=2
    )
    both = cli(home, "aggregations", "backfill", "amount", "x.csv", "--from-feature", "amount", code=2)
    assert "not both" in both
