"""Real-time windowed aggregations: raw business events → aggregate feature values.

``AggregationEngine`` runs every aggregation feature of a store over batches of raw events;
``AggregationHandler`` is its ``BatchHandler`` for the Feature Processor (the source topics'
records in, refused ones out); ``backfill`` runs the same engine over historical events.

Each batch: extract the events per feature → per (entity, window) touched, the aggregate of
all its events so far, stamped at the window's end → stored through the ``FeatureStore`` (the
offline history keeps each window's aggregate, a later correction superseding it; online
serves the newest window's) → window state and source positions committed (see
``window_state`` for why this order makes a replay exact).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from fstore.errors import ValidationError
from fstore.models import Feature
from fstore.store import FeatureStore
from fstore.streaming.aggregator import Aggregator, Emitted
from fstore.streaming.handlers import DeadLetter, Record
from fstore.streaming.source_events import Fields, epoch_ms, extract
from fstore.streaming.window_state import StateDelta, WindowStateStore

STATE_FILE = "aggregations.sqlite"


def aggregation_features(features: Sequence[Feature]) -> list[Feature]:
    return [f for f in features if f.aggregation is not None]


class AggregationEngine:
    """The aggregations of ``features`` over one ``WindowStateStore``."""

    def __init__(self, store: FeatureStore, features: Sequence[Feature], state: WindowStateStore) -> None:
        self.store, self.state = store, state
        self.aggregators = [
            Aggregator(f.name, f.aggregation, numeric=f.type.value == "numerical")
            for f in aggregation_features(features)
        ]
        self._reload()

    def _reload(self) -> None:
        for agg in self.aggregators:
            agg.load(*self.state.load(agg.key))

    @property
    def topics(self) -> list[str]:
        return sorted({a.spec.source_topic for a in self.aggregators})

    def dropped(self) -> dict[str, int]:
        """Late window updates refused so far, per feature."""
        return {a.feature: a.dropped for a in self.aggregators}

    async def process(
        self,
        topic: str,
        objects: Sequence[Any],
        times: np.ndarray,
        positions: np.ndarray,
        done: Mapping[tuple[str, int], int] | None = None,
    ) -> list[tuple[int, str]]:
        """Aggregate a batch of one topic's events (in arrival order) and store the results;
        ``done`` are the source positions to record with the state. Returns the refused
        events (index, reason)."""
        if self.state.changed_elsewhere():
            self._reload()
        emitted: list[tuple[Aggregator, Emitted, StateDelta]] = []
        refused: dict[int, str] = {}
        fields = Fields(objects)
        for agg in self.aggregators:
            if agg.spec.source_topic != topic:
                continue
            events, bad = extract(agg.spec, fields, times, positions, numeric=agg.numeric)
            for index, reason in bad:
                refused.setdefault(index, reason)
            if len(events):
                emitted.append((agg, *agg.step(events)))
        await self._store([(a.feature, e) for a, e, _ in emitted])
        deltas = [d for _, _, d in emitted]
        await asyncio.to_thread(self.state.commit, deltas, dict(done or {}))
        for agg, _, delta in emitted:
            agg.apply(delta)
        return sorted(refused.items())

    async def _store(self, results: Sequence[tuple[str, Emitted]]) -> None:
        """One write for every feature of the batch (one atomic offline write)."""
        batches = {
            feature: pa.table(
                {
                    "entity_id": pa.array(out.entities, pa.string()),
                    "value": pa.array(out.values.tolist()),
                    "event_timestamp": pa.array(out.ends, pa.timestamp("ms", tz="UTC")),
                }
            )
            for feature, out in results
            if out.entities
        }
        if batches:
            await self.store.store_values_of_features(batches)


class AggregationHandler:
    """The Feature Processor's ``BatchHandler`` for the aggregations' source topics.

    Records at or below the positions the state already holds are skipped (a replay after the
    state was committed but the Kafka offsets were not)."""

    def __init__(self, engine: AggregationEngine) -> None:
        self.engine = engine

    @classmethod
    async def open(cls, store: FeatureStore, state_path: Path | str | None = None) -> AggregationHandler:
        """A handler for every aggregation feature of ``store``; the state file defaults to
        ``<home>/aggregations.sqlite``."""
        features = await store.registry.list_features()
        path = state_path or Path(store.settings.home) / STATE_FILE
        return cls(AggregationEngine(store, features, WindowStateStore(path)))

    @property
    def topics(self) -> Sequence[str]:
        return self.engine.topics

    async def handle(self, records: Sequence[Record]) -> list[DeadLetter]:
        done = self.engine.state.positions()
        fresh = [r for r in records if r.offset > done.get((r.topic, r.partition), -1)]
        refused: list[DeadLetter] = []
        for topic in sorted({r.topic for r in fresh}):
            batch = [r for r in fresh if r.topic == topic]
            objects = [_json(r.value) for r in batch]
            positions = {(topic, r.partition): r.offset for r in batch}  # the last one wins: the highest
            bad = await self.engine.process(
                topic,
                objects,
                np.fromiter((r.timestamp_ms for r in batch), np.int64, len(batch)),
                np.fromiter((r.offset for r in batch), np.int64, len(batch)),
                positions,
            )
            refused += [DeadLetter(batch[i], reason) for i, reason in bad]
        return refused


def _json(value: bytes | None) -> Any:
    try:
        return orjson.loads(value) if value is not None else None
    except orjson.JSONDecodeError:
        return None


async def backfill(
    store: FeatureStore,
    feature: str,
    events: Any,
    *,
    batch_size: int = 100_000,
    timestamp_column: str = "timestamp",
) -> tuple[int, int, int]:
    """Compute ``feature``'s aggregation over historical events — a pandas DataFrame or Arrow
    table whose rows are in arrival order (a file's order) — and store the results, as the
    stream would have. Starts from empty state (an in-memory state file). A definition that
    takes the Kafka timestamp reads the event time from ``timestamp_column``. Returns (events
    read, events refused, late window updates dropped)."""
    import pandas as pd

    definition = await store.registry.get_feature(feature)
    if definition.aggregation is None:
        raise ValidationError(f"feature {feature!r} is not an aggregation")
    frame = events.to_pandas() if isinstance(events, pa.Table) else events
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError("backfill takes a pandas DataFrame or an Arrow table")
    engine = AggregationEngine(store, [definition], WindowStateStore(":memory:"))
    spec = definition.aggregation
    if spec.timestamp_field is None and timestamp_column not in frame.columns:
        raise ValidationError(f"the events have no timestamp column {timestamp_column!r}")
    topic = spec.source_topic
    refused = 0
    try:
        for begin in range(0, len(frame), batch_size):
            chunk = frame.iloc[begin : begin + batch_size]
            objects = chunk.astype(object).where(chunk.notna(), None).to_dict("records")
            positions = np.arange(begin, begin + len(chunk), dtype=np.int64)
            times = positions
            if spec.timestamp_field is None:
                times, ok = epoch_ms(chunk[timestamp_column].tolist())
                if not ok.all():
                    raise ValidationError(f"row {begin + int(np.argmin(ok))}: no usable {timestamp_column!r}")
            refused += len(await engine.process(topic, objects, times, positions))
    finally:
        engine.state.close()
    return len(frame), refused, engine.dropped()[feature]
