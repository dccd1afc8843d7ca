"""Publishing the segments of several features as one unit (the embedded store's
multi-feature write).

A writer stages every segment (``*.tmp`` files, fsynced), then creates a pending marker
``<root>/.txn/<name>.txn`` listing them — holding an exclusive ``flock`` on it from before it
is visible until it is deleted — renames the segments into place, fsyncs their directories
and deletes the marker: that deletion publishes them all at once. Readers list a feature's
segments first and the markers second, and ignore segments a marker names: a segment they
list was renamed while its marker existed, so either they see the marker or the write is
complete. A marker nobody holds a lock on belongs to a dead writer: ``recover`` (run when
the store opens) deletes its segments, then the marker. (``.txn`` is not a valid feature
name, so it cannot collide with a feature directory.)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from fstore.backends.offline.segments import Staged, remove_if_dead

TXN_DIR = ".txn"


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Transactions:
    """Pending markers of multi-feature writes under ``root``; their lists cached by name."""

    def __init__(self, root: Path) -> None:
        self.dir = root / TXN_DIR
        self._lists: dict[str, frozenset[tuple[str, str]]] = {}

    def pending(self) -> frozenset[tuple[str, str]]:
        """(feature id, segment name) of every segment a pending marker names."""
        try:
            names = [e.name for e in os.scandir(self.dir) if e.name.endswith(".txn")]
        except FileNotFoundError:
            return frozenset()
        if not names:
            return frozenset()
        out: set[tuple[str, str]] = set()
        for name in names:
            listed = self._lists.get(name)
            if listed is None:
                try:
                    listed = self._read(self.dir / name)
                except FileNotFoundError:
                    continue  # published meanwhile
                self._lists[name] = listed
            out |= listed
        if len(self._lists) > len(names) + 64:
            for gone in set(self._lists) - set(names):
                self._lists.pop(gone, None)
        return frozenset(out)

    @staticmethod
    def _read(path: Path) -> frozenset[tuple[str, str]]:
        entries = json.loads(path.read_bytes() or b"[]")
        return frozenset((str(f), str(n)) for f, n in entries)

    def publish(self, staged: Sequence[tuple[str, Staged]]) -> None:
        """Rename every staged segment into place as one unit (see the module docstring)."""
        self.dir.mkdir(exist_ok=True)
        name = f"{time.time_ns():020d}-{secrets.token_hex(6)}.txn"
        marker = self.dir / name
        tmp = self.dir / f"{name}.tmp"
        f: BinaryIO = tmp.open("wb")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            f.write(json.dumps([[fid, s.segment.name] for fid, s in staged]).encode())
            f.flush()
            os.fsync(f.fileno())
            tmp.replace(marker)  # visible, and locked since before
            _fsync_dir(self.dir)
            try:
                for _, s in staged:
                    s.publish()
                for directory in {s.segment.path.parent for _, s in staged}:
                    _fsync_dir(directory)
            except BaseException:
                for _, s in staged:
                    s.discard()
                marker.unlink(missing_ok=True)
                raise
            marker.unlink()
            _fsync_dir(self.dir)
        finally:
            tmp.unlink(missing_ok=True)
            f.close()

    def recover(self, root: Path) -> None:
        """Roll back the writes of dead writers (their markers and segments) and delete their
        temporary files, in ``.txn`` and in every feature directory."""
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.dir):
                path = Path(entry.path)
                if entry.name.endswith(".txn"):
                    self._roll_back(root, path)
                elif entry.name.endswith(".tmp"):
                    remove_if_dead(path)
        with contextlib.suppress(FileNotFoundError):
            for feature in os.scandir(root):
                if not feature.is_dir() or feature.name == TXN_DIR:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    for entry in os.scandir(feature.path):
                        if entry.name.endswith(".tmp"):
                            remove_if_dead(Path(entry.path))

    def _roll_back(self, root: Path, marker: Path) -> None:
        try:
            f = marker.open("rb")
        except FileNotFoundError:
            return
        with f:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # its writer is alive
            try:
                if marker.stat().st_ino != os.fstat(f.fileno()).st_ino:
                    return
            except FileNotFoundError:
                return  # published meanwhile
            try:
                entries = json.loads(f.read() or b"[]")
            except ValueError:
                entries = []  # never completed: its segments were never renamed
            for fid, name in entries:
                directory = root / str(fid)
                (directory / str(name)).unlink(missing_ok=True)
                (directory / f"{name}.tmp").unlink(missing_ok=True)
            marker.unlink(missing_ok=True)
