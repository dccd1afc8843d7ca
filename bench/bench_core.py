"""Core benchmarks on the embedded stores (issue 2 targets); prints a table.

Data shape as in common feature-store benchmarks: 10,000 entities × 20 events over 60 days,
6 features (4 numerical with scalers, 2 categorical with encoders).

    .venv/bin/python bench/bench_core.py            # full run (~1 minute)
    .venv/bin/python bench/bench_core.py --quick    # smaller, for a smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from fstore import FeatureStore
from fstore.models import Entity, Feature, TransformerSpec
from fstore.transformers import StandardScaler

END = pd.Timestamp(datetime(2026, 1, 1, tzinfo=UTC))
FEATURES = [
    (Feature(name="f_amount", entity="customer"), TransformerSpec(kind="standard_scaler")),
    (Feature(name="f_count", entity="customer", dtype="int"), TransformerSpec(kind="minmax_scaler")),
    (Feature(name="f_score", entity="customer"), TransformerSpec(kind="standard_scaler")),
    (Feature(name="f_ratio", entity="customer"), TransformerSpec(kind="minmax_scaler")),
    (Feature(name="f_method", entity="customer", type="categorical"), TransformerSpec(kind="label_encoder")),
    (
        Feature(name="f_category", entity="customer", type="categorical"),
        TransformerSpec(kind="onehot_encoder"),
    ),
]
NAMES = [f.name for f, _ in FEATURES]


def history(entities: int, events: int, days: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = entities * events
    offsets = rng.integers(0, days * 86_400 * 1_000_000, n)
    return pd.DataFrame(
        {
            "customer_id": np.repeat([f"c{i}" for i in range(entities)], events),
            "event_timestamp": END - pd.to_timedelta(offsets, unit="us"),
            "f_amount": rng.lognormal(4, 1, n),
            "f_count": rng.poisson(5, n).astype("int64"),
            "f_score": rng.normal(600, 80, n),
            "f_ratio": rng.random(n),
            "f_method": rng.choice(["card", "pix", "cash", "wallet"], n),
            "f_category": rng.choice(["a", "b", "c", "d", "e", "f"], n),
        }
    )


def entity_rows(entities: int, rows: int, days: int, seed: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in rng.integers(0, entities, rows)],
            "event_timestamp": END - pd.to_timedelta(rng.integers(0, days * 86_400, rows), unit="s"),
        }
    )


def pct(samples: list[float], q: float) -> float:
    return float(np.percentile(samples, q))


async def register(fs: FeatureStore, data: pd.DataFrame) -> None:
    """The customer entity and the benchmark's features, their transformers fitted on a sample
    of ``data`` (so ingest transforms with fitted transformers: the realistic path)."""
    await fs.create_entity(Entity(name="customer", join_key="customer_id"))
    for feature, spec in FEATURES:
        await fs.create_feature(feature, transformer=spec)
    for name in NAMES:
        await fs.update_feature(name, transformer=fitted_transformer(fs, name, data), new_version=True)


async def single_writes(fs: FeatureStore, n: int) -> list[float]:
    """Seconds of each of ``n`` single-value writes of the first feature (100 entities)."""
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    times = []
    for i in range(n):
        started = time.perf_counter()
        await fs.store_feature_value(NAMES[0], f"c{i % 100}", float(i), t0 + timedelta(seconds=i))
        times.append(time.perf_counter() - started)
    return times


async def build(home: Path, data: pd.DataFrame) -> dict[str, float]:
    out: dict[str, float] = {}
    async with FeatureStore(home=home) as fs:
        await register(fs, data)
        values = len(data) * len(NAMES)
        t = time.perf_counter()
        await fs.ingest(data)
        out["ingest_s"] = time.perf_counter() - t
        out["ingest_values_per_s"] = values / out["ingest_s"]
        out["values"] = values
    return out


async def ingest_again(home: Path, data: pd.DataFrame, **settings: str) -> dict[str, float]:
    """Re-ingest the same data (every value already stored: looked up, nothing written),
    then data overlapping it (half already stored, half newer events)."""
    out: dict[str, float] = {}
    values = len(data) * len(NAMES)
    overlap = data.copy()
    newer = np.arange(len(data)) % 2 == 1
    overlap.loc[newer, "event_timestamp"] += pd.Timedelta(days=90)
    async with FeatureStore(home=home, **settings) as fs:
        t = time.perf_counter()
        again = await fs.ingest(data)
        out["reingest_values_per_s"] = values / (time.perf_counter() - t)
        assert sum(again.unchanged.values()) == values
        t = time.perf_counter()
        mixed = await fs.ingest(overlap)
        out["overlap_values_per_s"] = values / (time.perf_counter() - t)
        assert sum(mixed.stored.values()) == values // 2
    return out


def fitted_transformer(fs: FeatureStore, name: str, data: pd.DataFrame):  # type: ignore[no-untyped-def]
    from fstore.transformers import create_transformer

    spec = next(s for f, s in FEATURES if f.name == name)
    return create_transformer(spec).fit(data[name].to_numpy()[:50_000])


async def online(home: Path, entities: int) -> dict[str, float]:
    out: dict[str, float] = {}
    rng = np.random.default_rng(3)
    async with FeatureStore(home=home) as fs:
        # materialize into an empty online store, then again over the same values (median of 5)
        empty, again = [], []
        for _ in range(5):
            for name in NAMES:
                await fs.online.delete_feature("customer", name)
            t = time.perf_counter()
            await fs.materialize()
            empty.append(time.perf_counter() - t)
            t = time.perf_counter()
            await fs.materialize()
            again.append(time.perf_counter() - t)
        out["materialize_s"] = statistics.median(empty)
        out["materialize_again_s"] = statistics.median(again)
        for size, reps in ((1, 20_000), (100, 2_000)):
            ids = [[f"c{i}" for i in rng.integers(0, entities, size)] for _ in range(reps)]
            for batch in ids[:200]:
                await fs.get_feature_vector(NAMES, batch)
            samples = []
            for batch in ids:
                t = time.perf_counter()
                await fs.get_feature_vector(NAMES, batch)
                samples.append(time.perf_counter() - t)
            out[f"vector_{size}_p50_ms"] = pct(samples, 50) * 1e3
            out[f"vector_{size}_p99_ms"] = pct(samples, 99) * 1e3
    return out


def online_sync(home: Path, entities: int) -> dict[str, float]:
    """The blocking twin, called from plain (non-async) code as a script would."""
    rng = np.random.default_rng(4)
    sync = FeatureStore.sync(home=home)
    ids = [[f"c{i}"] for i in rng.integers(0, entities, 20_000)]
    for batch in ids[:200]:
        sync.get_feature_vector(NAMES, batch)
    samples = []
    for batch in ids:
        t = time.perf_counter()
        sync.get_feature_vector(NAMES, batch)
        samples.append(time.perf_counter() - t)
    sync.close()
    return {"vector_1_sync_p50_ms": pct(samples, 50) * 1e3}


async def training(home: Path, rows: pd.DataFrame, repeats: int) -> dict[str, float]:
    async with FeatureStore(home=home) as fs:
        await fs.get_historical_features(rows.head(1000), NAMES)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            result = await fs.get_historical_features(rows, NAMES)
            times.append(time.perf_counter() - t)
        raw_times = []
        for _ in range(repeats):
            t = time.perf_counter()
            await fs.get_historical_features(rows, NAMES, transformed=False)
            raw_times.append(time.perf_counter() - t)
        assert len(result) == len(rows)
    return {
        "pit_s": statistics.median(times),
        "pit_raw_s": statistics.median(raw_times),
        "pit_peak_rss_mb": peak_rss_mb(),
    }


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM): ru_maxrss would include the parent's peak,
    which a child started by subprocess inherits."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scaler_speed(n: int = 10_000_000) -> float:
    x = np.random.default_rng(1).normal(size=n)
    scaler = StandardScaler().fit(x[:100_000])
    scaler.transform(x[:1000])
    times = []
    for _ in range(5):
        t = time.perf_counter()
        scaler.transform(x)
        times.append(time.perf_counter() - t)
    return n / min(times)


def cli_help_s() -> float:
    exe = Path(sys.executable).with_name("fstore")
    times = []
    for _ in range(7):
        t = time.perf_counter()
        subprocess.run([str(exe), "--help"], check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def print_table(rows: list[tuple[str, str, str]], heading: str = "measure") -> None:
    """The benchmark result table: measure, result, target."""
    width = max(len(r[0]) for r in rows)
    print(f"{heading:<{width}}  {'result':>22}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>22}  {target}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--training-only", metavar="HOME")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    entities, events, days, rows = (1_000, 20, 60, 10_000) if args.quick else (10_000, 20, 60, 100_000)
    if args.training_only:  # a fresh process, so peak RSS is the training set's alone
        result = asyncio.run(training(Path(args.training_only), entity_rows(entities, rows, days), 5))
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        data = history(entities, events, days)
        res = asyncio.run(build(home, data))
        res.update(asyncio.run(online(home, entities)))
        res.update(online_sync(home, entities))
        cmd = [sys.executable, __file__, "--training-only", str(home)] + (["--quick"] if args.quick else [])
        res.update(json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout))
        res.update(asyncio.run(ingest_again(home, data)))  # last: it adds history
    res["scaler_values_per_s"] = scaler_speed()
    res["cli_help_s"] = cli_help_s()
    if args.json:
        print(json.dumps(res, indent=2))
        return
    table = [
        ("online vector 1 entity × 6 features, p50", f"{res['vector_1_p50_ms']:.3f} ms", "<= 0.05 ms"),
        ("  same, p99", f"{res['vector_1_p99_ms']:.3f} ms", ""),
        ("  same through the sync twin, p50", f"{res['vector_1_sync_p50_ms']:.3f} ms", ""),
        ("online vector 100 entities × 6 features, p50", f"{res['vector_100_p50_ms']:.3f} ms", "<= 0.5 ms"),
        ("  same, p99", f"{res['vector_100_p99_ms']:.3f} ms", ""),
        (f"training set {rows:,} rows × 6 features (transformed)", f"{res['pit_s']:.3f} s", "<= 0.15 s"),
        ("  same, raw values", f"{res['pit_raw_s']:.3f} s", ""),
        ("  peak RSS of that process", f"{res['pit_peak_rss_mb']:.0f} MB", "<= 300 MB"),
        (
            f"materialize {entities:,} entities × 6 features (empty online)",
            f"{res['materialize_s']:.3f} s",
            "<= 0.1 s",
        ),
        ("  again, over existing values", f"{res['materialize_again_s']:.3f} s", ""),
        (
            f"batch ingest ({int(res['values']):,} values)",
            f"{res['ingest_values_per_s']:,.0f} values/s",
            ">= 500,000/s",
        ),
        ("  again, the same data (all already stored)", f"{res['reingest_values_per_s']:,.0f} values/s", ""),
        ("  overlapping data (half stored, half new)", f"{res['overlap_values_per_s']:,.0f} values/s", ""),
        ("StandardScaler.transform", f"{res['scaler_values_per_s'] / 1e6:,.1f} M values/s", ">= 10 M/s"),
        ("fstore --help", f"{res['cli_help_s']:.3f} s", "<= 0.5 s"),
    ]
    print_table(table)


if __name__ == "__main__":
    main()
