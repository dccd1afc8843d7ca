"""The streaming demo against the real broker: live demo transactions through the Feature
Processor move the online aggregates, and every stored window equals pandas over the events
that were sent (late and out-of-order ones included)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from uuid import uuid4

import pandas as pd
from aggregation_reference import as_ms, assert_same, expected, stored
from processor_helpers import GROUP_CONFIG

from fstore import FeatureStore, Settings, demo_aggregates
from fstore.demo import DemoConfig, load_for_stream
from fstore.streaming.demo_stream import DemoStream, StreamOptions

CONFIG = DemoConfig(customers=40, events_per_customer=4, days=5, seed=9)


async def test_live_transactions_move_the_online_aggregates_as_pandas_says(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    settings = Settings(
        home=tmp_path / "home",
        kafka_bootstrap_servers=kafka_bootstrap,
        kafka_topic_prefix=f"t{uuid4().hex[:10]}.",
        kafka_config=GROUP_CONFIG,
    )
    async with FeatureStore(settings) as store:
        assert await load_for_stream(store, CONFIG) is not None  # loaded, aggregates backfilled
        before = {name: len(await stored(store, name)) for name in demo_aggregates.NAMES}
        assert all(before.values())
        stream = DemoStream(store, StreamOptions(rate=300, demo=CONFIG, watch=3, keep_events=True))
        await stream.start()
        assert stream.topic == f"{settings.kafka_topic_prefix}transactions"
        samples: list[list[object]] = []
        deadline = time.monotonic() + 60
        while len({tuple(s) for s in samples}) < 3 and time.monotonic() < deadline:
            samples.append((await stream.values(["txn_count_1h"])).values["txn_count_1h"])
            await asyncio.sleep(0.5)
        stats = await stream.stop()
        assert len({tuple(s) for s in samples}) >= 3, "the online counts did not move"
        sent = stream.producer.sent if stream.producer else None
        assert sent and stats.produced == len(sent)
        assert stats.processed >= stats.produced and stats.dead_lettered == 0

        events = pd.DataFrame(
            {
                "customer": [e["customer_id"] for e in sent],
                "ts": [e["timestamp"] for e in sent],
                "amount": [e["amount"] for e in sent],
            }
        )
        assert any(as_ms(b) < as_ms(a) for a, b in zip(events["ts"], events["ts"][1:], strict=False))
        first = min(as_ms(t) for t in events["ts"])
        final = await stream.values()
        for name, function, size, _ in demo_aggregates.AGGREGATES:
            got = await stored(store, name)
            live = got[got["end"] > first].reset_index(drop=True)
            want = expected(
                events,
                function.value,
                "tumbling",
                demo_aggregates.LATENESS_SECONDS,
                shape={"size_seconds": size},
            )
            assert_same(live, want)
            assert len(got) - len(live) == before[name]  # the history's windows are untouched
            newest = want.sort_values("end").groupby("entity_id")["value"].last()
            for entity, value in zip(final.entity_ids, final.values[name], strict=True):
                assert value == newest[entity] or abs(value - newest[entity]) < 1e-9, (name, entity)
