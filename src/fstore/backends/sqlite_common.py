"""What the embedded SQLite stores share: how a connection is opened and how a write runs.

Several processes (an API server and a CLI command) may use the same files at once, so:

* WAL journal: readers never block the writer and the writer never blocks readers;
* ``BEGIN IMMEDIATE`` for every write transaction: the write lock is taken at the start, so
  concurrent writers queue on ``busy_timeout`` instead of failing with ``SQLITE_BUSY`` when a
  read transaction tries to upgrade to a write;
* ``isolation_level=None``: the ``sqlite3`` module starts no transaction by itself.

The calls are synchronous on purpose: a local SQLite call takes microseconds, less than a hop
to a worker thread would.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fstore.backends import url_path
from fstore.errors import StorageFullError, StoreUnavailableError

BUSY_TIMEOUT_MS = 10_000


def sqlite_path(url: str) -> Path:
    """The database file of a ``sqlite:///relative.db`` or ``sqlite:////absolute.db`` URL."""
    return url_path(url)


def connect(path: Path, store: str) -> sqlite3.Connection:
    """Open ``path`` (creating its parent directories) with the settings every store uses.

    Raises ``StoreUnavailableError`` naming ``store`` when the file cannot be opened.
    """
    conn: sqlite3.Connection | None = None
    try:
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists() and not os.access(path.parent, os.W_OK):
                return _connect_read_only(path)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # busy_timeout first: switching to WAL needs a lock another process may hold.
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        _switch_to_wal(conn)
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn
    except (sqlite3.Error, OSError) as exc:
        if conn is not None:
            conn.close()
        if _disk_full(path):  # SQLite only says "disk I/O error" when it cannot make its WAL files
            raise StorageFullError(
                f"cannot open the {store} store at {path}: the disk is full", store=store
            ) from exc
        raise StoreUnavailableError(f"cannot open the {store} store at {path}: {exc}", store=store) from exc


def _switch_to_wal(conn: sqlite3.Connection) -> None:
    """``journal_mode = WAL``, tried again while another process holds the lock it needs:
    processes creating a new file at the same moment get SQLITE_BUSY at once here (SQLite
    skips the busy handler where waiting could deadlock), not after ``busy_timeout``."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def _disk_full(path: Path) -> bool:
    try:
        stat = os.statvfs(path.parent)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < 64 * 1024


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A store on a read-only mount: reads work, writes fail as read-only. A WAL database
    needs its ``-shm`` file, which cannot be created there; ``immutable`` reads without it
    (nothing can change the file on a read-only mount)."""
    uri = path.resolve().as_uri()
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA user_version").fetchone()
    except sqlite3.Error:
        conn = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None, check_same_thread=False)
    return conn


def migrate(
    conn: sqlite3.Connection, store: str, migrations: list[Callable[[sqlite3.Connection], None]]
) -> None:
    """Bring the schema to ``len(migrations)`` (``PRAGMA user_version``), idempotently.

    ``migrations[i]`` takes the schema from version ``i`` to ``i + 1``; all pending ones run in
    one write transaction, so two processes opening a new file at once do not race.
    """
    target = len(migrations)
    if conn.execute("PRAGMA user_version").fetchone()[0] == target:
        return  # up to date: no write (a read-only store opens too)
    with write_transaction(conn, store):
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > target:
            raise StoreUnavailableError(
                f"the {store} store has schema version {version}, newer than this FStore "
                f"understands ({target}); upgrade FStore",
                store=store,
            )
        for step in migrations[version:]:
            step(conn)
        if version != target:
            conn.execute(f"PRAGMA user_version = {target}")


@contextmanager
def write_transaction(
    conn: sqlite3.Connection, store: str, lock: threading.Lock | None = None
) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``; any exception rolls back and propagates.

    ``lock`` serialises threads sharing one connection (a connection has one transaction).
    A lock still held by another process after ``busy_timeout`` is ``StoreUnavailableError``.
    """
    if lock is not None:
        lock.acquire()
    try:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise unavailable(store, exc) from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError):
                raise unavailable(store, exc) from exc
            raise
    finally:
        if lock is not None:
            lock.release()


class LazySqlite:
    """A SQLite connection opened by ``opener`` on first use and shared by threads; ``lock``
    serialises its use."""

    def __init__(self, opener: Callable[[], sqlite3.Connection]) -> None:
        self._opener = opener
        self._conn: sqlite3.Connection | None = None
        self.lock = threading.Lock()

    @property
    def opened(self) -> bool:
        return self._conn is not None

    def get(self) -> sqlite3.Connection:
        conn = self._conn
        if conn is None:
            with self.lock:
                if self._conn is None:
                    self._conn = self._opener()
                conn = self._conn
        return conn

    def close(self) -> None:
        with self.lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class SqliteFile:
    """A small SQLite file beside a store (the repair ledger, the outbox): connected and
    brought to its schema (``migrate``) on first use, shared by threads."""

    def __init__(self, path: Path, store: str, steps: Sequence[Callable[[sqlite3.Connection], None]]) -> None:
        self.path = path
        self._store = store
        self._steps = list(steps)
        self._db = LazySqlite(self._open)

    def _open(self) -> sqlite3.Connection:
        conn = connect(self.path, self._store)
        migrate(conn, self._store, self._steps)
        return conn

    def close(self) -> None:
        self._db.close()


def unavailable(store: str, exc: BaseException) -> StoreUnavailableError:
    return StoreUnavailableError(f"the {store} store failed: {exc}", store=store)


def not_open(store: str) -> StoreUnavailableError:
    return StoreUnavailableError(f"the {store} store is not open", store=store)


def ping_info(conn: sqlite3.Connection | None, path: Path, store: str) -> dict[str, Any]:
    if conn is None:
        raise not_open(store)
    try:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    except sqlite3.Error as exc:
        raise unavailable(store, exc) from exc
    return {
        "backend": "sqlite",
        "version": sqlite3.sqlite_version,
        "path": str(path.resolve()) if str(path) != ":memory:" else ":memory:",
        "journal_mode": mode,
    }
