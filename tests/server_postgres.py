"""The PostgreSQL server of the tests: a fresh database per test session.

``postgres_url`` creates ``fstore_test_<random>`` on the server at ``FSTORE_TEST_POSTGRES``
(default ``postgresql://postgres@127.0.0.1:5432``), yields its URL and drops it at the end.
A server that cannot be reached fails the tests that need it (never skips them: CI runs
with the server up, and a skip there would hide a broken backend).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator

import pytest

SERVER = os.environ.get("FSTORE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


def _admin(dbname: str = "postgres"):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(f"{SERVER}/{dbname}", autocommit=True, connect_timeout=5)


def create_database(prefix: str = "fstore_test") -> str:
    """A new empty database; returns its name."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a fresh database for this test session (dropped at its end)."""
    try:
        name = create_database()
    except Exception as exc:  # psycopg.OperationalError and the like
        where = re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", SERVER)
        pytest.fail(f"PostgreSQL is needed at {where} and cannot be reached: {exc}", pytrace=False)
    try:
        yield f"{SERVER}/{name}"
    finally:
        drop_database(name)


def drop_schema(url: str, schema: str) -> None:
    """Drop a schema a test made in the session's database (its tables with it)."""
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
