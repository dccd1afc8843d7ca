"""The ``fstore`` command line (Typer + rich).

Only Typer and the CLI's own modules load at import time; the store, pandas, pyarrow and
pydantic load inside the commands, so ``fstore --help`` is fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from fstore.cli import (
    aggregations,
    data,
    entities,
    features,
    groups,
    history,
    processor,
    spark,
    store_home,
    system,
    users,
    values,
    versions,
)
from fstore.cli.runner import LocalCommand, classify, guard, report, set_json_errors, set_target

__all__ = ["app", "main"]


class GuardedGroup(TyperGroup):
    """Runs every command under ``guard``: user errors print ``error: …`` and exit with the
    error's code (also under ``typer.testing.CliRunner``, which bypasses ``main``)."""

    def invoke(self, ctx: Any) -> Any:
        set_json_errors(_asks_json(ctx))
        with guard():
            return super().invoke(ctx)


def _asks_json(ctx: Any) -> bool:
    """Whether the command line (after the root options) asks for ``--json`` output."""
    protected = getattr(ctx, "_protected_args", None)  # click 8.2; ``protected_args`` before
    args = [*(protected if protected is not None else ctx.protected_args), *ctx.args]
    if "--" in args:
        args = args[: args.index("--")]
    return "--json" in args


app = typer.Typer(
    name="fstore",
    cls=GuardedGroup,
    help="FStore: a feature store — registry, versioned transformers, online and offline values.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = version("fstore")
        except PackageNotFoundError:  # run from a source tree that is not installed
            from fstore import __version__ as installed
        typer.echo(f"fstore {installed}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            envvar="FSTORE_HOME",
            help="Directory of the embedded stores \\[default: ./.fstore].",
            show_default=False,
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            envvar="FSTORE_URL",
            help="Run the commands on this FStore server (http://host:port) instead of the local stores.",
            show_default=False,
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="FSTORE_TOKEN",
            help="Access token or API key for the --url server.",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """FStore: a feature store — registry, versioned transformers, online and offline values."""
    source = ctx.get_parameter_source("home")
    named = {"COMMANDLINE": "--home", "ENVIRONMENT": "FSTORE_HOME"}.get(getattr(source, "name", ""))
    set_target(home, url, token, named)


app.add_typer(entities.app, name="entities")
app.add_typer(features.app, name="features")
app.add_typer(groups.app, name="groups")
app.add_typer(versions.app, name="versions")
app.add_typer(values.app, name="values")
app.add_typer(processor.app, name="processor")
app.add_typer(aggregations.app, name="aggregations")
app.add_typer(spark.app, name="spark")
# cls=LocalCommand marks the commands that act on the local stores directly (no API route for
# them, or they are about the local installation): they refuse to run with --url. So does
# `users create-admin` (in users.py): bootstrapping the first admin needs the stores. The other
# users, api-keys and audit commands run on the server's admin routes with --url.
app.add_typer(users.app, name="users")
app.add_typer(users.keys_app, name="api-keys")
app.command("audit")(users.audit)
app.command("fit")(versions.fit)
app.command("ingest", cls=LocalCommand)(data.ingest)
app.command("training-set")(data.training_set)
app.command("materialize")(data.materialize)
app.command("stats")(data.stats)
app.command("history")(history.history)
app.command("lineage")(history.lineage)
app.command("health")(system.health)
app.command("doctor", cls=LocalCommand, help="Check every local store (health checks the --url server's).")(
    system.health
)
app.command("init", cls=LocalCommand)(store_home.init)
app.command("demo", cls=LocalCommand)(system.demo)
app.command("serve", cls=LocalCommand)(system.serve)


def main(argv: list[str] | None = None) -> None:
    """The console script: ``fstore …``."""
    try:
        app(args=argv, prog_name="fstore")
    except SystemExit:
        raise
    except BaseException as exc:  # errors raised outside a command (main's safety net)
        handled = classify(exc)
        if handled is None:
            raise
        report(handled)
        sys.exit(handled.code)
