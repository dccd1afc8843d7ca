"""What only the PostgreSQL offline store has: its schema and migrations,
binary COPY ingest, connection failures. (The protocol itself is checked for it by
``test_offline_contract.py``.)"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
import pytest

from fstore.backends.offline.base import PitRequest
from fstore.backends.offline.postgres import PostgresOfflineStore
from fstore.backends.offline.postgres_connection import mask_url
from fstore.backends.offline.postgres_migrations import MIGRATIONS, migrate
from fstore.backends.offline.schema import normalise
from fstore.errors import ConfigurationError, StoreUnavailableError
from server_postgres import drop_schema

TS = pa.timestamp("us", tz="UTC")
T0 = datetime(2025, 1, 1, tzinfo=UTC)


@pytest.fixture
def schema_url(postgres_url: str) -> Iterator[tuple[str, str]]:
    """(store URL, schema): a schema of its own, dropped after the test."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield f"{postgres_url}?schema={schema}", schema
    drop_schema(postgres_url, schema)


@pytest.fixture
async def pg(schema_url: tuple[str, str]) -> AsyncIterator[PostgresOfflineStore]:
    store = PostgresOfflineStore(schema_url[0])
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def query(postgres_url: str, text: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        return conn.execute(text, params or None).fetchall()  # type: ignore[arg-type]


# -- schema and migrations ------------------------------------------------------------------------


async def test_migrations_apply_once_and_reopening_changes_nothing(
    postgres_url: str, schema_url: tuple[str, str]
) -> None:
    url, schema = schema_url
    for _ in range(2):
        store = PostgresOfflineStore(url)
        await store.open()
        await store.close()
    rows = query(postgres_url, f'SELECT version FROM "{schema}".fstore_migrations ORDER BY version')
    assert [r[0] for r in rows] == [m[0] for m in MIGRATIONS]
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as conn:
        assert await migrate(conn, f'"{schema}"') == []  # nothing left to do
    tables = query(postgres_url, "SELECT tablename FROM pg_tables WHERE schemaname = %s", schema)
    assert {"fstore_migrations", "fstore_features", "fstore_history", "fstore_audit_log"} <= {
        t for (t,) in tables
    }


async def test_stores_opening_at_once_migrate_once(postgres_url: str, schema_url: tuple[str, str]) -> None:
    url, schema = schema_url
    stores = [PostgresOfflineStore(url) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))  # four connections race for the schema
    try:
        await stores[0].append("f", history(["a"], [1], [1.0]))
        assert (await stores[3].history("f")).num_rows == 1
    finally:
        await asyncio.gather(*(s.close() for s in stores))
    rows = query(postgres_url, f'SELECT version FROM "{schema}".fstore_migrations ORDER BY version')
    assert [r[0] for r in rows] == [m[0] for m in MIGRATIONS]


async def test_processes_opening_at_once_migrate_once(
    postgres_url: str, schema_url: tuple[str, str], run_processes: Any
) -> None:
    code = """
    from fstore.backends.offline.postgres import PostgresOfflineStore

    async def main(url):
        store = PostgresOfflineStore(url)
        await start_together()
        await store.open()
        await store.close()
    """
    url, schema = schema_url
    await run_processes(code, [[url], [url], [url]])
    rows = query(postgres_url, f'SELECT count(*) FROM "{schema}".fstore_migrations')
    assert rows[0][0] == len(MIGRATIONS)


async def test_one_partition_per_feature_dropped_with_it(pg: PostgresOfflineStore, postgres_url: str) -> None:
    await pg.append("f", history(["a"], [1], [1.0]))
    await pg.append("g", history(["a"], [1], [2.0]))
    parts = query(
        postgres_url,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace "
        "WHERE p.relname = 'fstore_history' AND n.nspname = %s",
        pg._db.schema,
    )
    assert len(parts) == 2
    await pg.delete_feature("f")
    assert len(query(postgres_url, f'SELECT * FROM "{pg._db.schema}".fstore_history')) == 1
    await pg.append("f", history(["b"], [2], [3.0]))  # a deleted feature starts afresh
    assert (await pg.history("f")).column("entity_id").to_pylist() == ["b"]


async def test_schemas_are_separate_stores(pg: PostgresOfflineStore, schema_url: tuple[str, str]) -> None:
    await pg.append("f", history(["a"], [1], [1.0]))
    other_url = schema_url[0].replace(pg._db.schema, pg._db.schema + "x")
    other = PostgresOfflineStore(other_url)
    await other.open()
    try:
        assert (await other.history("f")).num_rows == 0
    finally:
        await other.close()
        drop_schema(other_url.split("?")[0], pg._db.schema + "x")


# -- ingest ---------------------------------------------------------------------------------------


def history(ids: list[str], seconds: list[int], values: Any, transformed: Any = None) -> pa.Table:
    n = len(ids)
    us = (np.asarray(seconds, dtype=np.int64) + int(T0.timestamp())) * 1_000_000
    return pa.table(
        {
            "entity_id": pa.array(ids, pa.string()),
            "event_timestamp": pa.array(us).cast(TS),
            "value": values if isinstance(values, pa.Array) else pa.array(values),
            "transformed": pa.nulls(n) if transformed is None else transformed,
            "version": pa.array(["1.0.0"] * n),
            "ingested_at": pa.array(us).cast(TS),
        }
    )


def large_batch(n: int, kind: str, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    specials = ["", "é", "a,b", 'quo"te', "new\nline", "tab\tx", "back\\slash", "日本", "x" * 300]
    ids = [specials[i % len(specials)] + str(i % 5000) for i in range(n)]
    micros = rng.integers(-2_000_000_000_000_000, 7_000_000_000_000_000, n)  # 1906 .. 2191
    nulls = rng.random(n) < 0.1
    if kind == "float":
        raw = rng.normal(size=n) * 10.0 ** rng.integers(-300, 300, n)
        raw[:6] = [np.nan, np.inf, -np.inf, -0.0, 5e-324, 1.7976931348623157e308]
        values = pa.array(raw, mask=nulls)
        offsets = np.concatenate([[0], np.cumsum(rng.integers(0, 5, n))]).astype(np.int32)
        elements = pa.array(rng.random(int(offsets[-1])), mask=rng.random(int(offsets[-1])) < 0.01)
        transformed = pa.ListArray.from_arrays(offsets, elements, mask=pa.array(rng.random(n) < 0.05))
    elif kind == "int":
        raw_i = rng.integers(-(2**63), 2**63 - 1, n, dtype=np.int64, endpoint=True)
        values = pa.array(raw_i, mask=nulls)
        transformed = pa.array(rng.integers(0, 10, n), pa.int64())
    else:
        values = pa.array([specials[i % len(specials)] * (i % 3) for i in range(n)], pa.string(), mask=nulls)
        transformed = pa.array(rng.random(n), mask=rng.random(n) < 0.2)
    return pa.table(
        {
            "entity_id": pa.array(ids),
            "event_timestamp": pa.array(micros).cast(TS),
            "value": values,
            "transformed": transformed,
            "version": pa.array([f"1.{i % 3}.0" for i in range(n)]),
            "ingested_at": pa.array(micros + rng.integers(0, 10**9, n)).cast(TS),
        }
    )


@pytest.mark.parametrize("kind", ["float", "int", "str"])
async def test_large_copy_round_trips_exactly(pg: PostgresOfflineStore, kind: str) -> None:
    batch = large_batch(100_000, kind)  # more than one encoded chunk
    assert await pg.append("big", batch) == batch.num_rows
    got = await pg.history("big")
    expected = normalise(batch)
    assert got.schema == expected.schema
    for name in expected.column_names:
        if name == "value" and kind == "float":  # NaN != NaN: compare the bits
            a = got.column(name).combine_chunks()
            b = expected.column(name).combine_chunks()
            assert a.is_valid().equals(b.is_valid())
            assert np.array_equal(
                a.fill_null(0).to_numpy().view(np.int64), b.fill_null(0).to_numpy().view(np.int64)
            )
        else:
            assert got.column(name).equals(expected.column(name)), name


async def test_kinds_mix_as_the_embedded_store_mixes_them(pg: PostgresOfflineStore) -> None:
    await pg.append("f", history(["a"], [1], pa.array([1], pa.int64())))
    assert (await pg.history("f")).schema.field("value").type == pa.int64()
    await pg.append("f", history(["b"], [1], pa.array([2.5])))
    h = await pg.history("f")
    assert h.schema.field("value").type == pa.float64() and h.column("value").to_pylist() == [1.0, 2.5]
    await pg.append("f", history(["c"], [1], pa.array(["x"])))
    assert (await pg.history("f")).column("value").to_pylist() == ["1", "2.5", "x"]
    rows = pa.table({"k": ["a", "c"], "ts": pa.array([T0 + timedelta(seconds=5)] * 2, TS)})
    out = await pg.point_in_time(rows, "ts", [PitRequest("f", "k", "v")])
    assert out.column("v").to_pylist() == ["1", "x"]
    stats = await pg.statistics("f", numerical=False)
    assert stats["count"] == 3 and stats["distinct"] == 3


async def test_null_typed_values(pg: PostgresOfflineStore) -> None:
    await pg.append("f", history(["a", "b"], [1, 2], pa.nulls(2)))
    h = await pg.history("f")
    assert h.num_rows == 2 and h.column("value").null_count == 2
    stats = await pg.statistics("f", numerical=True)
    assert stats["count"] == 2 and stats["nulls"] == 2 and stats["mean"] is None


async def test_pit_spreads_features_over_connections(schema_url: tuple[str, str]) -> None:
    store = PostgresOfflineStore(schema_url[0] + "&pit_connections=3&pool_max=3")
    await store.open()
    try:
        for i in range(5):
            await store.append(f"f{i}", history(["a", "b"], [1, 2], [float(i), 10.0 + i]))
        rows = pa.table({"k": ["b", "a", "z"], "ts": pa.array([T0 + timedelta(seconds=9)] * 3, TS)})
        requests = [PitRequest(f"f{i}", "k", f"v{i}") for i in range(5)]
        out = await store.point_in_time(rows, "ts", requests)
        for i in range(5):
            assert out.column(f"v{i}").to_pylist() == [10.0 + i, float(i), None]
    finally:
        await store.close()


# -- connections ----------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_server_fails_fast_with_a_masked_url() -> None:
    url = f"postgresql://fstore:s3cret@127.0.0.1:{closed_port()}/nowhere"
    store = PostgresOfflineStore(url)
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError) as info:
        await store.open()
    assert time.monotonic() - started < 5
    assert "127.0.0.1" in info.value.message and "s3cret" not in info.value.message
    assert info.value.details["store"] == "postgres offline"
    with pytest.raises(StoreUnavailableError):  # reads open on first use, and fail the same way
        await store.history("f")


async def test_statement_timeout_raises_store_unavailable(schema_url: tuple[str, str]) -> None:
    store = PostgresOfflineStore(schema_url[0] + "&statement_timeout=100ms")
    await store.open()
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match="timeout"):
            async with store._db.connection() as conn:
                await conn.execute("SELECT pg_sleep(5)")
        assert time.monotonic() - started < 3
        assert (await store.history("f")).num_rows == 0  # the pool goes on
    finally:
        await store.close()


async def test_ping_and_url_options(pg: PostgresOfflineStore) -> None:
    info = await pg.ping()
    assert info["backend"] == "postgres" and info["version"].split(".")[0].isdigit()
    assert mask_url("postgresql://u:pw@h:5432/d?password=x&schema=s") == (
        "postgresql://u:***@h:5432/d?password=***&schema=s"
    )
    with pytest.raises(ConfigurationError):
        PostgresOfflineStore("postgresql://u@h/d?schema=bad-name")
    with pytest.raises(ConfigurationError):
        PostgresOfflineStore("postgresql://u@h/d?pool_max=many")


async def test_pit_with_no_rows_or_no_requests(pg: PostgresOfflineStore) -> None:
    await pg.append("f", history(["a"], [1], [1.0]))
    empty = pa.table({"k": pa.array([], pa.string()), "ts": pa.array([], TS)})
    out = await pg.point_in_time(empty, "ts", [PitRequest("f", "k", "v")])
    assert out.num_rows == 0 and out.schema.field("v").type == pa.float64()
    rows = pa.table({"k": ["a", None], "ts": pa.array([T0 + timedelta(seconds=5), None], TS)})
    assert (await pg.point_in_time(rows, "ts", [])).equals(rows)
    out = await pg.point_in_time(rows, "ts", [PitRequest("f", "k", "v")])
    assert out.column("v").to_pylist() == [1.0, None]
