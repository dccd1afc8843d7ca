"""One aggregation feature's window computation: events in, aggregates out (vectorised).

``Aggregator.step`` takes a batch of events in arrival order and returns, for every (entity,
window) the batch touched, the aggregate over all the window's events so far — stamped at the
window's end — plus the ``StateDelta`` to persist. It does not change its cached state until
``apply`` is called with that delta, after the aggregates are stored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fstore.streaming.spec import AggregationFunction as F
from fstore.streaming.spec import AggregationSpec
from fstore.streaming.window_state import NUMERIC, StateDelta, empty_windows
from fstore.streaming.windows import I64, assign, watermarks

_NUMERIC_FUNCTIONS = {F.SUM, F.MEAN, F.MIN, F.MAX}
SNAPSHOT_MIN_ROWS = 50_000
_NO_MARK = np.iinfo(np.int64).min


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

    def __len__(self) -> int:
        return len(self.ts)


@dataclass(frozen=True, slots=True)
class Emitted:
    """Aggregates to store: entity id, window end (epoch ms) and value, one row per window."""

    entities: list[str]
    ends: I64
    values: pd.Series


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
        self.dropped = 0
        self._logged = 0  # window rows in the state log since its last snapshot

    def load(self, windows: pd.DataFrame, marks: pd.Series, dropped: int) -> None:
        """Take the state as ``WindowStateStore.load`` gives it."""
        self.entities = pd.Index([], dtype=object)
        self.marks = np.empty(0, dtype=np.int64)
        codes = self._codes(marks.index.to_numpy(object))
        self.marks[codes] = marks.to_numpy(np.int64)
        wcodes = self._codes(windows.index.get_level_values(0).to_numpy(object))
        keys = self._keys(wcodes, windows.index.get_level_values(1).to_numpy(np.int64))
        self.windows = windows.set_axis(pd.Index(keys, dtype=np.int64), axis=0)
        self.dropped, self._logged = dropped, len(windows)

    def _codes(self, entities: np.ndarray) -> I64:
        """Each entity's code; new entities get the next ones (their watermark: none yet)."""
        codes = self.entities.get_indexer(entities)
        if (codes < 0).any():
            new = pd.unique(entities[codes < 0])
            if len(self.entities) + len(new) > MAX_ENTITIES:
                raise ValueError(f"aggregation {self.feature!r}: more than {MAX_ENTITIES:,} entities")
            self.entities = self.entities.append(pd.Index(new, dtype=object))
            self.marks = np.concatenate([self.marks, np.full(len(new), _NO_MARK, dtype=np.int64)])
            codes = self.entities.get_indexer(entities)
        return codes.astype(np.int64)

    def _keys(self, codes: I64, starts: I64) -> I64:
        return (codes << WINDOW_BITS) + (starts // self.spec.step_ms + _WINDOW_OFFSET)

    def _unkey(self, keys: I64) -> tuple[I64, I64]:
        codes = keys >> WINDOW_BITS
        starts = ((keys & ((1 << WINDOW_BITS) - 1)) - _WINDOW_OFFSET) * self.spec.step_ms
        return codes, starts

    def step(self, events: Events) -> tuple[Emitted, StateDelta]:
        spec, delta = self.spec, StateDelta(self.key)
        codes = self._codes(events.entities.to_numpy(object))
        marks = watermarks(codes, events.ts, self.marks)
        hit = assign(spec, events.ts, marks)
        delta.dropped = hit.dropped
        # an entity's watermark after the batch: watermarks() already started from the old one
        touched = pd.Series(marks).groupby(codes).max()
        new_marks = self.marks.copy()
        new_marks[touched.index.to_numpy(np.int64)] = touched.to_numpy(np.int64)
        merged = _empty()
        if len(hit.rows):
            keys = self._keys(codes[hit.rows], hit.starts)
            merged = self._merge(self._partials(events, hit.rows, keys))
        self._logged += len(merged)
        if self._logged > max(2 * len(self.windows), SNAPSHOT_MIN_ROWS):
            state = self._with(merged)
            wcodes, starts = self._unkey(state.index.to_numpy(np.int64))
            open_ = starts + spec.size_ms + spec.lateness_ms > new_marks[wcodes]
            delta.upserts = self._public(state[open_])
            delta.marks = self._marks(np.flatnonzero(new_marks != _NO_MARK), new_marks)
            delta.dropped += self.dropped
            delta.snapshot = True
        else:
            delta.upserts = self._public(merged)
            delta.marks = self._marks(touched.index.to_numpy(np.int64), new_marks)
        self._pending = (merged, new_marks)
        values = self._value(merged)
        # a window whose events carried no value yet has no mean/min/max/last: nothing to store
        has = values.notna().to_numpy()
        mcodes, mstarts = self._unkey(merged.index.to_numpy(np.int64))
        return Emitted(
            self.entities[mcodes[has]].tolist(),
            mstarts[has] + spec.size_ms,
            values[has].reset_index(drop=True),
        ), delta

    def _marks(self, codes: I64, marks: I64) -> pd.Series:
        return pd.Series(marks[codes], index=self.entities[codes], dtype=np.int64)

    def _public(self, windows: pd.DataFrame) -> pd.DataFrame:
        """The (entity, start) form the state store keeps."""
        codes, starts = self._unkey(windows.index.to_numpy(np.int64))
        index = pd.MultiIndex.from_arrays([self.entities[codes], starts], names=["entity", "start"])
        return windows.set_axis(index, axis=0)

    def _with(self, upserts: pd.DataFrame) -> pd.DataFrame:
        if upserts.empty:
            return self.windows
        windows = pd.concat([self.windows, upserts])
        return windows[~windows.index.duplicated(keep="last")]

    def apply(self, delta: StateDelta) -> None:
        """Take the delta ``step`` returned into the cached state (after it was persisted)."""
        merged, marks = self._pending
        if delta.snapshot:
            keys = self._keys(
                self.entities.get_indexer(delta.upserts.index.get_level_values(0)).astype(np.int64),
                delta.upserts.index.get_level_values(1).to_numpy(np.int64),
            )
            self.windows = delta.upserts.set_axis(pd.Index(keys, dtype=np.int64), axis=0)
            self.dropped, self._logged = delta.dropped, 0
        else:
            self.windows = self._with(merged)
            self.dropped += delta.dropped
        self.marks = marks

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
            agg = frame.groupby("key", sort=False)["v"].agg(["count", "sum", "min", "max"])
            out["n"], out["sum"], out["min"], out["max"] = (
                agg["count"].astype(np.float64),
                agg["sum"],
                agg["min"],
                agg["max"],
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
        """The partials combined with the cached accumulators of the same windows."""
        old = self.windows.reindex(part.index)
        merged = empty_windows(part.index)
        merged["count"] = part["count"] + old["count"].fillna(0)
        fn = self.spec.function
        if fn in _NUMERIC_FUNCTIONS:
            merged["n"] = part["n"] + old["n"].fillna(0)
            merged["sum"] = part["sum"] + old["sum"].fillna(0)
            merged["min"] = np.fmin(part["min"], old["min"])
            merged["max"] = np.fmax(part["max"], old["max"])
        elif fn is F.LAST:
            pt, pp = part["last_ts"], part["last_pos"]
            ot, op = old["last_ts"], old["last_pos"]
            keep_old = ot.notna() & (pt.isna() | (ot > pt) | ((ot == pt) & (op > pp)))
            for col in ("last_ts", "last_pos", "last_value"):
                merged[col] = part[col].where(~keep_old, old[col])
        elif fn is F.DISTINCT_COUNT:
            merged["distinct"] = [
                (a if isinstance(a, set) else set()) | (b if isinstance(b, set) else set())
                for a, b in zip(part["distinct"].tolist(), old["distinct"].tolist(), strict=True)
            ]
        for col in NUMERIC:
            merged[col] = merged[col].astype(np.float64)
        return merged

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
