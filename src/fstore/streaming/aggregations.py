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

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
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
from fstore.streaming.window_state import TP, StateDelta, WindowState, WindowStateConflict
from fstore.streaming.window_state_postgres import PostgresWindowState
from fstore.streaming.window_state_sqlite import SqliteWindowState

STATE_FILE = "aggregations.sqlite"
MAX_CONFLICTS = 5  # retries of a batch whose partitions moved to another processor meanwhile
log = logging.getLogger(__name__)


def aggregation_features(features: Sequence[Feature]) -> list[Feature]:
    return [f for f in features if f.aggregation is not None]


def open_window_state(store: FeatureStore, path: Path | str | None = None) -> WindowState:
    """The window state of ``store``'s processors: in the PostgreSQL offline store's database
    when it has one (processors on any host), else (or when ``path`` is given) a SQLite file,
    ``<home>/aggregations.sqlite`` by default (one host)."""
    database = getattr(store.offline, "database", None)
    if path is None and database is not None:  # only the PostgreSQL offline store has one
        return PostgresWindowState(database)
    return SqliteWindowState(path or Path(store.settings.home) / STATE_FILE)


class AggregationEngine:
    """The aggregations of ``features`` over one ``WindowState``.

    Its cache holds the state of the source partitions it handled; ``known`` are the positions
    that state reflects. Before a batch the caller gives it the stored positions (``sync``):
    a partition whose stored position is not the known one was handled by another processor
    since (or never by this one), and its state is loaded afresh."""

    def __init__(self, store: FeatureStore, features: Sequence[Feature], state: WindowState) -> None:
        self.store, self.state = store, state
        self.aggregators = [
            Aggregator(f.name, f.aggregation, numeric=f.type.value == "numerical")
            for f in aggregation_features(features)
        ]
        self.known: dict[TP, int | None] = {}
        self._conflict: list[tuple[Aggregator, np.ndarray]] = []  # a failed batch's windows

    @property
    def topics(self) -> list[str]:
        return sorted({a.spec.source_topic for a in self.aggregators})

    def dropped(self) -> dict[str, int]:
        """Late window updates refused so far, per feature."""
        return {a.feature: a.dropped for a in self.aggregators}

    async def sync(self, topic: str, partitions: Iterable[int], stored: Mapping[TP, int]) -> None:
        """Load the state of the ``partitions`` of ``topic`` whose ``stored`` position is not
        the one the cached state reflects."""
        for partition in sorted(set(partitions)):
            tp = (topic, partition)
            if tp in self.known and self.known[tp] == stored.get(tp):
                continue
            for agg in self.aggregators:
                if agg.spec.source_topic == topic:
                    agg.load(partition, *await self.state.load(agg.key, partition))
            self.known[tp] = stored.get(tp)

    async def process(
        self,
        topic: str,
        objects: Sequence[Any],
        times: np.ndarray,
        positions: np.ndarray,
        done: Mapping[tuple[str, int], int] | None = None,
        partitions: np.ndarray | None = None,
    ) -> list[tuple[int, str]]:
        """Aggregate a batch of one topic's events (in arrival order; ``partitions``: their
        source partitions, default 0) and store the results; ``done`` are the source positions
        to record with the state. Returns the refused events (index, reason). Raises
        ``WindowStateConflict`` when a partition of ``done`` moved since ``sync``."""
        emitted: list[tuple[Aggregator, Emitted, list[StateDelta]]] = []
        refused: dict[int, str] = {}
        fields = Fields(objects)
        for agg in self.aggregators:
            if agg.spec.source_topic != topic:
                continue
            events, bad = extract(agg.spec, fields, times, positions, partitions, numeric=agg.numeric)
            for index, reason in bad:
                refused.setdefault(index, reason)
            if len(events):
                emitted.append((agg, *agg.step(events)))
        await self._store([(a.feature, e) for a, e, _ in emitted])
        done = dict(done or {})
        expected = {tp: self.known.get(tp) for tp in done}
        try:
            await self.state.commit([d for _, _, ds in emitted for d in ds], done, expected)
        except WindowStateConflict as exc:
            self._conflict = [(agg, agg.discard()) for agg, _, _ in emitted]
            for tp in exc.partitions:
                self.known.pop(tp, None)
            raise
        except BaseException:
            for agg, _, _ in emitted:
                agg.discard()
            raise
        for agg, _, deltas in emitted:
            agg.apply(deltas)
        self.known.update(done)
        return sorted(refused.items())

    async def recover(self, exc: WindowStateConflict) -> None:
        """After a conflict: load the moved partitions and store again the aggregates of the
        windows the failed batch touched there, as their new owner computed them (the failed
        batch may have stored values computed from the older state after the owner's)."""
        touched, self._conflict = self._conflict, []
        stored = await self.state.positions()
        for topic in {t for t, _ in exc.partitions}:
            await self.sync(topic, [p for t, p in exc.partitions if t == topic], stored)
        moved: dict[str, set[int]] = {}
        for t, p in exc.partitions:
            moved.setdefault(t, set()).add(p)
        again = [
            (agg.feature, agg.current(keys, moved.get(agg.spec.source_topic, set()))) for agg, keys in touched
        ]
        await self._store(again)

    async def _store(self, results: Sequence[tuple[str, Emitted]]) -> None:
        await store_emitted(self.store, results)


async def store_emitted(store: FeatureStore, results: Sequence[tuple[str, Emitted]]) -> None:
    """Store the aggregates of a batch: one write for every feature of it (one atomic offline
    write, the online one alongside it: a failed batch is repeated, see
    ``store_values_of_features``); a window's value is stamped at the window's end."""
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
        await store.store_values_of_features(batches, online_alongside=True)


class AggregationHandler:
    """The Feature Processor's ``BatchHandler`` for the aggregations' source topics.

    Records at or below the positions the state already holds are skipped (a replay after the
    state was committed but the Kafka offsets were not)."""

    def __init__(self, engine: AggregationEngine) -> None:
        self.engine = engine

    @classmethod
    async def open(cls, store: FeatureStore, state_path: Path | str | None = None) -> AggregationHandler:
        """A handler for every aggregation feature of ``store``, its window state where
        ``open_window_state`` puts it."""
        features = await store.registry.list_features()
        return cls(AggregationEngine(store, features, open_window_state(store, state_path)))

    @property
    def topics(self) -> Sequence[str]:
        return self.engine.topics

    async def handle(self, records: Sequence[Record]) -> list[DeadLetter]:
        refused: list[DeadLetter] = []
        for topic in sorted({r.topic for r in records}):
            batch = [r for r in records if r.topic == topic]
            for attempt in range(MAX_CONFLICTS + 1):
                try:
                    refused += await self._handle(topic, batch)
                    break
                except WindowStateConflict as exc:
                    if attempt == MAX_CONFLICTS:
                        raise
                    log.warning("%s: reloading them", exc.message)
                    await self.engine.recover(exc)
        return refused

    async def _handle(self, topic: str, records: Sequence[Record]) -> list[DeadLetter]:
        done = await self.engine.state.positions()
        batch = [r for r in records if r.offset > done.get((topic, r.partition), -1)]
        if not batch:
            return []
        await self.engine.sync(topic, {r.partition for r in batch}, done)
        objects = [decode_json(r.value) for r in batch]
        positions = {(topic, r.partition): r.offset for r in batch}  # the last one wins: the highest
        bad = await self.engine.process(
            topic,
            objects,
            np.fromiter((r.timestamp_ms for r in batch), np.int64, len(batch)),
            np.fromiter((r.offset for r in batch), np.int64, len(batch)),
            positions,
            np.fromiter((r.partition for r in batch), np.int64, len(batch)),
        )
        return [DeadLetter(batch[i], reason) for i, reason in bad]


def decode_json(value: bytes | None) -> Any:
    """A message's JSON value (None when absent or not JSON: the event is then refused)."""
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
    on_batch: Callable[[int], None] | None = None,
) -> tuple[int, int, int]:
    """Compute ``feature``'s aggregation over historical events — a pandas DataFrame or Arrow
    table whose rows are in arrival order (a file's order) — and store the results, as the
    stream would have. Starts from empty state (an in-memory state file). A definition that
    takes the Kafka timestamp reads the event time from ``timestamp_column``. ``on_batch`` is
    called with each batch's number of events once it is stored (progress). Returns (events
    read, events refused, late window updates dropped)."""
    import pandas as pd

    definition = await store.registry.get_feature(feature)
    if definition.aggregation is None:
        raise ValidationError(f"feature {feature!r} is not an aggregation")
    frame = events.to_pandas() if isinstance(events, pa.Table) else events
    if not isinstance(frame, pd.DataFrame):
        raise ValidationError("backfill takes a pandas DataFrame or an Arrow table")
    engine = AggregationEngine(store, [definition], SqliteWindowState(":memory:"))
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
            if on_batch is not None:
                on_batch(len(chunk))
    finally:
        await engine.state.close()
    return len(frame), refused, engine.dropped()[feature]
