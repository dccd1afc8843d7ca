"""What the durable online-repair ledger costs the write path; prints a table.

Single-value writes (``store_feature_value``, p50) and one batch ingest of 6 features, with
the ledger on and off (``guard.ledger = None``: the write path as it was without it), on the
embedded offline store and on PostgreSQL (a database of its own per run, dropped after); the
online store is the embedded one. Runs alternate on/off, each in a fresh store; the table shows
medians over the runs.

    .venv/bin/python bench/bench_ledger.py
    .venv/bin/python bench/bench_ledger.py --server postgresql://user:pw@host:5432 --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import FEATURES, NAMES, history, single_writes
from fstore import FeatureStore
from fstore.models import Entity


def admin(server: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


async def measure(
    home: Path, offline_url: str | None, ledger: bool, singles: int, entities: int
) -> list[float]:
    overrides = {"offline_url": offline_url} if offline_url else {}
    async with FeatureStore(home=home, **overrides) as fs:
        if not ledger:
            fs.guard.ledger = None
        await fs.create_entity(Entity(name="customer", join_key="customer_id"))
        for feature, _spec in FEATURES:
            await fs.create_feature(feature)
        times = await single_writes(fs, singles)
        data = history(entities, 20, 60)
        started = time.perf_counter()
        await fs.ingest(data)
        seconds = time.perf_counter() - started
    return [statistics.median(times) * 1e3, len(data) * len(NAMES) / seconds]


async def run(server: str, backend: str, ledger: bool, tmp: Path, singles: int, entities: int) -> list[float]:
    name = f"fstore_bench_{secrets.token_hex(4)}"
    if backend == "embedded":
        return await measure(tmp / name, None, ledger, singles, entities)
    admin(server, f'CREATE DATABASE "{name}"')
    try:
        return await measure(tmp / name, f"{server}/{name}", ledger, singles, entities)
    finally:
        admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--singles", type=int, default=400)
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print("| offline | ledger | single write p50 | batch ingest |")
    print("|---|---|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for backend in ("embedded", "postgresql"):
            results: dict[bool, list[list[float]]] = {False: [], True: []}
            for i in range(args.runs):
                for ledger in (False, True) if i % 2 == 0 else (True, False):
                    got = await run(args.server, backend, ledger, Path(tmp), args.singles, args.entities)
                    results[ledger].append(got)
            for ledger in (False, True):
                single = statistics.median(r[0] for r in results[ledger])
                ingest = statistics.median(r[1] for r in results[ledger])
                print(
                    f"| {backend} | {'on' if ledger else 'off'} | {single:.3f} ms | {ingest:,.0f} values/s |"
                )


if __name__ == "__main__":
    asyncio.run(main())
