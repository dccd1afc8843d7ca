"""Fixtures of the contract tests: every backend of a kind must pass the same tests.

A backend is a factory ``(request, tmp_path) -> store`` (not opened yet) in the list of its
kind, so adding one is a one-line change, e.g.::

    METADATA_BACKENDS = [
        pytest.param(make_sqlite_metadata, id="sqlite"),
        pytest.param(make_mongo_metadata, id="mongodb"),
    ]

(a server backend's factory gets its session-scoped server with
``request.getfixturevalue(...)`` and picks a fresh database or key prefix;
under CI=true a missing server fails the test, never skips it).
The tests reach a second client of the same store through ``create_*_store(store.url)``.

Concurrency tests start several processes on the same store URL, so they apply to every
backend (files shared by processes, or a server shared by clients).
"""

from __future__ import annotations

import asyncio
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from fstore.backends import create_metadata_store, create_online_store
from fstore.backends.metadata.base import MetadataStore
from fstore.backends.metadata.sqlite import SQLiteMetadataStore
from fstore.backends.offline.base import OfflineStore
from fstore.backends.offline.duckdb import DuckDBOfflineStore
from fstore.backends.online.base import OnlineStore
from fstore.backends.online.sqlite import SQLiteOnlineStore


def make_sqlite_metadata(request: pytest.FixtureRequest, tmp_path: Path) -> SQLiteMetadataStore:
    return SQLiteMetadataStore(f"sqlite:///{tmp_path / 'metadata.db'}")


def make_sqlite_online(request: pytest.FixtureRequest, tmp_path: Path) -> SQLiteOnlineStore:
    return SQLiteOnlineStore(f"sqlite:///{tmp_path / 'online.db'}")


def make_duckdb_offline(request: pytest.FixtureRequest, tmp_path: Path) -> DuckDBOfflineStore:
    return DuckDBOfflineStore(f"duckdb:///{tmp_path / 'offline'}")


def _redis_online(request: pytest.FixtureRequest, fixture: str) -> OnlineStore:
    """A fresh key prefix on the session's Redis server (or cluster), deleted after the test."""
    import uuid

    from fstore.backends.online.redis import RedisOnlineStore
    from server_redis import delete_prefix

    server = request.getfixturevalue(fixture)
    prefix = f"fstore-test-{uuid.uuid4().hex[:12]}:"
    request.addfinalizer(lambda: delete_prefix(server, prefix))
    sep = "&" if "?" in server else "?"
    return RedisOnlineStore(f"{server}{sep}prefix={prefix}")


def make_redis_online(request: pytest.FixtureRequest, tmp_path: Path) -> OnlineStore:
    return _redis_online(request, "redis_url")


def make_redis_cluster_online(request: pytest.FixtureRequest, tmp_path: Path) -> OnlineStore:
    return _redis_online(request, "redis_cluster")


def make_mongo_metadata(request: pytest.FixtureRequest, tmp_path: Path) -> MetadataStore:
    """A fresh database on the session's SecantusDB server, dropped after the test."""
    import uuid

    from fstore.backends.metadata.mongodb import MongoMetadataStore
    from server_mongo import database_url, drop_database

    url = database_url(request.getfixturevalue("mongo_server"), f"fstore_{uuid.uuid4().hex}")
    request.addfinalizer(lambda: drop_database(url))
    return MongoMetadataStore(url)


METADATA_BACKENDS = [
    pytest.param(make_sqlite_metadata, id="sqlite"),
    pytest.param(make_mongo_metadata, id="mongodb"),
]
ONLINE_BACKENDS = [
    pytest.param(make_sqlite_online, id="sqlite"),
    pytest.param(make_redis_online, id="redis"),
    pytest.param(make_redis_cluster_online, id="redis-cluster"),
]


def make_postgres_offline(request: pytest.FixtureRequest, tmp_path: Path) -> OfflineStore:
    """A fresh schema in the session's PostgreSQL database, dropped after the test."""
    import uuid

    from fstore.backends.offline.postgres import PostgresOfflineStore
    from server_postgres import drop_schema

    url = request.getfixturevalue("postgres_url")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    request.addfinalizer(lambda: drop_schema(url, schema))
    return PostgresOfflineStore(f"{url}?schema={schema}")


OFFLINE_BACKENDS = [
    pytest.param(make_duckdb_offline, id="duckdb"),
    pytest.param(make_postgres_offline, id="postgres"),
]


@asynccontextmanager
async def opened(store: Any) -> AsyncIterator[Any]:
    await store.open()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(params=METADATA_BACKENDS)
async def metadata_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MetadataStore]:
    async with opened(request.param(request, tmp_path)) as store:
        yield store


@pytest.fixture(params=ONLINE_BACKENDS)
async def online_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OnlineStore]:
    async with opened(request.param(request, tmp_path)) as store:
        yield store


@pytest.fixture(params=OFFLINE_BACKENDS)
async def offline(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[OfflineStore]:
    async with opened(request.param(request, tmp_path)) as store:
        yield store


@pytest.fixture
async def other_metadata_store(metadata_store: MetadataStore) -> AsyncIterator[MetadataStore]:
    """A second client of the same metadata store (another connection, as another process has)."""
    async with opened(create_metadata_store(metadata_store.url)) as other:
        yield other


@pytest.fixture
async def other_online_store(online_store: OnlineStore) -> AsyncIterator[OnlineStore]:
    async with opened(create_online_store(online_store.url)) as other:
        yield other


_PRELUDE = """
import asyncio, sys, time
from pathlib import Path

from fstore.backends import create_metadata_store, create_online_store


async def start_together():
    Path(sys.argv[1]).touch()
    go, deadline = Path(sys.argv[2]), time.monotonic() + 30
    while not go.exists():
        if time.monotonic() > deadline:
            sys.exit("no start signal")
        time.sleep(0.0005)
"""

_MAIN = """
asyncio.run(main(*sys.argv[3:]))
"""

RunProcesses = Callable[[str, Sequence[Sequence[str]]], Awaitable[list[str]]]


@pytest.fixture
def run_processes(tmp_path: Path) -> RunProcesses:
    """``await run_processes(code, [args, …])``: run ``code`` in one Python process per
    ``args``; returns their stdouts and fails the test if one fails.

    ``code`` defines ``async def main(*args)``, which opens its store, then calls
    ``await start_together()`` (returns in every process at the same moment), then works.
    ``create_metadata_store`` and ``create_online_store`` are imported for it."""

    async def run(code: str, args: Sequence[Sequence[str]]) -> list[str]:
        script = tmp_path / "worker.py"
        script.write_text(_PRELUDE + textwrap.dedent(code) + _MAIN)
        go = tmp_path / "go"
        go.unlink(missing_ok=True)
        readies = [tmp_path / f"ready-{i}" for i in range(len(args))]
        procs: list[Any] = []
        for ready, extra in zip(readies, args, strict=True):
            procs.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    str(script),
                    str(ready),
                    str(go),
                    *extra,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
            )
        try:
            async with asyncio.timeout(60):
                while not all(r.exists() for r in readies):
                    if any(p.returncode is not None for p in procs):
                        break
                    await asyncio.sleep(0.005)
                go.touch()  # all start writing at the same moment
                outputs = [await p.communicate() for p in procs]
        finally:
            for p in procs:
                if p.returncode is None:
                    p.kill()
                    await p.wait()
        for p, (_, err) in zip(procs, outputs, strict=True):
            assert p.returncode == 0, err.decode()
        return [out.decode() for out, _ in outputs]

    return run
