"""Which windows an event falls in, and whether it is too late for them (vectorised).

Windows are aligned to the epoch: window ``[start, start + size)`` for every ``start`` that is
a multiple of the step. An entity's *watermark* is the greatest event time seen for that
entity so far, in arrival order. A window closes when the watermark reaches
``end + allowed lateness``; an event for a closed window is dropped (and counted).

The watermark is per entity rather than per partition or per process: it depends only on the
order of one entity's events, which Kafka keeps (one entity's events share a partition when
the topic is keyed by entity) and a file keeps (its row order). So the same events give the
same drops whatever the partitioning, the batching or the number of processors — and the
backfill of a file gives what the stream gave.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from fstore.streaming.spec import AggregationSpec

I64 = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Assignment:
    """Event ``rows[i]`` (an index into the batch) updates the window starting at ``starts[i]``;
    ``late`` are the events of the (event, window) updates refused as too late, one per update."""

    rows: I64
    starts: I64
    late: I64

    @property
    def dropped(self) -> int:
        return len(self.late)


def watermarks(codes: I64, ts: I64, prior: I64) -> I64:
    """Each event's entity watermark after it arrived: the running maximum of the entity's
    event times in arrival order, starting from ``prior`` (by entity code)."""
    running = pd.Series(ts).groupby(codes, sort=False).cummax()
    return np.maximum(running.to_numpy(np.int64), prior[codes])


def assign(spec: AggregationSpec, ts: I64, marks: I64) -> Assignment:
    """The (event, window) pairs the events update, late ones left out."""
    size, step, lateness = spec.size_ms, spec.step_ms, spec.lateness_ms
    per_event = -(-size // step)  # ceil: the most windows one event can fall in
    last_start = (ts // step) * step  # floor division: also right for times before 1970
    rows = np.repeat(np.arange(len(ts), dtype=np.int64), per_event)
    starts = np.repeat(last_start, per_event) - np.tile(np.arange(per_event, dtype=np.int64) * step, len(ts))
    inside = starts + size > ts[rows]
    rows, starts = rows[inside], starts[inside]
    on_time = starts + size + lateness > marks[rows]
    return Assignment(rows[on_time], starts[on_time], rows[~on_time])
