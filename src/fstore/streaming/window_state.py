"""Durable window state of the aggregation engine: the protocol and what its backends share.

Per aggregation (``key``: feature name and definition fingerprint) and source partition, the
state is the accumulators of the windows of the partition's entities per (entity, window
start), each entity's watermark and how many late window updates were dropped. Each batch
appends one *delta* per (aggregation, partition) it touched (the windows it changed and the
new watermarks, as Arrow IPC blobs: no per-row SQL); when the deltas since the partition's
last *snapshot* outgrow it, the engine writes a new snapshot (without the closed windows) and
the older entries are deleted. Loading a partition is its last snapshot plus the deltas after
it, later rows winning. ``positions`` holds per source (topic, partition) the last offset
whose effect the state holds.

State is split by source partition because a partition has one owner at a time in a consumer
group: the owner appends to its partitions' logs only, so processors never write the same
rows, and a processor that is given a partition loads that partition's state. An entity's
state lives with the partition of its events (the source topic is keyed by entity).

The handler stores a batch's aggregates through the ``FeatureStore`` first and commits the
state (with the positions) after, in one transaction. A crash before the state commit replays
the batch from the old state: the same values, which the identity rule makes no-ops. A crash
after it replays records at or below the stored positions: they are skipped, so no event
counts twice. A commit names the positions its cached state started from and fails with
``WindowStateConflict`` when another processor moved one of them since (a rebalance while
the batch was in flight): a compare-and-set per partition, no global lock.

Backends: ``SqliteWindowState`` (a file, one host: embedded stores) and
``PostgresWindowState`` (tables in the PostgreSQL offline store: processors on many hosts).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

from fstore.errors import ConflictError

# accumulator columns: events, non-null values, their sum/min/max, the latest non-null value
# (by event time, then arrival position) and the set of distinct values
NUMERIC = ("count", "n", "sum", "min", "max", "last_ts", "last_pos")
OBJECTS = ("last_value", "distinct")
TP = tuple[str, int]


class WindowStateConflict(ConflictError):
    """A source partition's position moved since the state of the batch was loaded: another
    processor handled the partition meanwhile (its ``partitions`` must be reloaded)."""

    def __init__(self, partitions: Sequence[TP]) -> None:
        super().__init__(
            f"window state of {sorted(partitions)} changed elsewhere", partitions=list(partitions)
        )
        self.partitions = list(partitions)


def empty_windows(index: pd.Index | None = None) -> pd.DataFrame:
    """Accumulators with no value yet for ``index`` (default: none, by (entity, start))."""
    if index is None:
        index = pd.MultiIndex(
            levels=[pd.Index([], dtype=object), pd.Index([], dtype=np.int64)],
            codes=[[], []],
            names=["entity", "start"],
        )
    n = len(index)
    columns: dict[str, Any] = {c: np.full(n, np.nan) for c in NUMERIC}
    columns.update({c: np.full(n, None, dtype=object) for c in OBJECTS})
    return pd.DataFrame(columns, index=index)


def no_marks() -> pd.Series:
    return pd.Series([], dtype=np.int64)


@dataclass
class StateDelta:
    """What one batch changes in one aggregation's state of one source partition
    (``snapshot``: the partition's whole state)."""

    key: str
    partition: int = 0
    upserts: pd.DataFrame = field(default_factory=empty_windows)
    marks: pd.Series = field(default_factory=no_marks)
    dropped: int = 0
    snapshot: bool = False

    def encoded(self) -> tuple[str, int, bool, bytes, bytes, int]:
        return (
            self.key,
            self.partition,
            self.snapshot,
            _encode_windows(self.upserts),
            _encode_marks(self.marks),
            self.dropped,
        )


Loaded = tuple[pd.DataFrame, pd.Series, int]


class WindowState(Protocol):
    """Where the engine keeps its window state (see the module docstring)."""

    async def positions(self) -> dict[TP, int]:
        """Per source (topic, partition), the last offset whose effect the state holds."""
        ...

    async def load(self, key: str, partition: int) -> Loaded:
        """One aggregation's windows, watermarks and dropped count in one source partition."""
        ...

    async def commit(
        self, deltas: Sequence[StateDelta], positions: dict[TP, int], expected: dict[TP, int | None]
    ) -> None:
        """Append the deltas and set the positions in one transaction; ``expected`` are the
        positions the deltas were computed from (None: none yet). Raises
        ``WindowStateConflict`` (and commits nothing) when one of them is not the stored one."""
        ...

    async def forget_positions(self, topics: Iterable[str]) -> None:
        """Drop the recorded positions of ``topics``: their log was replaced (a broker whose
        storage is memory only was restarted, so offsets start at 0 again)."""
        ...

    async def forget_features(self, features: Iterable[str]) -> None:
        """Drop the window state of ``features`` (every definition of each): a feature deleted
        and registered again starts afresh."""
        ...

    async def close(self) -> None: ...


def decode_log(rows: Sequence[tuple[bytes, bytes, int]]) -> Loaded:
    """The state a partition's log rows (windows, marks, dropped; oldest first) add up to."""
    if not rows:
        return empty_windows(), no_marks(), 0
    windows = pd.concat([_decode_windows(bytes(w)) for w, _, _ in rows])
    windows = windows[~windows.index.duplicated(keep="last")]
    marks = pd.concat([_decode_marks(bytes(m)) for _, m, _ in rows])
    marks = marks.groupby(level=0).max().astype(np.int64)
    return windows, marks, sum(int(d) for _, _, d in rows)


def _encode_windows(frame: pd.DataFrame) -> bytes:
    columns: dict[str, Any] = {
        "entity": pa.array(frame.index.get_level_values(0).to_numpy(object), pa.string()),
        "start": pa.array(frame.index.get_level_values(1).to_numpy(np.int64)),
    }
    # a column without any value (those the function does not use) is left out
    for c in NUMERIC:
        values = frame[c].to_numpy(np.float64)
        if not np.isnan(values).all():
            columns[c] = pa.array(values)
    # values of any JSON type (the last value) and sets of them (distinct values) go as JSON text
    for c in OBJECTS:
        if frame[c].notna().any():
            columns[c] = pa.array([_json_cell(v) for v in frame[c].tolist()], pa.string())
    return _ipc(pa.table(columns))


def _json_cell(value: Any) -> str | None:
    if isinstance(value, set):
        return orjson.dumps(sorted(value, key=repr)).decode()
    if value is None or value != value:  # NaN: no value
        return None
    return orjson.dumps(value).decode()


def _decode_windows(blob: bytes) -> pd.DataFrame:
    table = pa.ipc.open_stream(blob).read_all()
    if table.num_rows == 0:
        return empty_windows()
    index = pd.MultiIndex.from_arrays(
        [
            pd.Index(table.column("entity").to_pylist(), dtype=object),
            pd.Index(table.column("start").to_numpy(), dtype=np.int64),
        ],
        names=["entity", "start"],
    )
    n, names = table.num_rows, set(table.column_names)
    data: dict[str, Any] = {
        c: table.column(c).to_numpy() if c in names else np.full(n, np.nan) for c in NUMERIC
    }
    data["last_value"], data["distinct"] = np.full(n, None, dtype=object), np.full(n, None, dtype=object)
    if "last_value" in names:
        last = table.column("last_value").to_pylist()
        data["last_value"] = objects([None if v is None else orjson.loads(v) for v in last])
    if "distinct" in names:
        data["distinct"] = objects(
            [
                None if v is None else {tuple(x) if isinstance(x, list) else x for x in orjson.loads(v)}
                for v in table.column("distinct").to_pylist()
            ]
        )
    return pd.DataFrame(data, index=index)


def objects(items: list[Any]) -> np.ndarray:
    """An object array of ``items`` (lists stay single cells)."""
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out


def _encode_marks(marks: pd.Series) -> bytes:
    return _ipc(
        pa.table(
            {
                "entity": pa.array(marks.index.to_numpy(object), pa.string()),
                "mark": pa.array(marks.to_numpy(np.int64)),
            }
        )
    )


def _decode_marks(blob: bytes) -> pd.Series:
    table = pa.ipc.open_stream(blob).read_all()
    return pd.Series(
        table.column("mark").to_numpy(), index=table.column("entity").to_pylist(), dtype=np.int64
    )


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()
