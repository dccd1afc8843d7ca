"""``fstore serve`` as a subprocess on a free port, for the end-to-end tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from server_redis import free_port

# Servers in these tests run in dev mode without auth, so they keep working with auth on.
DEV_ENV = {"FSTORE_DEV_MODE": "true", "FSTORE_AUTH_DISABLED": "true"}


@dataclass
class Server:
    base: str
    proc: subprocess.Popen[str]
    stderr: str = ""
    lines: list[dict[str, Any]] = field(default_factory=list)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(f"{self.base}{path}", **{"timeout": 5, "verify": False, **kw})

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.post(f"{self.base}{path}", **{"timeout": 5, "verify": False, **kw})


def _env(home: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FSTORE_")}
    return {**env, "FSTORE_HOME": str(home), **extra}


def _json_line(line: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        pytest.fail(f"a log line of the server is not JSON: {line!r}")


@contextmanager
def serving(
    home: Path,
    *args: str,
    env: dict[str, str] | None = None,
    tls: bool = False,
    json_logs: bool = True,
    wait: float = 60,
) -> Iterator[Server]:
    """``fstore serve`` on a free port until the block ends; afterwards ``stderr`` holds the
    server's log and ``lines`` its lines parsed as JSON (each must be)."""
    port = free_port()
    cmd = [sys.executable, "-m", "fstore.cli", "serve", "--port", str(port), *args]
    with tempfile.TemporaryFile("w+") as log:  # a pipe nobody reads would stall a chatty server
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=log,
            text=True,
            env=_env(home, DEV_ENV if env is None else env),
        )
        server = Server(f"{'https' if tls else 'http'}://127.0.0.1:{port}", proc)
        try:
            deadline = time.monotonic() + wait
            while True:
                try:
                    if server.get("/health/live", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None:
                    log.seek(0)
                    pytest.fail(f"fstore serve exited with {proc.returncode}: {log.read()}")
                assert time.monotonic() < deadline, f"fstore serve did not answer within {wait} s"
                time.sleep(0.1)
            yield server
        finally:
            proc.terminate()
            proc.wait(timeout=15)
            log.seek(0)
            server.stderr = log.read()
        if json_logs:
            server.lines = [_json_line(line) for line in server.stderr.splitlines()]
