"""PostgreSQL offline store benchmarks (issue "Production backends" targets); prints a table.

Same data shape as ``bench_core.py``: 10,000 entities × 20 events over 60 days, 6 features
(4 numerical with scalers, 2 categorical with a label and a one-hot encoder): 1.2 M values.
Everything goes through the public ``FeatureStore`` with the embedded metadata and online
stores in a temporary directory and ``offline_url`` pointing at a database of its own on the
server, created at the start and dropped at the end.

    .venv/bin/python bench/bench_postgres.py            # the server on 127.0.0.1:5432 (~20 s)
    .venv/bin/python bench/bench_postgres.py --quick    # smaller, for a smoke test
    .venv/bin/python bench/bench_postgres.py --server postgresql://user:pw@host:5432
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import FEATURES, NAMES, entity_rows, fitted_transformer, history, ingest_again, print_table
from fstore import FeatureStore
from fstore.models import Entity


def admin(server: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


async def ingest(home: Path, url: str, entities: int, events: int) -> dict[str, float]:
    data = history(entities, events, 60)
    async with FeatureStore(home=home, offline_url=url) as fs:
        await fs.create_entity(Entity(name="customer", join_key="customer_id"))
        for feature, spec in FEATURES:
            await fs.create_feature(feature, transformer=spec)
        for name in NAMES:  # fitted transformers, so ingest transforms (the realistic path)
            await fs.update_feature(name, transformer=fitted_transformer(fs, name, data), new_version=True)
        t = time.perf_counter()
        await fs.ingest(data)
        seconds = time.perf_counter() - t
    values = len(data) * len(NAMES)
    return {"values": values, "ingest_s": seconds, "ingest_values_per_s": values / seconds}


async def reads(home: Path, url: str, entities: int, rows: int, repeats: int) -> dict[str, float]:
    out: dict[str, float] = {}
    frame = entity_rows(entities, rows, 60)
    async with FeatureStore(home=home, offline_url=url) as fs:
        await fs.get_historical_features(frame.head(1000), NAMES)  # warm up connections
        for key, transformed in (("pit_s", True), ("pit_raw_s", False)):
            times = []
            for _ in range(repeats):
                t = time.perf_counter()
                result = await fs.get_historical_features(frame, NAMES, transformed=transformed)
                times.append(time.perf_counter() - t)
            assert len(result) == rows
            out[key] = statistics.median(times)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            tables = await asyncio.gather(*(fs.offline.latest(name) for name in NAMES))
            times.append(time.perf_counter() - t)
        assert all(t.num_rows == entities for t in tables)
        out["latest_s"] = statistics.median(times)
        times = []
        for _ in range(repeats):
            for name in NAMES:
                await fs.online.delete_feature("customer", name)
            t = time.perf_counter()
            await fs.materialize()
            times.append(time.perf_counter() - t)
        out["materialize_s"] = statistics.median(times)
        t = time.perf_counter()
        await fs.statistics("f_amount")
        out["statistics_s"] = time.perf_counter() - t
    async with FeatureStore(home=home, offline_url=f"{url}?pit_connections=1") as fs:
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            await fs.get_historical_features(frame, NAMES, transformed=False)
            times.append(time.perf_counter() - t)
        out["pit_raw_one_connection_s"] = statistics.median(times)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    entities, events, rows = (1_000, 20, 10_000) if args.quick else (10_000, 20, 100_000)
    database = f"fstore_bench_{secrets.token_hex(4)}"
    admin(args.server, f'CREATE DATABASE "{database}"')
    try:
        url = f"{args.server}/{database}"
        with tempfile.TemporaryDirectory() as tmp:
            res: dict[str, Any] = asyncio.run(ingest(Path(tmp), url, entities, events))
            res.update(asyncio.run(reads(Path(tmp), url, entities, rows, 3)))
            data = history(entities, events, 60)  # the data ingested; last: it adds history
            res.update(asyncio.run(ingest_again(Path(tmp), data, offline_url=url)))
    finally:
        admin(args.server, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    if args.json:
        print(json.dumps(res, indent=2))
        return
    table = [
        (
            f"batch ingest ({int(res['values']):,} values, offline + online)",
            f"{res['ingest_values_per_s']:,.0f} values/s",
            ">= 200,000/s",
        ),
        ("  again, the same data (all already stored)", f"{res['reingest_values_per_s']:,.0f} values/s", ""),
        ("  overlapping data (half stored, half new)", f"{res['overlap_values_per_s']:,.0f} values/s", ""),
        (f"training set {rows:,} rows × 6 features (transformed)", f"{res['pit_s']:.3f} s", "<= 3 s"),
        ("  same, raw values", f"{res['pit_raw_s']:.3f} s", ""),
        ("  same, raw values, on one connection", f"{res['pit_raw_one_connection_s']:.3f} s", ""),
        (f"latest {entities:,} entities × 6 features (offline)", f"{res['latest_s']:.3f} s", ""),
        (f"materialize {entities:,} entities × 6 features", f"{res['materialize_s']:.3f} s", ""),
        (f"statistics of one feature ({entities * events:,} values)", f"{res['statistics_s']:.3f} s", ""),
    ]
    print_table(table, "measure (median of 3)")


if __name__ == "__main__":
    main()
