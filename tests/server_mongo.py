"""A SecantusDB server (MongoDB wire protocol) for the tests and the benchmark.

SecantusDB is GPL: it runs here only as a separate process (``secantusd-py``), never imported.
One server per test session (it takes ~1 s to start and 3–7 s to stop); each test uses its own
database on it. If the server cannot start the fixture raises: a missing server is a failure,
never a skip.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from processes import stop_process

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
_LISTENING = re.compile(r"listening on ([0-9.]+):(\d+)")


def _daemon() -> str:
    exe = Path(sys.executable).with_name("secantusd-py")
    found = str(exe) if exe.exists() else shutil.which("secantusd-py")
    if found is None:
        raise RuntimeError("secantusd-py not found: install the test extra (SecantusDB)")
    return found


def database_url(base: str, database: str) -> str:
    """``base`` (``mongodb://host:port/?options``) with ``database`` as its path."""
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def _ping(url: str) -> bool:
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    client: MongoClient = MongoClient(url, serverSelectionTimeoutMS=500, connectTimeoutMS=500)
    try:
        client.admin.command("ping")
        return True
    except PyMongoError:
        return False
    finally:
        client.close()


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM (a clean shutdown takes SecantusDB 3–7 s), SIGKILL after ``STOP_TIMEOUT``."""
    stop_process(proc, signal.SIGTERM, STOP_TIMEOUT)


@contextmanager
def secantus_server(storage: Path) -> Iterator[str]:
    """Start ``secantusd-py`` on a free port with its data in ``storage``; yield its base URL
    ``mongodb://127.0.0.1:PORT/?retryWrites=false``; stop it on exit.

    ``retryWrites=false``: with retryable writes SecantusDB slows down after ~10,000 writes.
    Raises ``RuntimeError`` (with the server's log) if it does not answer in time.
    """
    storage.mkdir(parents=True, exist_ok=True)
    log_path = storage.parent / f"{storage.name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                _daemon(),
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--storage-path",
                str(storage),
                "--log-level",
                "INFO",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        url = _wait_ready(proc, log_path)
        yield url
    finally:
        stop(proc)


def _wait_ready(proc: subprocess.Popen, log_path: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    url = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if url is None:
            found = _LISTENING.search(log_path.read_text(errors="replace"))
            if found:
                url = f"mongodb://{found[1]}:{found[2]}/?retryWrites=false"
        if url is not None and _ping(url):
            return url
        time.sleep(0.05)
    output = log_path.read_text(errors="replace")[-4000:]
    state = f"exited with {proc.returncode}" if proc.poll() is not None else "did not answer in time"
    raise RuntimeError(f"SecantusDB test server {state}; its log:\n{output}")


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a SecantusDB server for the whole session; tests pick their own database
    (``database_url(mongo_server, f"fstore_{uuid4().hex}")``)."""
    with secantus_server(tmp_path_factory.mktemp("secantus") / "data") as url:
        yield url


def drop_database(url: str) -> None:
    """Drop the database named by ``url`` (a test's cleanup; errors are ignored)."""
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    client: MongoClient = MongoClient(url, serverSelectionTimeoutMS=2000)
    try:
        client.drop_database(client.get_default_database())
    except PyMongoError:
        pass
    finally:
        client.close()
