"""Spark jobs (issue 11 targets); prints a table.

PostgreSQL offline (a database of its own, dropped at the end), Redis online (keys under a
random prefix, deleted after), SQLite metadata in a temporary directory; Spark on ``local[2]``
with a 2 GB driver.

* backfill: ``--values`` float values (4 events per entity) from a Parquet file, validated,
  standard-scaled, staged (Spark's JDBC writer) and inserted under the identity rule,
  newest value per entity to Redis — timed with the Spark session's start, then the re-run
  (nothing stored), then warm into new features staged with COPY and with Spark's JDBC writer;
* fit: a standard scaler over ``--fit-values`` values of one feature (generated in SQL), in
  Spark and in-process (``fit_transformer``) on the same history;
* training set: ``--rows`` entity rows × 6 features (each 10 events for 50,000 entities,
  generated in SQL), in Spark (Parquet in, Parquet out) and in-process (PostgreSQL's lateral
  join on ``--inprocess-rows`` rows), reported per million rows.

    .venv/bin/python bench/bench_spark.py            # ~4 min on 2 cores
    .venv/bin/python bench/bench_spark.py --quick
    .venv/bin/python bench/bench_spark.py --training-rows 10000000   # only the 10 M × 6 training set
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import print_table
from bench_postgres import admin
from bench_redis import delete_prefix, with_prefix
from fstore import FeatureStore, Settings
from fstore.models import Entity, Feature

T0 = np.datetime64("2026-01-01T00:00:00", "us")
FEATURES = ["f1", "f2", "f3", "f4", "f5", "f6"]


def backfill_source(path: Path, values: int) -> None:
    entities = values // 4
    rng = np.random.default_rng(1)
    ids = pa.array(np.char.add("c", (np.arange(values) % entities).astype(str)))
    table = pa.table(
        {
            "customer_id": ids,
            "event_timestamp": pa.array(T0 + (np.arange(values) // entities) * 3_600_000_000).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "amount": rng.normal(100, 20, values).round(2),
        }
    )
    pq.write_table(table, path)


def generate(offline_url: str, feature_id: str, values: int, entities: int) -> None:
    """``values`` rows of a feature straight into its partition (the feature is registered)."""
    import psycopg

    with psycopg.connect(offline_url, autocommit=True) as conn:
        row = conn.execute("SELECT fid FROM fstore_features WHERE feature_id = %s", [feature_id]).fetchone()
        fid = row[0]  # type: ignore[index]
        conn.execute(
            f"INSERT INTO fstore_history_{fid} "
            "(fid, entity_id, event_timestamp, ingested_at, version, v_float) "
            f"SELECT {fid}, 'c' || (g %% {entities}), "
            f"timestamp '2026-01-01' + (g / {entities}) * interval '1 hour', now(), '1.0.0', "
            "round((random() * 100)::numeric, 3)::float8 FROM generate_series(0, %s - 1) AS g",
            [values],
        )
        conn.execute("UPDATE fstore_features SET max_event = now() WHERE fid = %s", [fid])
        conn.execute(f"ANALYZE fstore_history_{fid}")


async def seed(fs: FeatureStore, name: str, value: float, day: str) -> None:
    """One value stored the ordinary way (registers the feature's partition)."""
    await fs.store_feature_values(name, [{"entity_id": "seed", "value": value, "event_timestamp": day}])


async def run(args: argparse.Namespace, offline_url: str, online_url: str, tmp: Path) -> dict[str, Any]:
    from fstore.spark.session import spark_session

    res: dict[str, Any] = {}
    settings = Settings(
        home=tmp / "home",
        offline_url=offline_url,
        online_url=online_url,
        events_publisher="external",
        spark_master="local[2]",
        spark_conf={"spark.driver.memory": "2g", "spark.sql.shuffle.partitions": "4"},
    )
    source = tmp / "backfill.parquet"
    if not args.training_only:
        backfill_source(source, args.values)
    async with FeatureStore(settings) as fs:
        await fs.create_entity(Entity(name="customer", join_key="customer_id"))
        await fs.create_feature(Feature(name="amount", entity="customer"), transformer="standard_scaler")
        await fs.store_feature_values(
            "amount", [{"entity_id": "seed", "value": 1.0, "event_timestamp": "2025-01-01"}]
        )
        await fs.store_feature_values(
            "amount", [{"entity_id": "seed", "value": 3.0, "event_timestamp": "2025-01-02"}]
        )
        await fs.fit_transformer("amount")

        t = time.perf_counter()
        spark = spark_session(settings)
        res["spark_start_s"] = time.perf_counter() - t
        if not args.training_only:
            await backfill_and_fit(args, fs, spark, offline_url, source, res, t)
        await training(args, fs, spark, offline_url, tmp, res)
        spark.stop()
    return res


async def backfill_and_fit(
    args: argparse.Namespace,
    fs: FeatureStore,
    spark: Any,
    offline_url: str,
    source: Path,
    res: dict,
    t: float,
) -> None:
    from fstore.spark.backfill import backfill
    from fstore.spark.fit import spark_fit

    # the backfill timings start with the session (``t``)
    done = await backfill(fs, spark, "amount", str(source))  # staged over JDBC
    res["backfill_total_s"] = time.perf_counter() - t
    res["backfill_s"] = done.seconds
    res["backfill"] = done
    again = await backfill(fs, spark, "amount", str(source))
    res["rerun_s"], res["rerun"] = again.seconds, again
    for stage_with in ("copy", "jdbc"):  # warm, side by side: into new features
        name = f"amount_{stage_with}"
        await fs.create_feature(Feature(name=name, entity="customer"), transformer="standard_scaler")
        await seed(fs, name, 1.0, "2025-01-01")
        await seed(fs, name, 3.0, "2025-01-02")
        await fs.fit_transformer(name)
        done = await backfill(fs, spark, name, str(source), value_column="amount", stage_with=stage_with)
        res[f"{stage_with}_s"] = done.seconds

    await fs.create_feature(Feature(name="big", entity="customer"), transformer="standard_scaler")
    await fs.store_feature_values(
        "big", [{"entity_id": "seed", "value": 1.0, "event_timestamp": "2025-01-01"}]
    )
    generate(offline_url, "big", args.fit_values, 1_000_000)
    t = time.perf_counter()
    await spark_fit(fs, spark, "big")
    res["spark_fit_s"] = time.perf_counter() - t
    if args.fit_values <= 10_000_000:
        t = time.perf_counter()
        await fs.fit_transformer("big", transformer="standard_scaler", version="9.0.0")
        res["inprocess_fit_s"] = time.perf_counter() - t


async def training(
    args: argparse.Namespace, fs: FeatureStore, spark: Any, offline_url: str, tmp: Path, res: dict
) -> None:
    from fstore.spark.training import read_rows, spark_training_set, write_training_set

    for name in FEATURES:
        await fs.create_feature(Feature(name=name, entity="customer"))
        await fs.store_feature_values(
            name, [{"entity_id": "seed", "value": 1.0, "event_timestamp": "2025-01-01"}]
        )
        generate(offline_url, name, 500_000, 50_000)
    rng = np.random.default_rng(2)
    rows = pa.table(
        {
            "customer_id": pa.array(np.char.add("c", rng.integers(0, 60_000, args.rows).astype(str))),
            "event_timestamp": pa.array(T0 + rng.integers(0, 12 * 3_600_000_000, args.rows)).cast(
                pa.timestamp("us", tz="UTC")
            ),
        }
    )
    rows_path = tmp / "rows.parquet"
    pq.write_table(rows, rows_path)
    t = time.perf_counter()
    frame = await spark_training_set(fs, spark, read_rows(spark, fs, str(rows_path)), FEATURES)
    write_training_set(frame, str(tmp / "training"))
    res["spark_pit_s"] = time.perf_counter() - t
    written = ds.dataset(tmp / "training").count_rows()
    if written != args.rows:
        raise SystemExit(f"the training set has {written:,} rows, not {args.rows:,}")
    print(f"Spark training set of {args.rows:,} rows: {res['spark_pit_s']:.1f} s", flush=True)
    sample = rows.slice(0, args.inprocess_rows)
    t = time.perf_counter()
    await fs.get_historical_features(sample, FEATURES)
    res["inprocess_pit_s"] = time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--values", type=int, default=1_000_000)
    parser.add_argument("--fit-values", type=int, default=10_000_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--inprocess-rows", type=int, default=200_000)
    parser.add_argument(
        "--training-rows",
        type=int,
        default=None,
        help="Only the training set, of this many entity rows (e.g. 10000000: the issue's target).",
    )
    args = parser.parse_args()
    args.training_only = args.training_rows is not None
    if args.training_only:
        args.rows = args.training_rows
    if args.quick:
        args.values, args.fit_values, args.rows, args.inprocess_rows = 100_000, 1_000_000, 100_000, 50_000
    database = f"fstore_bench_{secrets.token_hex(4)}"
    prefix = f"bench_{secrets.token_hex(4)}:"
    admin(args.server, f'CREATE DATABASE "{database}"')
    try:
        with tempfile.TemporaryDirectory() as tmp:
            res = asyncio.run(
                run(args, f"{args.server}/{database}", with_prefix(args.redis, prefix), Path(tmp))
            )
    finally:
        admin(args.server, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        asyncio.run(delete_prefix(args.redis, prefix))
    per_m = 1_000_000 / args.rows
    table = [("Spark session start (local[2], 2 GB driver)", f"{res['spark_start_s']:.1f} s", "")]
    if not args.training_only:
        table += backfill_rows(args, res)
    table += [
        (
            f"training set {args.rows:,} rows × 6 features, Spark (per million rows)",
            f"{res['spark_pit_s'] * per_m:.1f} s/M ({res['spark_pit_s']:.1f} s)",
            "",
        ),
        (
            f"  in-process join on PostgreSQL, {args.inprocess_rows:,} rows (per million rows)",
            f"{res['inprocess_pit_s'] * 1_000_000 / args.inprocess_rows:.1f} s/M",
            "",
        ),
    ]
    print_table(table)


def backfill_rows(args: argparse.Namespace, res: dict[str, Any]) -> list[tuple[str, str, str]]:
    b, again = res["backfill"], res["rerun"]
    table = [
        (
            f"backfill {args.values:,} values → PostgreSQL + Redis, with the start",
            f"{res['backfill_total_s']:.1f} s",
            "<= 30 s",
        ),
        (
            f"  the backfill alone ({b.stored:,} stored, {b.online:,} online)",
            f"{res['backfill_s']:.1f} s",
            "",
        ),
        (f"  re-run ({again.stored:,} stored, {again.unchanged:,} unchanged)", f"{res['rerun_s']:.1f} s", ""),
        ("  again into a new feature, warm: staged with binary COPY", f"{res['copy_s']:.1f} s", ""),
        ("  same, staged with Spark's JDBC writer", f"{res['jdbc_s']:.1f} s", ""),
        (f"fit standard scaler, {args.fit_values:,} values, Spark", f"{res['spark_fit_s']:.1f} s", "<= 30 s"),
    ]
    if "inprocess_fit_s" in res:
        table.append(("  same, in-process fit_transformer", f"{res['inprocess_fit_s']:.1f} s", ""))
    return table


if __name__ == "__main__":
    main()
