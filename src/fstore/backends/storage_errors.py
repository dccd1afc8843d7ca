"""Recognising "the disk is full" and "the store is read-only" in whatever a backend driver
raises (an ``OSError``, SQLite's or DuckDB's messages, a PostgreSQL SQLSTATE, Redis' OOM
answer), so that every backend reports them as the same typed errors."""

from __future__ import annotations

import errno

from fstore.errors import FStoreError, ReadOnlyStoreError, StorageFullError, StoreUnavailableError

_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_READ_ONLY_ERRNOS = {errno.EROFS}
_FULL_SQLSTATES = {"53100", "53200"}  # disk_full, out_of_memory
_READ_ONLY_SQLSTATES = {"25006"}  # read_only_sql_transaction
_FULL_TEXT = ("no space left on device", "database or disk is full", "disk quota exceeded", "file too large")
_FULL_TEXT += ("oom command not allowed",)
_READ_ONLY_TEXT = ("read-only file system", "readonly database", "read-only transaction")


def _kind(exc: BaseException) -> str | None:
    code = getattr(exc, "errno", None)
    if code in _FULL_ERRNOS:
        return "full"
    if code in _READ_ONLY_ERRNOS:
        return "read-only"
    state = getattr(exc, "sqlstate", None)
    if state in _FULL_SQLSTATES:
        return "full"
    if state in _READ_ONLY_SQLSTATES:
        return "read-only"
    text = str(exc).lower()
    if any(t in text for t in _FULL_TEXT):
        return "full"
    if any(t in text for t in _READ_ONLY_TEXT):
        return "read-only"
    return None


def storage_error(exc: BaseException, store: str) -> FStoreError | None:
    """The typed error for a full or read-only store (looking through the causes), else None."""
    if isinstance(exc, FStoreError) and type(exc) is not StoreUnavailableError:
        return None
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return None
        kind = _kind(seen)
        if kind == "full":
            return StorageFullError(
                f"the {store} store is full: {_first_line(seen)} (free space and retry)", store=store
            )
        if kind == "read-only":
            return ReadOnlyStoreError(
                f"the {store} store is read-only: {_first_line(seen)} (reads still work)", store=store
            )
        seen = seen.__cause__ or seen.__context__
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
