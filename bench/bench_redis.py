"""Redis online store benchmarks (issue "Production backends" targets); prints a table.

Same data shape as ``bench_core.py``: 10,000 entities × 20 events over 60 days, 6 features
(the online copy holds the latest value of each: 60,000 values). Reads go through the public
``FeatureStore.get_feature_vector`` (async, in process) with the embedded metadata and offline
stores in a temporary directory and ``online_url`` pointing at Redis; writes are measured at
the store level (``RedisOnlineStore.write`` of 60,000 values).

    .venv/bin/python bench/bench_redis.py                 # the Redis on 127.0.0.1:6379 (~30 s)
    .venv/bin/python bench/bench_redis.py --quick         # smaller, for a smoke test
    .venv/bin/python bench/bench_redis.py --url 'redis://127.0.0.1:7000/0?cluster=true'

Every key goes under a random prefix (``?prefix=bench…:``), deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import FEATURES, NAMES, fitted_transformer, history, pct, print_table
from fstore import FeatureStore
from fstore.backends.online.base import OnlineWrite
from fstore.backends.online.redis import RedisOnlineStore
from fstore.models import Entity


def with_prefix(url: str, prefix: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}prefix={prefix}"


async def delete_prefix(url: str, prefix: str) -> int:
    """Delete every key under ``prefix`` (SCAN + UNLINK on every master)."""
    store = RedisOnlineStore(with_prefix(url, prefix))
    await store.open()
    try:
        return await store.delete_prefix()
    finally:
        await store.close()


async def build(home: Path, url: str, entities: int, events: int) -> dict[str, float]:
    data = history(entities, events, 60)
    async with FeatureStore(home=home, online_url=url) as fs:
        await fs.create_entity(Entity(name="customer", join_key="customer_id"))
        for feature, spec in FEATURES:
            await fs.create_feature(feature, transformer=spec)
        for name in NAMES:
            await fs.update_feature(name, transformer=fitted_transformer(fs, name, data), new_version=True)
        t = time.perf_counter()
        await fs.ingest(data)
        ingest_s = time.perf_counter() - t
        # materialize into an empty online store (median of 3)
        times = []
        for _ in range(3):
            for name in NAMES:
                await fs.online.delete_feature("customer", name)
            t = time.perf_counter()
            await fs.materialize()
            times.append(time.perf_counter() - t)
    return {
        "ingest_values_per_s": len(data) * len(NAMES) / ingest_s,
        "values": len(data) * len(NAMES),
        "materialize_s": statistics.median(times),
    }


async def vectors(home: Path, url: str, entities: int, reps: int) -> dict[str, float]:
    out: dict[str, float] = {}
    rng = np.random.default_rng(3)
    async with FeatureStore(home=home, online_url=url) as fs:
        for size, n in ((1, reps), (100, max(reps // 10, 200))):
            ids = [[f"c{i}" for i in rng.integers(0, entities, size)] for _ in range(n)]
            for batch in ids[:200]:  # warm up (metadata cache, connections)
                await fs.get_feature_vector(NAMES, batch)
            samples = []
            for batch in ids:
                t = time.perf_counter()
                vec = await fs.get_feature_vector(NAMES, batch)
                samples.append(time.perf_counter() - t)
            assert all(v is not None for v in vec.values[NAMES[0]])
            out[f"vector_{size}_p50_ms"] = pct(samples, 50) * 1e3
            out[f"vector_{size}_p99_ms"] = pct(samples, 99) * 1e3
        assert fs.metrics.online_read_fallbacks == 0, "reads fell back to the offline store"
        assert fs.metrics.online_misses == 0, "online misses: the benchmark read the offline store"
    return out


def latest_writes(entities: int, events: int, shift_us: int = 0) -> list[OnlineWrite]:
    """The online copy of the benchmark data: each entity's latest value of each feature."""
    data = (
        history(entities, events, 60)
        .sort_values("event_timestamp")
        .drop_duplicates("customer_id", keep="last")
    )
    ids = data["customer_id"].tolist()
    ts = (data["event_timestamp"].astype("int64") // 1000 + shift_us).tolist()
    writes = []
    for name in NAMES:
        values = data[name].tolist()
        transformed: list[Any] = values if name != "f_category" else [[1.0, 0.0] for _ in values]
        writes.append(OnlineWrite(name, ids, ts, values, transformed, "1.0.0"))
    return writes


async def store_writes(url: str, entities: int, events: int, repeats: int) -> dict[str, float]:
    prefix = f"benchw{uuid.uuid4().hex[:8]}:"
    store = RedisOnlineStore(with_prefix(url, prefix))
    first, newer = latest_writes(entities, events), latest_writes(entities, events, shift_us=1)
    values = sum(len(w.entity_ids) for w in first)
    await store.open()
    empty, same, newer_t = [], [], []
    try:
        for _ in range(repeats):
            await store.delete_prefix()
            t = time.perf_counter()
            applied = await store.write("customer", first)
            empty.append(time.perf_counter() - t)
            assert applied == values, (applied, values)
            t = time.perf_counter()
            assert await store.write("customer", first) == 0  # identical values: no write
            same.append(time.perf_counter() - t)
            t = time.perf_counter()
            assert await store.write("customer", newer) == values
            newer_t.append(time.perf_counter() - t)
        await store.delete_prefix()
    finally:
        await store.close()
    return {
        "write_values": values,
        "write_empty_per_s": values / statistics.median(empty),
        "write_same_per_s": values / statistics.median(same),
        "write_newer_per_s": values / statistics.median(newer_t),
    }


async def server_info(url: str) -> dict[str, Any]:
    store = RedisOnlineStore(url)
    await store.open()
    try:
        return await store.ping()
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0", help="Redis URL (no prefix)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    entities, events, reps = (1_000, 5, 2_000) if args.quick else (10_000, 20, 20_000)
    prefix = f"bench{uuid.uuid4().hex[:8]}:"
    url = with_prefix(args.url, prefix)
    res: dict[str, Any] = {"server": asyncio.run(server_info(args.url))}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            res.update(asyncio.run(build(home, url, entities, events)))
            res.update(asyncio.run(vectors(home, url, entities, reps)))
        res.update(asyncio.run(store_writes(args.url, entities, events, 5)))
    finally:
        res["keys_deleted"] = asyncio.run(delete_prefix(args.url, prefix))
    if args.json:
        print(json.dumps(res, indent=2))
        return
    server = res["server"]
    print(f"Redis {server['version']} ({server['mode']}) at {server['url']}")
    table = [
        ("online vector 1 entity × 6 features, p50", f"{res['vector_1_p50_ms']:.3f} ms", "<= 0.25 ms"),
        ("  same, p99", f"{res['vector_1_p99_ms']:.3f} ms", ""),
        ("online vector 100 entities × 6 features, p50", f"{res['vector_100_p50_ms']:.3f} ms", "<= 2 ms"),
        ("  same, p99", f"{res['vector_100_p99_ms']:.3f} ms", ""),
        (
            f"store write {int(res['write_values']):,} values (empty online)",
            f"{res['write_empty_per_s']:,.0f} values/s",
            "",
        ),
        ("  same values again (no change)", f"{res['write_same_per_s']:,.0f} values/s", ""),
        ("  newer values over stored ones", f"{res['write_newer_per_s']:,.0f} values/s", ""),
        (
            f"materialize {entities:,} entities × 6 features (empty online)",
            f"{res['materialize_s']:.3f} s",
            "",
        ),
        (
            f"batch ingest ({int(res['values']):,} values, offline + online)",
            f"{res['ingest_values_per_s']:,.0f} values/s",
            "",
        ),
    ]
    print_table(table)


if __name__ == "__main__":
    main()
