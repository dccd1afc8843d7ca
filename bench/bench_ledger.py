"""What the durable online-repair ledger costs the write path; prints a table.

Single-value writes (``store_feature_value``, p50 of many) and one batch ingest of 6 features,
on the embedded offline store and on PostgreSQL (a database of its own, dropped at the end);
the online store is the embedded one.

    .venv/bin/python bench/bench_ledger.py
    .venv/bin/python bench/bench_ledger.py --server postgresql://user:pw@host:5432
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import FEATURES, NAMES, history
from fstore import FeatureStore
from fstore.models import Entity


def admin(server: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


async def measure(home: Path, offline_url: str | None, singles: int, entities: int) -> dict[str, float]:
    overrides = {"offline_url": offline_url} if offline_url else {}
    async with FeatureStore(home=home, **overrides) as fs:
        await fs.create_entity(Entity(name="customer", join_key="customer_id"))
        for feature, _spec in FEATURES:
            await fs.create_feature(feature)
        t0 = datetime(2025, 1, 1, tzinfo=UTC)
        times = []
        for i in range(singles):
            started = time.perf_counter()
            await fs.store_feature_value(NAMES[0], f"c{i % 100}", float(i), t0 + timedelta(seconds=i))
            times.append(time.perf_counter() - started)
        ledger = []
        for i in range(singles):
            started = time.perf_counter()
            pending = await fs.offline.add_online_repairs({"f_amount": i}, call=f"call{i}")
            await fs.offline.remove_online_repairs(pending)
            ledger.append(time.perf_counter() - started)
        data = history(entities, 20, 60)
        started = time.perf_counter()
        await fs.ingest(data)
        seconds = time.perf_counter() - started
    return {
        "single p50 ms": statistics.median(times) * 1e3,
        "single mean ms": statistics.fmean(times) * 1e3,
        "ledger record+remove p50 ms": statistics.median(ledger) * 1e3,
        "ingest values/s": len(data) * len(NAMES) / seconds,
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--singles", type=int, default=400)
    parser.add_argument("--entities", type=int, default=10_000)
    args = parser.parse_args()
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        rows["embedded"] = await measure(Path(tmp) / "e", None, args.singles, args.entities)
        name = f"fstore_bench_{secrets.token_hex(4)}"
        admin(args.server, f'CREATE DATABASE "{name}"')
        try:
            rows["postgresql"] = await measure(
                Path(tmp) / "p", f"{args.server}/{name}", args.singles, args.entities
            )
        finally:
            admin(args.server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    keys = list(next(iter(rows.values())))
    print(f"| offline | {' | '.join(keys)} |")
    print(f"|---|{'---:|' * len(keys)}")
    for backend, values in rows.items():
        print(f"| {backend} | {' | '.join(f'{values[k]:,.3f}' for k in keys)} |")


if __name__ == "__main__":
    asyncio.run(main())
