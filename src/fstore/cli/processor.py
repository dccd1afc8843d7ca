"""``fstore processor run``: the Feature Processor (Kafka ingest topic → the stores)."""

from __future__ import annotations

from typing import Annotated

import typer

from fstore.cli.runner import LocalCommand

app = typer.Typer(
    help="The Feature Processor: store the events of the Kafka ingest topic.", no_args_is_help=True
)


@app.command("run", cls=LocalCommand)
def run(
    group_id: Annotated[
        str, typer.Option("--group-id", help="Consumer group; processors in one group share the partitions.")
    ] = "fstore-processor",
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Most events per micro-batch.")
    ] = 10_000,
    batch_timeout: Annotated[
        float, typer.Option("--batch-timeout", min=0.001, help="Seconds a micro-batch waits to fill up.")
    ] = 0.05,
    metrics_port: Annotated[
        int | None,
        typer.Option("--metrics-port", min=1, max=65535, help="Serve /metrics and /health on this port."),
    ] = None,
    topics: Annotated[
        list[str] | None,
        typer.Option("--topic", help="Ingest topic to consume (repeatable) \\[default: <prefix>ingest]."),
    ] = None,
) -> None:
    """Consume ingest events (FSTORE_KAFKA_BOOTSTRAP_SERVERS) until SIGTERM or Ctrl-C: validate,
    transform and store them in micro-batches, dead-letter the invalid ones, then commit.

    Logs go to stderr, one JSON object per line unless FSTORE_LOG_JSON=false."""
    import asyncio
    import logging.config

    from fstore.api.observability import logging_config
    from fstore.cli.runner import guard, settings
    from fstore.streaming.processor import ProcessorOptions, run_processor

    with guard():
        config = settings(long_running=True)
        logging.config.dictConfig(logging_config(config.log_json))
        options = ProcessorOptions(group_id=group_id, batch_size=batch_size, batch_timeout=batch_timeout)
        asyncio.run(run_processor(config, options, ingest_topics=topics, metrics_port=metrics_port))
