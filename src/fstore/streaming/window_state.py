"""Durable window state of the aggregation engine: a SQLite file.

What it holds, per aggregation (``key``: feature name and definition fingerprint):
* ``windows``: the accumulators of every open window, per (entity, window start);
* ``marks``: each entity's watermark;
* ``dropped``: how many late window updates were refused;
and ``positions``: per source (topic, partition) the last offset whose effect the state holds.

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
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

# accumulator columns: events, non-null values, their sum/min/max, the latest non-null value
# (by event time, then arrival position) and the set of distinct values
NUMERIC = ("count", "n", "sum", "min", "max", "last_ts", "last_pos")
OBJECTS = ("last_value", "distinct")
COLUMNS = (*NUMERIC, *OBJECTS)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS windows (
    key TEXT NOT NULL, entity TEXT NOT NULL, start INTEGER NOT NULL,
    count INTEGER, n INTEGER, sum REAL, min REAL, max REAL, last_ts INTEGER, last_pos INTEGER,
    last_value TEXT, distinct_values TEXT,
    PRIMARY KEY (key, entity, start)
);
CREATE TABLE IF NOT EXISTS marks (
    key TEXT NOT NULL, entity TEXT NOT NULL, mark INTEGER NOT NULL, PRIMARY KEY (key, entity)
);
CREATE TABLE IF NOT EXISTS dropped (key TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS positions (
    topic TEXT NOT NULL, partition INTEGER NOT NULL, offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
);
"""


def empty_windows() -> pd.DataFrame:
    index = pd.MultiIndex.from_arrays([pd.Index([], dtype=object), pd.Index([], dtype=np.int64)])
    index.names = ["entity", "start"]
    frame = pd.DataFrame({c: pd.Series([], dtype=np.float64) for c in NUMERIC}, index=index)
    for c in OBJECTS:
        frame[c] = pd.Series([], dtype=object)
    return frame


class StateDelta:
    """What one batch changes in one aggregation's state."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.upserts = empty_windows()
        self.evicted: list[tuple[str, int]] = []
        self.marks = pd.Series([], dtype=np.int64)
        self.dropped = 0


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _loads(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


class WindowStateStore:
    """The SQLite file of window state (``":memory:"`` for a throwaway one, as the backfill uses)."""

    def __init__(self, path: Path | str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
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

    def load(self, key: str) -> tuple[pd.DataFrame, pd.Series, int]:
        """One aggregation's open windows, watermarks and dropped count."""
        rows = self._db.execute(
            "SELECT entity, start, count, n, sum, min, max, last_ts, last_pos, last_value,"
            " distinct_values FROM windows WHERE key = ?",
            (key,),
        ).fetchall()
        frame = empty_windows()
        if rows:
            cols = list(zip(*rows, strict=True))
            index = pd.MultiIndex.from_arrays(
                [pd.Index(cols[0], dtype=object), pd.Index(cols[1], dtype=np.int64)],
                names=["entity", "start"],
            )
            data: dict[str, Any] = {
                c: np.array(v, dtype=np.float64) for c, v in zip(NUMERIC, cols[2:9], strict=True)
            }
            data["last_value"] = pd.Series([_loads(v) for v in cols[9]], dtype=object).to_numpy()
            data["distinct"] = pd.Series(
                [None if v is None else {_hashable(x) for x in orjson.loads(v)} for v in cols[10]],
                dtype=object,
            ).to_numpy()
            frame = pd.DataFrame(data, index=index)
        marks = dict(self._db.execute("SELECT entity, mark FROM marks WHERE key = ?", (key,)).fetchall())
        found = self._db.execute("SELECT n FROM dropped WHERE key = ?", (key,)).fetchone()
        return frame, pd.Series(marks, dtype=np.int64), int(found[0]) if found else 0

    def commit(self, deltas: Iterable[StateDelta], positions: dict[tuple[str, int], int]) -> None:
        """Apply the batch's changes and the source positions in one transaction."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            for d in deltas:
                if d.evicted:
                    db.executemany(
                        "DELETE FROM windows WHERE key = ? AND entity = ? AND start = ?",
                        [(d.key, e, s) for e, s in d.evicted],
                    )
                db.executemany(
                    "INSERT OR REPLACE INTO windows VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    _window_rows(d.key, d.upserts),
                )
                db.executemany(
                    "INSERT OR REPLACE INTO marks VALUES (?,?,?)",
                    zip([d.key] * len(d.marks), d.marks.index.tolist(), d.marks.tolist(), strict=True),
                )
                if d.dropped:
                    db.execute(
                        "INSERT INTO dropped VALUES (?, ?)"
                        " ON CONFLICT (key) DO UPDATE SET n = n + excluded.n",
                        (d.key, d.dropped),
                    )
            db.executemany(
                "INSERT OR REPLACE INTO positions VALUES (?,?,?)",
                [(t, p, o) for (t, p), o in positions.items()],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._version = self.data_version()


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _window_rows(key: str, frame: pd.DataFrame) -> Iterable[tuple[Any, ...]]:
    if frame.empty:
        return []
    numeric = [frame[c].astype(object).where(frame[c].notna(), None).tolist() for c in NUMERIC]
    last = [_json(v) if v is not None and v == v else None for v in frame["last_value"].tolist()]  # NaN: none
    distinct = [
        _json(sorted(s, key=repr)) if isinstance(s, set) else None for s in frame["distinct"].tolist()
    ]
    entities = frame.index.get_level_values(0).tolist()
    starts = frame.index.get_level_values(1).tolist()
    return zip([key] * len(frame), entities, starts, *numeric, last, distinct, strict=True)
