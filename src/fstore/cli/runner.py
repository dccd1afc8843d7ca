"""Opening the store, running a coroutine against it, and turning errors into exit codes.

Nothing heavy is imported at module level: the store, pydantic and the backends load only
when a command runs, so ``fstore --help`` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

if TYPE_CHECKING:
    from fstore.config import Settings
    from fstore.store import FeatureStore

T = TypeVar("T")

_state: dict[str, Any] = {"home": None}


def set_home(home: Path | None) -> None:
    """Called by the root callback on every invocation (``--home`` / ``FSTORE_HOME``)."""
    _state["home"] = home


def settings() -> Settings:
    from fstore.config import Settings

    home = _state["home"]
    return Settings(home=home) if home is not None else Settings()


def _one_line(text: str) -> str:
    return " ".join(str(text).split()) or "unknown error"


def classify(exc: BaseException) -> tuple[int, str] | None:
    """(exit code, one-line message) for an error a user can cause; None for a bug."""
    from fstore.errors import FStoreError

    if isinstance(exc, FStoreError):
        return exc.exit_code, _one_line(exc.message)
    if isinstance(exc, KeyboardInterrupt):
        return 130, "interrupted"
    if type(exc).__name__ == "ValidationError" and type(exc).__module__.startswith("pydantic"):
        errors = exc.errors()  # type: ignore[attr-defined]
        if not errors:
            return 2, _one_line(str(exc))
        first = errors[0]
        msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        loc = ".".join(str(p) for p in first.get("loc", ()))
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return 2, _one_line(f"{loc}: {msg}{more}" if loc else f"{msg}{more}")
    if isinstance(exc, FileNotFoundError):
        return 2, _one_line(f"{exc.filename or exc}: no such file")
    if isinstance(exc, IsADirectoryError):
        return 2, _one_line(f"{exc.filename or exc}: is a directory")
    if isinstance(exc, PermissionError):
        return 2, _one_line(f"{exc.filename or exc}: permission denied")
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return 2, _one_line(f"{where}{exc.strerror or exc}")
    return None


def report_error(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` and return the Exit to raise."""
    report_error(_one_line(message))
    return typer.Exit(code)


@contextmanager
def guard() -> Iterator[None]:
    """User errors become ``error: …`` on stderr and the error's exit code (no traceback)."""
    try:
        yield
    except (typer.Exit, typer.Abort, BrokenPipeError):  # Typer exits quietly on a closed pipe
        raise
    except BaseException as exc:
        handled = classify(exc)
        if handled is None:
            raise
        code, message = handled
        report_error(message)
        raise typer.Exit(code) from None


async def _with_store(fn: Callable[[FeatureStore], Awaitable[T]]) -> T:
    from fstore.store import FeatureStore

    store = FeatureStore(settings())
    try:
        await store.open()
        return await fn(store)
    finally:
        await store.close()


def run(fn: Callable[[FeatureStore], Awaitable[T]]) -> T:
    """Open the store, await ``fn(store)``, close the store; errors handled by ``guard``."""
    import asyncio

    with guard():
        return asyncio.run(_with_store(fn))
