"""Who publishes the value-change events: by default a child process of the writer (the writes
keep their CPU and the GIL); a thread of the writer for one-shot CLI commands, and when the
child dies. Against the real broker (Tansu)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from events_out_support import T1, T2, prefix, read_events, registered

from fstore import FeatureStore


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) is not alive
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"


async def published(fs: FeatureStore, count: int, wait: float = 60.0) -> None:
    deadline = time.monotonic() + wait
    while fs.events.published < count and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    assert fs.events.published == count


async def test_a_child_process_publishes_and_a_thread_takes_over_when_it_dies(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    topic_prefix = prefix()
    fs = FeatureStore(
        home=tmp_path / "fstore", kafka_bootstrap_servers=kafka_bootstrap, kafka_topic_prefix=topic_prefix
    )
    async with fs:
        await registered(fs)
        assert fs.settings.events_publisher == "process"
        child = fs.events.publisher_pid
        assert child is not None and child != os.getpid() and alive(child)
        await fs.store_feature_values(
            "amount",
            [
                {"entity_id": "c1", "value": 1.0, "event_timestamp": T1},
                {"entity_id": "c2", "value": 2.0, "event_timestamp": T1},
            ],
        )
        await published(fs, 2)
        os.kill(child, signal.SIGKILL)
        await fs.store_feature_value("amount", "c1", 3.0, T2)  # handed over, then the child is found dead
        await published(fs, 3)
        assert fs.events.publisher_pid is None  # published by this process now
    assert not alive(child)
    events = read_events(kafka_bootstrap, f"{topic_prefix}feature-values", expected=3)
    assert sorted((e.entity_id, e.value) for _, e in events) == [("c1", 1.0), ("c1", 3.0), ("c2", 2.0)]


WRITER = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from fstore import FeatureStore

    async def main():
        home, bootstrap, topic_prefix = sys.argv[1:4]
        fs = FeatureStore(home=home, kafka_bootstrap_servers=bootstrap, kafka_topic_prefix=topic_prefix)
        await fs.open()
        at = "2026-01-01T00:00:00Z"
        rows = [{"entity_id": f"c{i}", "value": float(i), "event_timestamp": at} for i in range(50)]
        await fs.store_feature_values("amount", rows)
        print(fs.events.publisher_pid, flush=True)
        await asyncio.sleep(0.5)  # the entries are handed over, maybe not yet published
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main())
    """
)


async def test_a_killed_writer_s_child_publishes_what_it_was_handed_then_exits(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    home, topic_prefix = tmp_path / "fstore", prefix()
    async with FeatureStore(home=home) as fs:
        await registered(fs)
    writer = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", WRITER, str(home), kafka_bootstrap, topic_prefix],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert writer.returncode == -signal.SIGKILL, writer.stderr
    child = int(writer.stdout.split()[0])
    events = read_events(kafka_bootstrap, f"{topic_prefix}feature-values", expected=50)
    assert sorted(int(e.entity_id[1:]) for _, e in events) == list(range(50))
    deadline = time.monotonic() + 30
    while alive(child) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    assert not alive(child)  # no orphan left behind
    async with FeatureStore(home=home) as fs:
        assert await fs.offline.outbox_backlog() == 0


@pytest.mark.parametrize(
    ("env", "long_running", "expected"),
    [
        ({}, False, "thread"),  # a one-shot command: publishing from its own process
        ({}, True, "process"),  # fstore serve, fstore processor run
        ({"FSTORE_EVENTS_PUBLISHER": "process"}, False, "process"),  # what the user says wins
        ({"FSTORE_EVENTS_PUBLISHER": "external"}, True, "external"),
    ],
)
def test_the_cli_s_publisher(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], long_running: bool, expected: str
) -> None:
    from fstore.cli.runner import settings

    monkeypatch.delenv("FSTORE_EVENTS_PUBLISHER", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert settings(long_running=long_running).events_publisher == expected


def test_a_stopped_child_never_blocks_the_writer_s_pokes(tmp_path: Path) -> None:
    """The writer pokes the child through a pipe after every write; a child that does not read
    it (stopped, swapped out) must not stall the writes once the pipe is full."""
    from fstore.config import Settings
    from fstore.streaming.publisher_process import PublisherProcess

    child = PublisherProcess(Settings(home=tmp_path / "fs", kafka_bootstrap_servers="127.0.0.1:9"))
    child.start()
    assert child.pid is not None
    os.kill(child.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        for _ in range(200_000):  # ~3 pipe buffers of pokes
            child.poke()
        assert time.monotonic() - started < 30  # a blocking write would hang here for good
    finally:
        os.kill(child.pid, signal.SIGCONT)
        assert child.stop(10) is not None
