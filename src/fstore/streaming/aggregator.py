"""One aggregation feature's window computation: events in, aggregates out (vectorised).

``Aggregator.step`` takes a batch of events in arrival order and returns, for every (entity,
window) the batch touched, the aggregate over all the window's events so far — stamped at the
window's end — plus the ``StateDelta``s to persist (one per source partition). It does not
change its cached state until ``apply`` is called with those deltas, after the aggregates are
stored and the deltas committed (``discard`` forgets them when the commit failed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fstore.streaming.spec import AggregationFunction as F
from fstore.streaming.spec import AggregationSpec
from fstore.streaming.window_state import NUMERIC, OBJECTS, StateDelta, empty_windows, objects
from fstore.streaming.windows import I64, assign, watermarks

_NUMERIC_FUNCTIONS = {F.SUM, F.MEAN, F.MIN, F.MAX}
SNAPSHOT_MIN_ROWS = 50_000
_NO_MARK = np.iinfo(np.int64).min
_NO_HOME = -1


def _empty() -> pd.DataFrame:
    return empty_windows(pd.Index([], dtype=np.int64))


@dataclass(frozen=True, slots=True)
class Events:
    """A batch of one aggregation's events in arrival order: entity ids (strings), event times
    (epoch ms), values (None where absent) and arrival positions (offsets, row numbers)."""

    entities: pd.Series
    ts: I64
    values: pd.Series
    positions: I64
    partitions: I64  # each event's source partition (0 for a file)

    def __len__(self) -> int:
        return len(self.ts)


@dataclass(frozen=True, slots=True)
class Emitted:
    """Aggregates to store: entity id, window end (epoch ms) and value, one row per window."""

    entities: list[str]
    ends: I64
    values: pd.Series


@dataclass(frozen=True, slots=True)
class _Pending:
    """What ``step`` computed, taken into the cache by ``apply`` once it is persisted."""

    merged: pd.DataFrame
    marks: I64
    homes: I64
    closed: list[pd.Index]


# the cached state is keyed by one int64 per (entity, window): the entity's code (its position
# in ``Aggregator.entities``) above the window number (start / step, offset to be positive)
WINDOW_BITS = 38
_WINDOW_OFFSET = 1 << (WINDOW_BITS - 1)
MAX_ENTITIES = 1 << (62 - WINDOW_BITS)


class Aggregator:
    def __init__(self, feature: str, spec: AggregationSpec, *, numeric: bool = True) -> None:
        self.feature, self.spec = feature, spec
        self.numeric = numeric  # a numerical feature: its values (``last``'s too) must be numbers
        self.key = f"{feature}:{spec.fingerprint()}"
        self.entities = pd.Index([], dtype=object)
        self.windows = _empty()
        self.marks = np.empty(0, dtype=np.int64)  # by entity code
        self.homes = np.empty(0, dtype=np.int64)  # by entity code: the partition keeping its state
        self.dropped_by: dict[int, int] = {}  # late window updates dropped, per partition
        self._logged: dict[int, int] = {}  # window rows in a partition's log since its snapshot
        self._pending: _Pending | None = None

    @property
    def dropped(self) -> int:
        return sum(self.dropped_by.values())

    def load(self, partition: int, windows: pd.DataFrame, marks: pd.Series, dropped: int) -> None:
        """Replace the cached state of ``partition`` by the stored one (``WindowState.load``)."""
        if len(self.windows):
            wcodes, _ = self._unkey(self.windows.index.to_numpy(np.int64))
            self.windows = self.windows[self.homes[wcodes] != partition]
        mine = self.homes == partition
        self.marks[mine], self.homes[mine] = _NO_MARK, _NO_HOME
        codes = self._codes(marks.index.to_numpy(object))
        self.marks[codes], self.homes[codes] = marks.to_numpy(np.int64), partition
        wcodes = self._codes(windows.index.get_level_values(0).to_numpy(object))
        self.homes[wcodes] = partition
        keys = self._keys(wcodes, windows.index.get_level_values(1).to_numpy(np.int64))
        self.windows = self._with(windows.set_axis(pd.Index(keys, dtype=np.int64), axis=0))
        self.dropped_by[partition], self._logged[partition] = dropped, len(windows)

    def _codes(self, entities: np.ndarray) -> I64:
        """Each entity's code; new entities get the next ones (no watermark nor home yet)."""
        entities = pd.Index(entities, dtype=object, copy=False)  # no inference of a string dtype
        codes = self.entities.get_indexer(entities)
        if (codes < 0).any():
            new = pd.unique(entities[codes < 0].to_numpy(object))
            if len(self.entities) + len(new) > MAX_ENTITIES:
                raise ValueError(f"aggregation {self.feature!r}: more than {MAX_ENTITIES:,} entities")
            self.entities = self.entities.append(pd.Index(new, dtype=object))
            self.marks = np.concatenate([self.marks, np.full(len(new), _NO_MARK, dtype=np.int64)])
            self.homes = np.concatenate([self.homes, np.full(len(new), _NO_HOME, dtype=np.int64)])
            codes = self.entities.get_indexer(entities)
        return codes.astype(np.int64)

    def _keys(self, codes: I64, starts: I64) -> I64:
        return (codes << WINDOW_BITS) + (starts // self.spec.step_ms + _WINDOW_OFFSET)

    def _unkey(self, keys: I64) -> tuple[I64, I64]:
        codes = keys >> WINDOW_BITS
        starts = ((keys & ((1 << WINDOW_BITS) - 1)) - _WINDOW_OFFSET) * self.spec.step_ms
        return codes, starts

    def step(self, events: Events) -> tuple[Emitted, list[StateDelta]]:
        """The aggregates of the windows the events touch, and one ``StateDelta`` per source
        partition of the batch (an entity's state goes with the partition of its events)."""
        spec = self.spec
        codes = self._codes(events.entities.to_numpy(object))
        marks = watermarks(codes, events.ts, self.marks)
        hit = assign(spec, events.ts, marks)
        # an entity's watermark after the batch: watermarks() already started from the old one
        new_marks, new_homes = self.marks.copy(), self.homes.copy()
        np.maximum.at(new_marks, codes, marks)
        # an entity's home: the partition of its last event in the batch
        tcodes, first_from_end = np.unique(codes[::-1], return_index=True)
        new_homes[tcodes] = events.partitions[len(codes) - 1 - first_from_end]
        merged = _empty()
        if len(hit.rows):
            keys = self._keys(codes[hit.rows], hit.starts)
            merged = self._merge(self._partials(events, hit.rows, keys))
        late = pd.Series(events.partitions[hit.late]).value_counts()
        mcodes, mstarts = self._unkey(merged.index.to_numpy(np.int64))
        mhomes = new_homes[mcodes]
        deltas, closed = [], []
        partitions = np.unique(new_homes[tcodes]).tolist()
        for partition in partitions:
            dropped = int(late.get(partition, 0))
            mine = merged[mhomes == partition] if len(partitions) > 1 else merged
            logged = self._logged.get(partition, 0) + len(mine)
            if logged > SNAPSHOT_MIN_ROWS and logged > 2 * self._cached(partition):
                state = self._with(mine)
                wcodes, _ = self._unkey(state.index.to_numpy(np.int64))
                state = state[new_homes[wcodes] == partition]
                wcodes, starts = self._unkey(state.index.to_numpy(np.int64))
                open_ = starts + spec.size_ms + spec.lateness_ms > new_marks[wcodes]
                closed.append(state.index[~open_])
                entities = np.flatnonzero((new_homes == partition) & (new_marks != _NO_MARK))
                dropped += self.dropped_by.get(partition, 0)
                delta = StateDelta(
                    self.key,
                    partition,
                    self._public(state[open_]),
                    self._marks(entities, new_marks),
                    dropped,
                    True,
                )
            else:
                entities = tcodes[new_homes[tcodes] == partition] if len(partitions) > 1 else tcodes
                delta = StateDelta(
                    self.key, partition, self._public(mine), self._marks(entities, new_marks), dropped
                )
            deltas.append(delta)
        self._pending = _Pending(merged, new_marks, new_homes, closed)
        values = self._value(merged)
        # a window whose events carried no value yet has no mean/min/max/last: nothing to store
        has = values.notna().to_numpy()
        return Emitted(
            self.entities[mcodes[has]].tolist(),
            mstarts[has] + spec.size_ms,
            values[has].reset_index(drop=True),
        ), deltas

    def _cached(self, partition: int) -> int:
        """How many windows of ``partition`` the cache holds."""
        codes, _ = self._unkey(self.windows.index.to_numpy(np.int64))
        return int((self.homes[codes] == partition).sum())

    def _marks(self, codes: I64, marks: I64) -> pd.Series:
        return pd.Series(marks[codes], index=self.entities[codes], dtype=np.int64)

    def _public(self, windows: pd.DataFrame) -> pd.DataFrame:
        """The (entity, start) form the state store keeps (made from the codes: no string
        is hashed again)."""
        codes, starts = self._unkey(windows.index.to_numpy(np.int64))
        levels, start_codes = np.unique(starts, return_inverse=True)
        index = pd.MultiIndex(
            levels=[self.entities, levels],
            codes=[codes, start_codes],
            names=["entity", "start"],
            verify_integrity=False,
        )
        return windows.set_axis(index, axis=0)

    def _with(self, upserts: pd.DataFrame) -> pd.DataFrame:
        if upserts.empty:
            return self.windows
        windows = pd.concat([self.windows, upserts])
        return windows[~windows.index.duplicated(keep="last")]

    def apply(self, deltas: list[StateDelta]) -> None:
        """Take the deltas ``step`` returned into the cached state (after they were persisted)."""
        assert self._pending is not None
        pending, self._pending = self._pending, None
        self.windows = self._with(pending.merged)
        for closed in pending.closed:
            self.windows = self.windows.drop(closed)
        self.marks, self.homes = pending.marks, pending.homes
        for d in deltas:
            if d.snapshot:
                self.dropped_by[d.partition], self._logged[d.partition] = d.dropped, 0
            else:
                self.dropped_by[d.partition] = self.dropped_by.get(d.partition, 0) + d.dropped
                self._logged[d.partition] = self._logged.get(d.partition, 0) + len(d.upserts)

    def snapshot(self, partition: int = 0) -> StateDelta:
        """The whole cached state of ``partition`` as one snapshot, closed windows left out:
        what a job that keeps the state itself (Spark's state store) saves after a batch."""
        codes, starts = self._unkey(self.windows.index.to_numpy(np.int64))
        open_ = starts + self.spec.size_ms + self.spec.lateness_ms > self.marks[codes]
        windows = self.windows[(self.homes[codes] == partition) & open_]
        entities = np.flatnonzero((self.homes == partition) & (self.marks != _NO_MARK))
        marks = self._marks(entities, self.marks)
        return StateDelta(
            self.key, partition, self._public(windows), marks, self.dropped_by.get(partition, 0), True
        )

    def discard(self) -> I64:
        """Forget the last ``step`` (its state was not committed); returns its window keys."""
        pending, self._pending = self._pending, None
        return pending.merged.index.to_numpy(np.int64) if pending is not None else np.empty(0, np.int64)

    def current(self, keys: I64, partitions: set[int]) -> Emitted:
        """The cached aggregates of the windows ``keys`` whose entities' state is in
        ``partitions`` (to store again what another processor computed for them)."""
        codes, _ = self._unkey(keys)
        keys = keys[np.isin(self.homes[codes], list(partitions))]
        acc = self.windows.loc[self.windows.index.intersection(pd.Index(keys, dtype=np.int64))]
        values = self._value(acc)
        has = values.notna().to_numpy()
        codes, starts = self._unkey(acc.index.to_numpy(np.int64))
        return Emitted(
            self.entities[codes[has]].tolist(),
            starts[has] + self.spec.size_ms,
            values[has].reset_index(drop=True),
        )

    def _partials(self, events: Events, rows: I64, keys: I64) -> pd.DataFrame:
        """Accumulators of this batch alone, per window key."""
        fn = self.spec.function
        frame = pd.DataFrame({"key": keys, "ts": events.ts[rows], "pos": events.positions[rows]})
        groups = frame.groupby("key", sort=False)
        out = pd.DataFrame({"count": groups.size().astype(np.float64)})
        if fn is F.COUNT:
            return out
        raw = events.values.to_numpy()[rows]
        if fn in _NUMERIC_FUNCTIONS:
            frame["v"] = pd.to_numeric(pd.Series(raw), errors="raise").astype(np.float64)
            v = frame.groupby("key", sort=False)["v"]  # one cython kernel each: faster than .agg([...])
            out["n"], out["sum"], out["min"], out["max"] = (
                v.count().astype(np.float64),
                v.sum(),
                v.min(),
                v.max(),
            )
            return out
        frame["v"] = raw
        present = frame[pd.notna(raw)]
        if fn is F.LAST:
            latest = present.sort_values(["ts", "pos"], kind="stable").groupby("key", sort=False).tail(1)
            latest = latest.set_index("key")
            out["last_ts"] = latest["ts"].astype(np.float64)
            out["last_pos"] = latest["pos"].astype(np.float64)
            out["last_value"] = latest["v"]
        else:
            out["distinct"] = present.groupby("key", sort=False)["v"].agg(set)
        return out

    def _merge(self, part: pd.DataFrame) -> pd.DataFrame:
        """The partials combined with the cached accumulators of the same windows (numpy on
        the columns the function uses; the others stay empty)."""
        at = self.windows.index.get_indexer(part.index)
        found = at >= 0
        n = len(part)

        def old(col: str) -> np.ndarray:
            out = np.full(n, np.nan) if col in NUMERIC else np.full(n, None, dtype=object)
            out[found] = self.windows[col].to_numpy()[at[found]]
            return out

        def new(col: str) -> np.ndarray:
            return part[col].to_numpy(np.float64 if col in NUMERIC else object)

        def plus(col: str) -> np.ndarray:
            before = old(col)
            return new(col) + np.where(np.isnan(before), 0.0, before)

        columns: dict[str, Any] = {c: np.full(n, np.nan) for c in NUMERIC}
        columns.update({c: np.full(n, None, dtype=object) for c in OBJECTS})
        columns["count"] = plus("count")
        fn = self.spec.function
        if fn in _NUMERIC_FUNCTIONS:
            columns["n"], columns["sum"] = plus("n"), plus("sum")
            columns["min"] = np.fmin(new("min"), old("min"))
            columns["max"] = np.fmax(new("max"), old("max"))
        elif fn is F.LAST:
            pt, pp, ot, op = new("last_ts"), new("last_pos"), old("last_ts"), old("last_pos")
            keep_old = ~np.isnan(ot) & (np.isnan(pt) | (ot > pt) | ((ot == pt) & (op > pp)))
            for col in ("last_ts", "last_pos", "last_value"):
                columns[col] = np.where(keep_old, old(col), new(col))
        elif fn is F.DISTINCT_COUNT:
            columns["distinct"] = objects(
                [
                    (a if isinstance(a, set) else set()) | (b if isinstance(b, set) else set())
                    for a, b in zip(new("distinct").tolist(), old("distinct").tolist(), strict=True)
                ]
            )
        return pd.DataFrame(columns, index=part.index)

    def _value(self, acc: pd.DataFrame) -> pd.Series:
        fn = self.spec.function
        if fn is F.COUNT:
            return acc["count"].astype(np.int64).reset_index(drop=True)
        if fn is F.DISTINCT_COUNT:
            return acc["distinct"].map(len).astype(np.int64).reset_index(drop=True)
        if fn is F.LAST:
            last = acc["last_value"]
            return last.where(last.notna(), None).reset_index(drop=True)
        if fn is F.MEAN:
            out = acc["sum"] / acc["n"].where(acc["n"] > 0)
        else:
            out = acc[fn.value].where(acc["n"] > 0) if fn is not F.SUM else acc["sum"]
        return out.astype(object).where(out.notna(), None).reset_index(drop=True)
