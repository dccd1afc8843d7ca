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


class Aggregator:
    def __init__(self, feature: str, spec: AggregationSpec) -> None:
        self.feature, self.spec = feature, spec
        self.key = f"{feature}:{spec.fingerprint()}"
        self.windows = empty_windows()
        self.marks = pd.Series([], dtype=np.int64)
        self.dropped = 0
        self._logged = 0  # window rows in the state log since its last snapshot

    def load(self, windows: pd.DataFrame, marks: pd.Series, dropped: int) -> None:
        self.windows, self.marks, self.dropped = windows, marks, dropped
        self._logged = len(windows)

    def step(self, events: Events) -> tuple[Emitted, StateDelta]:
        spec, delta = self.spec, StateDelta(self.key)
        marks = watermarks(events.entities, events.ts, self.marks)
        hit = assign(spec, events.ts, marks)
        delta.dropped = hit.dropped
        # an entity's watermark after the batch: watermarks() already started from the old one
        delta.marks = pd.Series(marks, index=events.entities.to_numpy()).groupby(level=0).max()
        merged = (
            self._merge(self._partials(events, hit.rows, hit.starts)) if len(hit.rows) else empty_windows()
        )
        delta.upserts = merged
        self._logged += len(merged)
        if self._logged > max(2 * len(self.windows), SNAPSHOT_MIN_ROWS):
            self._snapshot(delta)
        values = self._value(merged)
        # a window whose events carried no value yet has no mean/min/max/last: nothing to store
        has = values.notna().to_numpy()
        return Emitted(
            merged.index.get_level_values(0)[has].tolist(),
            merged.index.get_level_values(1).to_numpy(np.int64)[has] + spec.size_ms,
            values[has].reset_index(drop=True),
        ), delta

    def _snapshot(self, delta: StateDelta) -> None:
        """Turn the delta into the whole state after it, without the windows now closed (they
        take no more events: ``assign`` refuses them)."""
        windows = self._with(delta.upserts)
        marks = delta.marks.combine_first(self.marks).astype(np.int64)
        mark = windows.index.get_level_values(0).map(marks).to_numpy(np.float64)
        ends = (
            windows.index.get_level_values(1).to_numpy(np.int64) + self.spec.size_ms + self.spec.lateness_ms
        )
        delta.upserts, delta.marks = windows[np.isnan(mark) | (ends > mark)], marks
        delta.dropped += self.dropped
        delta.snapshot = True

    def _with(self, upserts: pd.DataFrame) -> pd.DataFrame:
        if upserts.empty:
            return self.windows
        windows = pd.concat([self.windows, upserts])
        return windows[~windows.index.duplicated(keep="last")]

    def apply(self, delta: StateDelta) -> None:
        """Take the delta into the cached state (after it was persisted)."""
        if delta.snapshot:
            self.windows, self.marks, self.dropped = delta.upserts, delta.marks, delta.dropped
            self._logged = 0
            return
        self.windows = self._with(delta.upserts)
        self.marks = delta.marks.combine_first(self.marks).astype(np.int64)
        self.dropped += delta.dropped

    def _partials(self, events: Events, rows: I64, starts: I64) -> pd.DataFrame:
        """Accumulators of this batch alone, per (entity, window start)."""
        fn = self.spec.function
        frame = pd.DataFrame(
            {
                "entity": events.entities.to_numpy()[rows],
                "start": starts,
                "ts": events.ts[rows],
                "pos": events.positions[rows],
            }
        )
        groups = frame.groupby(["entity", "start"], sort=False)
        out = pd.DataFrame({"count": groups.size().astype(np.float64)})
        if fn is F.COUNT:
            return out
        raw = events.values.to_numpy()[rows]
        if fn in _NUMERIC_FUNCTIONS:
            frame["v"] = pd.to_numeric(pd.Series(raw), errors="raise").astype(np.float64)
            agg = frame.groupby(["entity", "start"], sort=False)["v"].agg(["count", "sum", "min", "max"])
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
            latest = (
                present.sort_values(["ts", "pos"], kind="stable")
                .groupby(["entity", "start"], sort=False)
                .tail(1)
            )
            latest = latest.set_index(["entity", "start"])
            out["last_ts"] = latest["ts"].astype(np.float64)
            out["last_pos"] = latest["pos"].astype(np.float64)
            out["last_value"] = latest["v"]
        else:
            out["distinct"] = present.groupby(["entity", "start"], sort=False)["v"].agg(set)
        return out

    def _merge(self, part: pd.DataFrame) -> pd.DataFrame:
        """The partials combined with the cached accumulators of the same windows."""
        old = self.windows.reindex(part.index)
        merged = empty_windows().reindex(part.index)
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
