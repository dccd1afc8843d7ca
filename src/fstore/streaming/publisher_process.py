"""The event publisher as a child process (``events_publisher="process"``, the default).

Publishing costs ~5–9 µs of CPU per event (Arrow encoding, the produce loop holding the GIL,
librdkafka), several times what ingesting a value costs: in a thread of the writing process it
slows the writes running beside it by up to half. The child process holds none of the writer's
GIL and runs at idle priority (``run_when_idle``): it takes only the CPU the writes leave.

The writer hands its committed outbox entries over by releasing them (they become free in the
outbox) and pokes the child; the child claims free entries — any process's — reads their rows
back from the offline history and produces them, exactly as a thread publisher does with the
entries others left. The pipe between them:

* parent → child: one line of settings (JSON), then a byte per hand-over; end of file (the
  parent closed or died) makes the child publish what is free for at most ``CLOSE_SECONDS``
  and exit;
* child → parent: a JSON line of totals after each round (published, failures, backlog), for
  the parent's metrics, and its log records, which the parent logs as its own (so they take
  the parent's format: one JSON object per line in a server).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

import orjson

from fstore.config import Settings

log = logging.getLogger(__name__)

# what the child needs: the offline store (where the outbox and the history are) and Kafka
CHILD_SETTINGS = {"home", "offline_url", "kafka_bootstrap_servers", "kafka_topic_prefix", "kafka_config"}


def run_when_idle(pid: int = 0) -> None:
    """Give ``pid`` (0: this process; threads it creates later inherit it) the CPU only when
    nothing else wants it: Linux's ``SCHED_IDLE`` (a weight of 3 against a normal task's 1,024,
    so it still progresses under load), elsewhere a nice of ``PUBLISHER_NICE``."""
    try:
        os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        from fstore.streaming.outbox import PUBLISHER_NICE

        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, pid, PUBLISHER_NICE)


class PublisherProcess:
    """The parent's side: starts the child, pokes it, keeps its last reported totals."""

    def __init__(self, settings: Settings) -> None:
        config = settings.model_dump(mode="json", include=CHILD_SETTINGS)
        config["home"] = str(settings.home.resolve())
        self._config = orjson.dumps(config) + b"\n"
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()  # pokes come from the event loop and from close
        self.published = 0
        self.failures = 0
        self.backlog = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "fstore.streaming.publisher_process"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        run_when_idle(self._proc.pid)  # from its start-up on (it does it itself too)
        # a poke never blocks the writer: a full pipe already holds pokes the child will read
        os.set_blocking(self._proc.stdin.fileno(), False)  # type: ignore[union-attr]
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(self._config)
        self._proc.stdin.flush()
        self._reader = threading.Thread(
            target=self._read_reports, args=(self._proc.stdout,), name="fstore-publisher-reports", daemon=True
        )
        self._reader.start()

    def _read_reports(self, out: IO[bytes]) -> None:
        for line in out:
            with contextlib.suppress(orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                report = orjson.loads(line)
                if "log" in report:
                    level, name, message = report["log"]
                    logging.getLogger(name).log(int(level), "event publisher process: %s", message)
                    continue
                self.published, self.failures, self.backlog = (
                    int(report["published"]),
                    int(report["failures"]),
                    int(report["backlog"]),
                )

    def poke(self) -> None:
        """New entries are free in the outbox: publish them now rather than at the next poll."""
        proc = self._proc
        if proc is None or proc.stdin is None:
            return
        # full (BlockingIOError) or gone (``alive`` tells): nothing to do
        with self._lock, contextlib.suppress(OSError, ValueError):
            os.write(proc.stdin.fileno(), b"\n")

    def stop(self, timeout: float) -> int | None:
        """Close the pipe (the child publishes what is free, then exits) and wait up to
        ``timeout`` seconds; kill it beyond. Blocking. Returns its exit code."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        with self._lock, contextlib.suppress(OSError, ValueError):
            proc.stdin.close()  # type: ignore[union-attr]
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("the event publisher process did not stop in %.0f s: killed", timeout)
            proc.kill()
            code = proc.wait()
        if self._reader is not None:
            self._reader.join(1.0)
        return code


# -- the child --------------------------------------------------------------------------------


async def publish_until_closed(settings: Settings, closed: asyncio.Event, wake: asyncio.Event) -> None:
    """Publish the outbox's free entries: a round whenever ``wake`` is set (and every
    ``POLL_SECONDS``), until ``closed``; then the rest for at most ``CLOSE_SECONDS``."""
    from fstore.backends import create_offline_store
    from fstore.streaming.outbox import CLOSE_SECONDS, POLL_SECONDS, EventOutbox

    offline = create_offline_store(settings.resolved_offline_url())
    await offline.open()
    outbox = EventOutbox(settings.model_copy(update={"events_publisher": "thread"}), offline)
    outbox.start(background=False)
    report = _reporter(outbox)

    async def cut_short() -> None:  # a round in progress when the parent goes gets CLOSE_SECONDS
        await closed.wait()
        outbox.cut_off(time.monotonic() + CLOSE_SECONDS)

    watcher = asyncio.create_task(cut_short())
    try:
        while not closed.is_set():
            wake.clear()
            more = await _round(outbox)
            report()
            if not more:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), POLL_SECONDS)
        deadline = time.monotonic() + CLOSE_SECONDS
        while (left := deadline - time.monotonic()) > 0.5 and await _round(outbox, left):
            report()
        report()
    finally:
        watcher.cancel()
        await outbox.close()
        await offline.close()


async def _round(outbox: Any, wait: float | None = None) -> bool:
    """One round of free entries; True when it was full (more may be waiting)."""
    try:
        return await outbox.publish_free(wait)
    except Exception as exc:  # the offline store down, …: the next round retries
        log.warning("the event outbox failed: %s", exc)
        return False


def _reporter(outbox: Any) -> Callable[[], None]:
    last: list[tuple[int, int, int]] = []

    def report() -> None:
        totals = (outbox.published, outbox.failures, outbox.backlog)
        if last and last[0] == totals:
            return
        last[:] = [totals]
        _to_parent({"published": totals[0], "failures": totals[1], "backlog": totals[2]})

    return report


_OUT = threading.Lock()


def _to_parent(message: dict[str, Any]) -> None:
    with _OUT, contextlib.suppress(OSError, ValueError):  # the parent is gone
        sys.stdout.buffer.write(orjson.dumps(message) + b"\n")
        sys.stdout.buffer.flush()


class _LogToParent(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        _to_parent({"log": [record.levelno, record.name, self.format(record)]})


def _watch_stdin(loop: asyncio.AbstractEventLoop, closed: asyncio.Event, wake: asyncio.Event) -> None:
    with contextlib.suppress(RuntimeError):  # the loop ended (SIGTERM) while the parent lives
        for _ in sys.stdin.buffer:
            loop.call_soon_threadsafe(wake.set)
        loop.call_soon_threadsafe(closed.set)
        loop.call_soon_threadsafe(wake.set)


async def _main() -> None:
    settings = Settings(**orjson.loads(sys.stdin.buffer.readline()))
    if not settings.kafka_bootstrap_servers:
        return
    closed, wake = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    # Ctrl-C reaches the whole process group: the parent's close (end of file) stops the child,
    # after it published what the parent handed over; SIGTERM stops it the same way
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    loop.add_signal_handler(signal.SIGTERM, lambda: (closed.set(), wake.set()))
    threading.Thread(target=_watch_stdin, args=(loop, closed, wake), daemon=True).start()
    await publish_until_closed(settings, closed, wake)


def main() -> None:
    run_when_idle()
    logging.basicConfig(level=logging.WARNING, handlers=[_LogToParent()], format="%(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main())


if __name__ == "__main__":
    main()
