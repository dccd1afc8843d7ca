"""Durable window state of the aggregation engine: a log in a SQLite file.

Per aggregation (``key``: feature name and definition fingerprint) the state is the
accumulators of its windows per (entity, window start), each entity's watermark and how many
late window updates were dropped. Each batch appends one *delta* per aggregation (the windows
it changed and the new watermarks, as Arrow IPC blobs: no per-row SQL); when the deltas since
the last *snapshot* outgrow the state, the engine writes a new snapshot (without the closed
windows) and the older entries are deleted. Loading is the last snapshot plus the deltas after
it, later rows winning. ``positions`` holds per source (topic, partition) the last offset
whose effect the state holds.

The handler stores a batch's aggregates through the ``FeatureStore`` first and commits the
state (with the positions) after, in one SQLite transaction. A crash before the state commit
replays the batch from the old state: the same values, which the identity rule makes no-ops.
A crash after it replays records at or below the stored positions: they are skipped, so no
event counts twice. Processors that share a consumer group must share this file (one host or
a shared volume); a processor notices another one's commits (``PRAGMA data_version``) and
reloads, so a partition that moves between processors keeps its state.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa

# accumulator columns: events, non-null values, their sum/min/max, the latest non-null value
# (by event time, then arrival position) and the set of distinct values
NUMERIC = ("count", "n", "sum", "min", "max", "last_ts", "last_pos")
OBJECTS = ("last_value", "distinct")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS state_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    snapshot INTEGER NOT NULL,
    windows BLOB NOT NULL,
    marks BLOB NOT NULL,
    dropped INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS state_log_key ON state_log (key, snapshot, seq);
CREATE TABLE IF NOT EXISTS positions (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
);
"""


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


@dataclass
class StateDelta:
    """What one batch changes in one aggregation's state (``snapshot``: the whole state)."""

    key: str
    upserts: pd.DataFrame = field(default_factory=empty_windows)
    marks: pd.Series = field(default_factory=lambda: pd.Series([], dtype=np.int64))
    dropped: int = 0
    snapshot: bool = False


class WindowStateStore:
    """The SQLite file of window state (``":memory:"`` for a throwaway one, as the backfill uses)."""

    def __init__(self, path: Path | str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # the state must not roll back behind Kafka's committed offsets: fsync every commit
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(_SCHEMA)
        self._version = self.data_version()

    def close(self) -> None:
        self._db.close()

    def data_version(self) -> int:
        return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def changed_elsewhere(self) -> bool:
        """True once after another connection committed (the caller reloads its cache)."""
        version = self.data_version()
        changed, self._version = version != self._version, version
        return changed

    def positions(self) -> dict[tuple[str, int], int]:
        rows = self._db.execute("SELECT topic, partition, offset FROM positions")
        return {(t, p): o for t, p, o in rows}

    def forget_positions(self, topics: Iterable[str]) -> None:
        """Drop the recorded positions of ``topics``: their log was replaced (a broker whose
        storage is memory only was restarted, so offsets start at 0 again)."""
        self._write("DELETE FROM positions WHERE topic = ?", [(t,) for t in topics])

    def forget_features(self, features: Iterable[str]) -> None:
        """Drop the window state of ``features`` (every definition of each): a feature deleted
        and registered again starts afresh."""
        self._write(
            "DELETE FROM state_log WHERE substr(key, 1, ?) = ?", [(len(f) + 1, f"{f}:") for f in features]
        )

    def _write(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany(sql, rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def load(self, key: str) -> tuple[pd.DataFrame, pd.Series, int]:
        """One aggregation's windows, watermarks and dropped count: the last snapshot and the
        deltas after it."""
        rows = self._db.execute(
            "SELECT windows, marks, dropped FROM state_log WHERE key = ? AND seq >= COALESCE("
            "(SELECT MAX(seq) FROM state_log WHERE key = ? AND snapshot = 1), 0) ORDER BY seq",
            (key, key),
        ).fetchall()
        if not rows:
            return empty_windows(), pd.Series([], dtype=np.int64), 0
        windows = pd.concat([_decode_windows(w) for w, _, _ in rows])
        windows = windows[~windows.index.duplicated(keep="last")]
        marks = pd.concat([_decode_marks(m) for _, m, _ in rows])
        marks = marks.groupby(level=0).max().astype(np.int64)
        return windows, marks, sum(d for _, _, d in rows)

    def commit(self, deltas: Iterable[StateDelta], positions: dict[tuple[str, int], int]) -> None:
        """Append the batch's deltas (and snapshots) and the source positions, in one transaction."""
        entries = [
            (d.key, int(d.snapshot), _encode_windows(d.upserts), _encode_marks(d.marks), d.dropped)
            for d in deltas
        ]
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for key, snapshot, windows, marks, dropped in entries:
                cursor = db.execute(
                    "INSERT INTO state_log (key, snapshot, windows, marks, dropped) VALUES (?,?,?,?,?)",
                    (key, snapshot, windows, marks, dropped),
                )
                if snapshot:
                    db.execute("DELETE FROM state_log WHERE key = ? AND seq < ?", (key, cursor.lastrowid))
            db.executemany(
                "INSERT OR REPLACE INTO positions VALUES (?,?,?)",
                [(t, p, o) for (t, p), o in positions.items()],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._version = self.data_version()


def _encode_windows(frame: pd.DataFrame) -> bytes:
    columns: dict[str, Any] = {
        "entity": pa.array(frame.index.get_level_values(0).to_numpy(object), pa.string()),
        "start": pa.array(frame.index.get_level_values(1).to_numpy(np.int64)),
    }
    for c in NUMERIC:
        columns[c] = pa.array(frame[c].to_numpy(np.float64))
    # values of any JSON type (the last value) and sets of them (distinct values) go as JSON text
    for c in OBJECTS:
        items = frame[c].tolist()
        if any(isinstance(v, set) or (v is not None and v == v) for v in items):
            columns[c] = pa.array([_json_cell(v) for v in items], pa.string())
        else:
            columns[c] = pa.nulls(len(frame), pa.string())
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
    data: dict[str, Any] = {c: table.column(c).to_numpy() for c in NUMERIC}
    last = table.column("last_value").to_pylist()
    data["last_value"] = np.array([None if v is None else orjson.loads(v) for v in last], dtype=object)
    distinct = table.column("distinct").to_pylist()
    data["distinct"] = np.array(
        [
            None if v is None else {tuple(x) if isinstance(x, list) else x for x in orjson.loads(v)}
            for v in distinct
        ],
        dtype=object,
    )
    return pd.DataFrame(data, index=index)


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
