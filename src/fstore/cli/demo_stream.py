"""``fstore demo --stream``: load the demo, then run live transactions through the Feature
Processor and show the aggregates the online store serves, refreshed every second."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from typing import TYPE_CHECKING, Any

from fstore.cli.output import console, emit, fmt, kv_table

if TYPE_CHECKING:
    from rich.table import Table

    from fstore.demo import DemoConfig, DemoReport
    from fstore.serving import FeatureVector
    from fstore.streaming.demo_stream import DemoStream, StreamStats

REFRESH_SECONDS = 1.0


def stream_demo(
    config: DemoConfig, *, rate: float, duration: float | None, reset: bool, as_json: bool
) -> None:
    from fstore.cli.runner import guard, settings

    with guard():
        result = asyncio.run(_run(settings(), config, rate, duration, reset, live=not as_json))
    report, stats, final, broker = result
    data = {
        "demo_loaded": report.to_dict() if report is not None else None,
        "broker": broker,
        "stream": stats.to_dict(),
        "online": final.to_dict(),
    }

    def human() -> None:
        if report is not None:
            kv_table(dict(report.summary()), "FStore demo")
        rows = {"broker": broker, **{k.replace("_", " "): fmt(v) for k, v in stats.to_dict().items()}}
        kv_table(rows, "Streaming demo")
        console().print(_values_table(final, "Online aggregates at the end"))

    emit(data, as_json, human)


async def _run(
    base: Any, config: DemoConfig, rate: float, duration: float | None, reset: bool, *, live: bool
) -> tuple[DemoReport | None, StreamStats, FeatureVector, str]:
    from fstore.demo import load_for_stream
    from fstore.store import FeatureStore
    from fstore.streaming.demo_stream import DemoStream, StreamOptions, prepare_broker
    from fstore.streaming.outbox import set_source

    set_source("cli")
    settings, broker = prepare_broker(base)
    where = (
        f"local broker {broker.bootstrap} (memory only)" if broker else str(settings.kafka_bootstrap_servers)
    )
    try:
        async with FeatureStore(settings) as store:
            loading = console(stderr=True).status("loading the demo…") if live else contextlib.nullcontext()
            with loading:
                report = await load_for_stream(store, config, reset_first=reset)
            options = StreamOptions(rate=rate, demo=config, fresh_broker=broker is not None)
            stream = DemoStream(store, options)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            if duration is not None:
                loop.call_later(duration, stop.set)
            await stream.start()
            try:
                await (_show(stream, stop, where) if live else _wait(stream, stop))
            finally:
                stats = await stream.stop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.remove_signal_handler(sig)
            final = await stream.values()
    finally:
        if broker is not None:
            broker.stop()
    return report, stats, final, where


async def _wait(stream: DemoStream, stop: asyncio.Event) -> None:
    while not stop.is_set():
        stream.check()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), REFRESH_SECONDS)


async def _show(stream: DemoStream, stop: asyncio.Event, where: str) -> None:
    from rich.console import Group
    from rich.live import Live
    from rich.text import Text

    hint = Text(f"transactions → {stream.topic} on {where}\nCtrl-C to stop", style="dim")
    last, last_at = stream.stats(), time.monotonic()
    rates = (0.0, 0.0)
    with Live(Group(_values_table(await stream.values(), "starting…"), hint), console=console()) as view:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), REFRESH_SECONDS)
            stream.check()
            now, stats = time.monotonic(), stream.stats()
            elapsed = max(now - last_at, 1e-6)
            rates = ((stats.produced - last.produced) / elapsed, (stats.processed - last.processed) / elapsed)
            last, last_at = stats, now
            caption = (
                f"{rates[0]:,.0f} events/s produced · {rates[1]:,.0f}/s processed · "
                f"{stats.processed:,} events in {stats.seconds:,.0f} s"
            )
            values = _values_table(await stream.values(), "Online aggregates (live)", caption)
            view.update(Group(values, hint))


def _values_table(vector: FeatureVector, title: str, caption: str | None = None) -> Table:
    from rich.table import Table

    view = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    names = list(vector.values)
    for column in (vector.join_key, *names):
        view.add_column(column, justify="left" if column == vector.join_key else "right")
    for i, entity in enumerate(vector.entity_ids):
        cells = []
        for name in names:
            value = vector.values[name][i]
            cells.append(f"{value:,.2f}" if isinstance(value, float) else fmt(value))
        view.add_row(str(entity), *cells)
    return view
