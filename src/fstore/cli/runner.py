"""Opening the store (or a client of the server given by ``--url``), running a coroutine
against it, and turning errors into exit codes.

With ``--url`` / ``FSTORE_URL`` every command runs on an ``AsyncClient``, which offers the
``FeatureStore`` methods the commands call (and those of ``Directory`` and the audit log:
``run_part``); commands that only make sense on local stores are registered with
``LocalCommand`` and refuse to run.

Nothing heavy is imported at module level: the store, pydantic, httpx and the backends load
only when a command runs, so ``fstore --help`` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import typer
from typer.core import TyperCommand

if TYPE_CHECKING:
    from fstore.config import Settings
    from fstore.store import FeatureStore

T = TypeVar("T")
S = TypeVar("S")

_state: dict[str, Any] = {"home": None, "url": None, "token": None}

HELP_OPTIONS = {"-h", "--help"}


def set_target(home: Path | None, url: str | None = None, token: str | None = None) -> None:
    """Called by the root callback on every invocation: the local stores' home (``--home`` /
    ``FSTORE_HOME``), or the server to talk to (``--url`` / ``FSTORE_URL``, ``--token`` /
    ``FSTORE_TOKEN``)."""
    _state.update(home=home, url=url or None, token=token or None)


def remote_url() -> str | None:
    url: str | None = _state["url"]
    return url


def refuse_remote(ctx: Any) -> None:
    if remote_url() is not None:
        raise fail(
            f"'{ctx.command_path}' works on the local stores only, not on a server: "
            "drop --url (or unset FSTORE_URL)",
            2,
        )


class LocalCommand(TyperCommand):
    """A command that acts on the local stores directly (demo, serve, ingest…). It refuses
    before its arguments are parsed, so it does not prompt (for a password…) first."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not HELP_OPTIONS & set(args):
            refuse_remote(ctx)
        return super().parse_args(ctx, args)


def settings(*, long_running: bool = False) -> Settings:
    """The command's settings. A one-shot command publishes its value-change events from its
    own process (``events_publisher="thread"``) unless told otherwise: it ends right after its
    write, so a publisher process would only add its start-up to the wait."""
    from fstore.config import Settings

    home = _state["home"]
    config = Settings(home=home) if home is not None else Settings()
    if not long_running and "events_publisher" not in config.model_fields_set:
        config = config.model_copy(update={"events_publisher": "thread"})
    return config


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
    from fstore.backends.storage_errors import storage_error

    typed = storage_error(exc, "local")  # a full or read-only disk outside the stores' calls
    if typed is not None:
        return typed.exit_code, _one_line(typed.message)
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
    from fstore.streaming.outbox import set_source

    set_source("cli")  # the command's writes publish events with the source ``cli``
    store = FeatureStore(settings())
    try:
        await store.open()
        return await fn(store)
    finally:
        await store.close()


async def _with_client(fn: Callable[[FeatureStore], Awaitable[T]]) -> T:
    from fstore.client import AsyncClient

    async with AsyncClient(_state["url"], _state["token"]) as client:
        # The client offers the FeatureStore methods the commands call.
        return await fn(cast("FeatureStore", client))


def run(fn: Callable[[FeatureStore], Awaitable[T]]) -> T:
    """Open the store (or a client of the ``--url`` server), await ``fn(store)``, close it;
    errors handled by ``guard``."""
    import asyncio

    with guard():
        return asyncio.run(_with_client(fn) if remote_url() else _with_store(fn))


def run_part(part: Callable[[FeatureStore], S], fn: Callable[[S], Awaitable[T]]) -> T:
    """``run`` for a command on one part of the local stores (``part(store)``: the users'
    ``Directory``, the offline store's audit log): with ``--url``, ``fn`` gets the client,
    which offers the same methods."""
    if remote_url():
        return run(lambda client: fn(cast(S, client)))
    return run(lambda store: fn(part(store)))
