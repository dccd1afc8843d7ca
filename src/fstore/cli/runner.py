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

import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

import typer
from typer.core import TyperCommand

if TYPE_CHECKING:
    from fstore.config import Settings
    from fstore.store import FeatureStore

T = TypeVar("T")
S = TypeVar("S")

_state: dict[str, Any] = {
    "home": None,
    "home_source": "the default, ./.fstore",
    "url": None,
    "token": None,
    "json_errors": False,
}

HELP_OPTIONS = {"-h", "--help"}


def set_target(
    home: Path | None, url: str | None = None, token: str | None = None, home_source: str | None = None
) -> None:
    """Called by the root callback on every invocation: the local stores' home (``--home`` /
    ``FSTORE_HOME``; ``home_source`` says which, for errors), or the server to talk to
    (``--url`` / ``FSTORE_URL``, ``--token`` / ``FSTORE_TOKEN``)."""
    source = home_source or "the default, ./.fstore (or FSTORE_HOME in .env)"
    _state.update(home=home, url=url or None, token=token or None, home_source=source)


def home_source() -> str:
    """Where the home came from (``--home``, ``FSTORE_HOME`` or the default), for errors."""
    source: str = _state["home_source"]
    return source


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


class Failure(NamedTuple):
    """A user error as the CLI reports it: exit code, one-line message, error type."""

    code: int
    message: str
    kind: str


def classify(exc: BaseException) -> Failure | None:
    """The failure to report for an error a user can cause; None for a bug."""
    from fstore.errors import FStoreError
    from fstore.extras import missing_extra

    exc = missing_extra(exc) or exc  # an optional package not installed: name its extra
    if isinstance(exc, FStoreError):
        return Failure(exc.exit_code, _one_line(exc.message), type(exc).__name__)
    if isinstance(exc, KeyboardInterrupt):
        return Failure(130, "interrupted", "Interrupted")
    if type(exc).__name__ == "ValidationError" and type(exc).__module__.startswith("pydantic"):
        errors = exc.errors()  # type: ignore[attr-defined]
        if not errors:
            return Failure(2, _one_line(str(exc)), "ValidationError")
        first = errors[0]
        msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        loc = ".".join(str(p) for p in first.get("loc", ()))
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return Failure(2, _one_line(f"{loc}: {msg}{more}" if loc else f"{msg}{more}"), "ValidationError")
    from fstore.backends.storage_errors import storage_error

    typed = storage_error(exc, "local")  # a full or read-only disk outside the stores' calls
    if typed is not None:
        return Failure(typed.exit_code, _one_line(typed.message), type(typed).__name__)
    if isinstance(exc, FileNotFoundError):
        return Failure(2, _one_line(f"{exc.filename or exc}: no such file"), "FileNotFoundError")
    if isinstance(exc, IsADirectoryError):
        return Failure(2, _one_line(f"{exc.filename or exc}: is a directory"), "IsADirectoryError")
    if isinstance(exc, PermissionError):
        return Failure(2, _one_line(f"{exc.filename or exc}: permission denied"), "PermissionError")
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return Failure(2, _one_line(f"{where}{exc.strerror or exc}"), type(exc).__name__)
    return None


def set_json_errors(enabled: bool) -> None:
    """With ``--json``, errors are reported as JSON too (``report``)."""
    _state["json_errors"] = enabled


# the error type reported for a ``fail`` without one, by exit code
_FAIL_KINDS = {2: "UsageError", 6: "ConfigurationError", 7: "StoreUnavailableError"}


def report(failure: Failure) -> None:
    """The failure on stderr: ``error: message``, or with ``--json`` one line of JSON,
    ``{"error": {"type": …, "message": …, "exit_code": …}}`` (stdout keeps only results)."""
    if _state["json_errors"]:
        error = {"type": failure.kind, "message": failure.message, "exit_code": failure.code}
        line = json.dumps({"error": error})
    else:
        line = f"error: {failure.message}"
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def report_error(message: str, code: int = 1, kind: str | None = None) -> None:
    report(Failure(code, _one_line(message), kind or _FAIL_KINDS.get(code, "Error")))


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` and return the Exit to raise."""
    report_error(message, code)
    return typer.Exit(code)


def click_part(name: str) -> Any:
    """A module of the click that Typer runs on (``exceptions``, ``globals``): its vendored
    copy (``typer._click``) in recent Typer releases, else the click package's."""
    import importlib

    try:
        return importlib.import_module(f"typer._click.{name}")
    except ImportError:
        return importlib.import_module(f"click.{name}")


@contextmanager
def guard() -> Iterator[None]:
    """User errors become ``error: …`` on stderr and the error's exit code (no traceback);
    with ``--json`` a JSON object, usage errors included."""
    clicks = click_part("exceptions")
    try:
        yield
    except (typer.Exit, typer.Abort, BrokenPipeError):  # Typer exits quietly on a closed pipe
        raise
    except clicks.ClickException as exc:
        if not _state["json_errors"]:
            raise  # click prints the usage and the message
        kind = "UsageError" if isinstance(exc, clicks.UsageError) else type(exc).__name__
        report(Failure(exc.exit_code, _one_line(exc.format_message()), kind))
        raise typer.Exit(exc.exit_code) from None
    except BaseException as exc:
        handled = classify(exc)
        if handled is None:
            raise
        report(handled)
        raise typer.Exit(handled.code) from None


async def _with_store(fn: Callable[[FeatureStore], Awaitable[T]]) -> T:
    from fstore.cli.store_home import check_store
    from fstore.store import FeatureStore
    from fstore.streaming.outbox import set_source

    set_source("cli")  # the command's writes publish events with the source ``cli``
    config = settings()
    if check_store(config, home_source()) and not _state["json_errors"]:
        from fstore.cli.output import console

        console(stderr=True).print(f"note: creating a new store in {config.home.absolute()}", markup=False)
    store = FeatureStore(config)
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
