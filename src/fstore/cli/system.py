"""``fstore health``, ``fstore demo`` and ``fstore serve``."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fstore.cli.options import JsonOpt
from fstore.cli.output import emit, kv_table, table
from fstore.cli.progress import progress
from fstore.cli.runner import fail, run

if TYPE_CHECKING:
    import logging

    import uvicorn

    from fstore.config import Settings
    from fstore.store import FeatureStore
    from fstore.streaming.local_broker import LocalBroker

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
    stream: Annotated[
        bool,
        typer.Option(
            "--stream",
            help="Then stream live transactions through the Feature Processor and show the online "
            "aggregates (Kafka: FSTORE_KAFKA_BOOTSTRAP_SERVERS, else a local broker).",
        ),
    ] = False,
    rate: Annotated[
        float, typer.Option("--rate", min=1, max=100_000, help="With --stream: transactions per second.")
    ] = 200.0,
    duration: Annotated[
        float | None,
        typer.Option("--duration", min=0.1, help="With --stream: seconds to run [default: until Ctrl-C]."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Load the demo: register features, ingest history, fit, serve and export a training set;
    with --stream, then run the streaming path live (an already loaded demo is reused)."""
    from fstore.demo import DemoConfig, run_demo

    config = DemoConfig(customers=customers, events_per_customer=events, days=days, seed=seed)
    if stream:
        from fstore.cli.demo_stream import stream_demo

        stream_demo(config, rate=rate, duration=duration, reset=reset, as_json=as_json)
        return

    async def go(store: Any) -> Any:
        with progress("running the demo", as_json) as step:
            return await run_demo(store, config, output, reset_first=reset, on_step=step.describe)

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
    dev: Annotated[
        bool,
        typer.Option("--dev", help="Development mode: no FSTORE_SECRET_KEY needed, --no-auth allowed."),
    ] = False,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="No authentication: everyone is admin (only with --dev).")
    ] = False,
    demo: Annotated[
        bool, typer.Option("--demo", help="First load the demo data, if the store has no features yet.")
    ] = False,
    stream: Annotated[
        bool,
        typer.Option(
            "--stream",
            help="With --demo: stream live demo transactions through the Feature Processor while the "
            "server runs (Kafka: FSTORE_KAFKA_BOOTSTRAP_SERVERS, else a local broker).",
        ),
    ] = False,
    rate: Annotated[
        float, typer.Option("--rate", min=1, max=100_000, help="With --stream: transactions per second.")
    ] = 200.0,
    ssl_certfile: Annotated[
        Path | None, typer.Option("--ssl-certfile", help="TLS certificate (PEM); with --ssl-keyfile.")
    ] = None,
    ssl_keyfile: Annotated[
        Path | None, typer.Option("--ssl-keyfile", help="TLS private key (PEM); with --ssl-certfile.")
    ] = None,
) -> None:
    """Start the REST API on the configured stores (Swagger UI at /docs).

    Outside dev mode the API needs FSTORE_SECRET_KEY (exit code 6 without it). Logs go to
    stderr, one JSON object per line unless FSTORE_LOG_JSON=false."""
    import logging
    import logging.config

    from fstore.api.observability import logging_config
    from fstore.cli.runner import guard, settings

    with guard():  # every failure to start is one "error: …" line and a non-zero exit
        base = settings(long_running=True)
        if no_auth and not (dev or base.dev_mode):
            raise fail("--no-auth needs --dev: authentication can only be disabled in development mode", 6)
        if (no_auth or base.auth_disabled) and not _is_loopback(host):
            raise fail(
                f"authentication is disabled, so the API may only listen on a loopback address, not {host} "
                "(whoever reached it would be admin); use --host 127.0.0.1 or turn authentication on",
                6,
            )
        if stream and not demo:
            raise fail("--stream needs --demo: it streams the demo's transactions", 2)
        if (ssl_certfile is None) != (ssl_keyfile is None):
            raise fail("give both --ssl-certfile and --ssl-keyfile, or neither", 2)
        for path in (ssl_certfile, ssl_keyfile):
            if path is not None and not path.is_file():
                raise fail(f"{path}: no such file", 2)
        update: dict[str, Any] = {}
        if dev:
            update["dev_mode"] = True
        if no_auth:
            update["auth_disabled"] = True
        config = base.model_copy(update=update)
        log_config = logging_config(config.log_json)
        logging.config.dictConfig(log_config)
        log = logging.getLogger("fstore.serve")
        broker = None
        if stream:
            from fstore.streaming.demo_stream import prepare_broker

            config, broker = prepare_broker(config)
    try:
        with guard():
            server, sock = _prepare(
                config, host, port, log_config, ssl_certfile, ssl_keyfile, demo, log, stream
            )
            if stream:
                _stream_alongside(server, rate, broker)
        tls = ssl_certfile is not None
        url = f"{'https' if tls else 'http'}://{_url_host(host)}:{port}"
        log.info("FStore API at %s (dashboard: %s/, Swagger UI: %s/docs)", url, url, url)
        if stream:
            from fstore.demo_aggregates import NAMES
            from fstore.streaming.demo_producer import TransactionGenerator

            busiest = TransactionGenerator().busiest(1)[0]
            log.info("live aggregates: %s/api/v1/features/%s/values/%s", url, NAMES[0], busiest)
        server.run(sockets=[sock])
    finally:
        if broker is not None:
            broker.stop()
    if not server.started:  # the store failed in the lifespan after all (uvicorn logged why)
        raise fail("the API could not start: see the log above", UNAVAILABLE_EXIT)


def _stream_alongside(server: uvicorn.Server, rate: float, broker: LocalBroker | None) -> None:
    from fstore.streaming.demo_stream import StreamOptions, with_demo_stream

    options = StreamOptions(rate=rate, fresh_broker=broker is not None)
    with_demo_stream(server.config.app, options, broker)


def _prepare(
    config: Settings,
    host: str,
    port: int,
    log_config: dict[str, Any],
    certfile: Path | None,
    keyfile: Path | None,
    demo: bool,
    log: logging.Logger,
    stream: bool = False,
) -> tuple[uvicorn.Server, socket.socket]:
    """Everything that can fail before serving, done before uvicorn runs (whose start-up
    failures are tracebacks): the app and its settings, the stores reachable, the TLS files
    loaded, the port bound."""
    import asyncio
    import ssl

    import uvicorn

    from fstore.api import create_app
    from fstore.errors import ConfigurationError
    from fstore.store import FeatureStore

    app = create_app(settings=config)
    if demo:
        _load_demo(config, log, stream)
    else:
        asyncio.run(_reach(FeatureStore(config)))
    server_config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=log_config,
        log_level="info",
        access_log=False,  # the API writes its own access log (request id, route, actor)
        server_header=False,  # no banner naming the server software
        proxy_headers=False,  # X-Forwarded-For counts only from FSTORE_TRUSTED_PROXIES (fstore.api.security)
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
    )
    try:
        server_config.load()  # reads the TLS files
    except ssl.SSLError as exc:
        raise ConfigurationError(f"cannot use the TLS certificate or key: {exc.reason or exc}") from None
    return uvicorn.Server(server_config), _bind(host, port)


async def _reach(store: FeatureStore) -> None:
    try:
        await store.open()
    finally:
        await store.close()


def _bind(host: str, port: int) -> socket.socket:
    from fstore.errors import ConfigurationError

    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError:
            sock.close()
            raise
    except OSError as exc:
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def _load_demo(config: Settings, log: logging.Logger, stream: bool) -> None:
    """What ``fstore demo`` does with its defaults, unless the store already has features."""
    import asyncio

    from fstore.demo import DemoConfig, load_for_stream, run_demo
    from fstore.store import FeatureStore

    demo = DemoConfig()

    async def load() -> int | None:
        async with FeatureStore(config) as store:
            if not await store.list_features():
                return (await run_demo(store, demo)).values_ingested
            if stream:  # the stream needs the demo's aggregations (an older demo lacks them)
                report = await load_for_stream(store, demo)
                return report.values_ingested if report is not None else None
            return None

    loaded = asyncio.run(load())
    if loaded is None:
        log.info("the store already has features: the demo is not loaded")
    else:
        log.info("demo loaded: %d values of %d customers", loaded, demo.customers)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
