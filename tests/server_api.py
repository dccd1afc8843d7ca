"""The REST API served by a real uvicorn in a background thread of the test process, for
tests that talk HTTP over loopback (the client, schemathesis). ``tests/e2e/test_serve.py``
starts ``fstore serve`` as a subprocess instead, to test the command itself."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from fstore import FeatureStore, Settings
from fstore.api import create_app
from fstore.auth import Directory, Role
from server_redis import free_port


@contextmanager
def api_server(settings: Settings) -> Iterator[str]:
    """``create_app(settings=…)`` on a free port until the block ends; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(create_app(settings=settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "the server thread died while starting"
        assert time.monotonic() < deadline, "the server did not start within 20 s"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def create_users(fs: FeatureStore, password: str, users: dict[str, Role]) -> Directory:
    """The first admin ``root`` and ``users`` (name → role), all with ``password``."""
    directory = Directory(fs.metadata)
    await directory.create_first_admin("root", password)
    for name, role in users.items():
        await directory.create_user(name, password, role)
    return directory
