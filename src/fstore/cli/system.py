"""``fstore health``, ``fstore demo`` and ``fstore serve``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from fstore.cli.options import JsonOpt
from fstore.cli.output import console, emit, kv_table, progress_enabled, table
from fstore.cli.runner import run

UNAVAILABLE_EXIT = 7


def health(as_json: JsonOpt = False) -> None:
    """Check every backing store (exit code 7 if one is not ok)."""
    report: dict[str, Any] = run(lambda store: store.health())

    def human() -> None:
        rows = []
        for name, info in report.items():
            rest = {k: v for k, v in info.items() if k not in ("ok", "latency_ms", "version", "error")}
            detail = info.get("error") or ", ".join(f"{k}={v}" for k, v in rest.items())
            rows.append(
                [
                    name,
                    "ok" if info.get("ok") else "FAIL",
                    info.get("version"),
                    info.get("latency_ms"),
                    detail,
                ]
            )
        table(["store", "status", "version", "latency ms", "detail"], rows, "Health")

    emit(report, as_json, human)
    if not all(info.get("ok") for info in report.values()):
        raise typer.Exit(UNAVAILABLE_EXIT)


def demo(
    customers: Annotated[int, typer.Option("--customers", min=1, help="Number of customers.")] = 1_000,
    events: Annotated[int, typer.Option("--events", min=1, help="Transactions per customer.")] = 20,
    days: Annotated[int, typer.Option("--days", min=1, help="Days of history.")] = 60,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 42,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Directory for the training set (default: the home)."),
    ] = None,
    reset: Annotated[bool, typer.Option("--reset", help="Remove a previously loaded demo first.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Load the demo: register features, ingest history, fit, serve and export a training set."""
    from fstore.demo import DemoConfig, run_demo

    config = DemoConfig(customers=customers, events_per_customer=events, days=days, seed=seed)

    async def go(store: Any) -> Any:
        if not progress_enabled(as_json):
            return await run_demo(store, config, output, reset_first=reset)
        with console(stderr=True).status("running the demo…"):
            return await run_demo(store, config, output, reset_first=reset)

    report = run(go)

    def human() -> None:
        kv_table(dict(report.summary()), "FStore demo")
        if report.vector:
            key, *names = list(report.vector)
            ids = report.vector[key]
            table(
                ["feature", *map(str, ids)],
                ([name, *report.vector[name]] for name in names),
                f"Online feature vector ({key} {', '.join(map(str, ids))})",
            )

    emit(report.to_dict(), as_json, human)


def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
) -> None:
    """Start the REST API on the configured stores (Swagger UI at /docs).

    The API has no authentication yet (it comes with JWT/RBAC): keep it on localhost."""
    import uvicorn

    from fstore.api import create_app
    from fstore.cli.runner import settings

    if host not in ("127.0.0.1", "localhost", "::1"):
        console(stderr=True).print(
            f"[yellow]warning:[/] the API has no authentication yet and listens on {host}:{port}"
        )
    uvicorn.run(create_app(settings=settings()), host=host, port=port, log_level="info")
