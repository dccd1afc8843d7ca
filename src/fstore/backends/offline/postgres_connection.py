"""Connections of the PostgreSQL offline store: URL options, the pool, errors.

URL: ``postgresql://user:password@host:port/database?option=…`` (``postgres://`` and
``postgresql+psycopg://`` too). The store's own options come out of the query string before
it reaches libpq:

* ``schema`` (default ``public``): where the store's tables live; created with them;
* ``statement_timeout`` (default ``300s``; a PostgreSQL duration, ``0`` for none);
* ``pool_min`` / ``pool_max`` (default 1 / 4) connections, ``pool_timeout`` (default 30 s)
  to wait for one;
* ``pit_connections`` (default 2): connections a point-in-time join spreads its features
  over (the server probes on as many cores).

Everything else goes to libpq: ``connect_timeout`` defaults to 5 s, ``application_name`` to
``fstore``; ``sslmode`` and the like pass through. Every connection is in autocommit mode
(transactions are explicit), with ``TimeZone`` UTC, JIT off (it costs more than it saves on
these queries) and ``timestamptz`` results loaded as their int8 (µs since 2000-01-01) rather
than as datetime objects. A connection that fails, a pool that has none to give and a
statement that times out raise ``StoreUnavailableError`` naming the server (password masked).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fstore.backends.offline.postgres_migrations import migrate
from fstore.errors import ConfigurationError, StoreUnavailableError

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

STORE = "postgres offline"
OWN_OPTIONS = ("schema", "statement_timeout", "pool_min", "pool_max", "pool_timeout", "pit_connections")
_SCHEMA_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"


def mask_url(url: str) -> str:
    """The URL without its password (in the authority or as a ``password`` option)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        if ":" in user:
            user = user.split(":", 1)[0] + ":***"
        netloc = f"{user}@{host}"
    query = [(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    tail = f"?{urlencode(query, safe='*/:')}" if query else ""
    return f"{parts.scheme}://{netloc}{parts.path}{tail}"


class Database:
    """The pool of connections to the store's database, opened with its schema up to date."""

    def __init__(self, url: str) -> None:
        self.masked_url = mask_url(url)
        parts = urlsplit(url)
        options = dict(parse_qsl(parts.query, keep_blank_values=True))
        own = {k: options.pop(k) for k in OWN_OPTIONS if k in options}
        self.schema = own.get("schema", "public")
        if not _SCHEMA_PATTERN.match(self.schema):
            raise ConfigurationError(f"schema {self.schema!r} in {self.masked_url} is not an identifier")
        self.quoted_schema = f'"{self.schema}"'
        self._statement_timeout = own.get("statement_timeout", "300s")
        try:
            self.pool_min = int(own.get("pool_min", 1))
            self.pool_max = max(self.pool_min, int(own.get("pool_max", 4)))
            self._pool_timeout = float(own.get("pool_timeout", 30))
            self.pit_connections = max(1, int(own.get("pit_connections", 2)))
            self._connect_timeout = float(options.setdefault("connect_timeout", "5"))
        except ValueError as exc:
            raise ConfigurationError(f"bad option in {self.masked_url}: {exc}") from exc
        options.setdefault("application_name", "fstore")
        self._conninfo = f"postgresql://{parts.netloc}{parts.path}?{urlencode(options)}"
        self._pool: AsyncConnectionPool | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        """Connect, create or migrate the schema, then open the pool."""
        async with self._lock:
            if self._pool is None:
                self._pool = await self._open()

    async def _open(self) -> AsyncConnectionPool:
        import psycopg
        from psycopg_pool import AsyncConnectionPool

        try:  # a direct connection first: its error names the cause (refused, auth, …)
            conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        except psycopg.Error as exc:
            raise self.unavailable(exc) from exc
        try:
            await self._configure(conn)
            await migrate(conn, self.quoted_schema)
        except psycopg.OperationalError as exc:
            raise self.unavailable(exc) from exc
        finally:
            await conn.close()
        pool = AsyncConnectionPool(
            self._conninfo,
            kwargs={"autocommit": True},
            min_size=self.pool_min,
            max_size=self.pool_max,
            timeout=self._pool_timeout,
            configure=self._configure,
            check=AsyncConnectionPool.check_connection,  # a server restart costs no failed call
            name="fstore-offline",
            open=False,
        )
        try:
            await pool.open(wait=True, timeout=self._connect_timeout + 1)
        except Exception as exc:
            await pool.close()
            raise self.unavailable(exc) from exc
        return pool

    async def close(self) -> None:
        async with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _configure(self, conn: AsyncConnection[Any]) -> None:
        from psycopg.types.numeric import Int8BinaryLoader

        conn.adapters.register_loader("timestamptz", Int8BinaryLoader)
        await conn.execute(
            "SELECT set_config('statement_timeout', %s, false), set_config('TimeZone', 'UTC', false),"
            " set_config('jit', 'off', false)",
            [self._statement_timeout],
        )

    def unavailable(self, exc: BaseException) -> StoreUnavailableError:
        text = str(exc).strip()
        message = text.splitlines()[0] if text else type(exc).__name__
        return StoreUnavailableError(f"PostgreSQL at {self.masked_url}: {message}", store=STORE)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A pooled connection (the store opens on first use)."""
        import psycopg
        from psycopg_pool import PoolClosed, PoolTimeout

        if self._pool is None:
            await self.open()
        assert self._pool is not None
        try:
            async with self._pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout, PoolClosed) as exc:
            raise self.unavailable(exc) from exc

    @asynccontextmanager
    async def snapshot(self, read_only: bool = True) -> AsyncIterator[AsyncConnection[Any]]:
        """A connection in a repeatable-read transaction, so that the kinds of a feature and
        its rows come from one snapshot (read-only unless it makes a temporary table)."""
        async with self.connection() as conn, conn.transaction():
            await conn.execute(_SNAPSHOT + (", READ ONLY" if read_only else ""))
            yield conn

    async def server_version(self) -> str:
        async with self.connection() as conn:
            cur = await conn.execute("SHOW server_version")
            row = await cur.fetchone()
        return str(row[0]) if row else ""
