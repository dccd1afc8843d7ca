"""MongoDB metadata store benchmarks (issue "Production backends" target); prints a table.

Target: "MongoDB registry: listing 1,000 features <= 100 ms against SecantusDB". Starts its own
SecantusDB server (the test suite's ``tests/server_mongo.py``) in a temporary directory, or uses
``--url``; registers the features through ``FeatureStore(metadata_url=…)`` (one entity, every
feature numerical with a standard scaler) in a fresh database, then times
``FeatureStore.list_features()`` (documents → validated ``Feature`` models) and the raw
``MetadataStore.list(Kind.FEATURES)``. The embedded SQLite registry runs the same steps, for
comparison.

    .venv/bin/python bench/bench_mongo.py                  # ~20 s, most of it registering
    .venv/bin/python bench/bench_mongo.py --features 200   # a smoke test
    .venv/bin/python bench/bench_mongo.py --url 'mongodb://127.0.0.1:27017/?retryWrites=false'
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fstore import FeatureStore
from fstore.backends.metadata.base import Kind
from fstore.models import Entity, Feature, TransformerSpec
from server_mongo import database_url, drop_database, secantus_server


async def measure(home: Path, metadata_url: str | None, features: int, repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with FeatureStore(home=home, metadata_url=metadata_url) as fs:
        await fs.create_entity(Entity(name="customer", join_key="customer_id"))
        spec = TransformerSpec(kind="standard_scaler")
        t = time.perf_counter()
        for i in range(features):
            await fs.create_feature(
                Feature(name=f"f_{i:04d}", entity="customer", description=f"feature {i}", tags=["bench"]),
                transformer=spec,
            )
        out["register_per_s"] = features / (time.perf_counter() - t)

        listed = await fs.list_features()  # warm-up (and a check)
        assert len(listed) == features, len(listed)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            await fs.list_features()
            times.append(time.perf_counter() - t)
        out["list_ms"] = statistics.median(times) * 1000
        out["list_max_ms"] = max(times) * 1000

        metadata = fs.registry.metadata
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            docs = await metadata.list(Kind.FEATURES)
            times.append(time.perf_counter() - t)
        assert len(docs) == features
        out["raw_list_ms"] = statistics.median(times) * 1000

        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            await metadata.get(Kind.FEATURES, "f_0500" if features > 500 else "f_0000")
            times.append(time.perf_counter() - t)
        out["get_ms"] = statistics.median(times) * 1000

        n = 100_000
        t = time.perf_counter()
        for _ in range(n):
            await metadata.generation()
        out["generation_us"] = (time.perf_counter() - t) / n * 1e6
    return out


@contextmanager
def mongo_base(url: str | None, tmp: Path) -> Iterator[str]:
    if url is not None:
        yield url
        return
    with secantus_server(tmp / "secantus") as started:
        yield started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--features", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--url", help="an existing MongoDB server (default: start SecantusDB)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="fstore-bench-mongo-") as tmp_dir:
        tmp = Path(tmp_dir)
        with mongo_base(args.url, tmp) as base:
            url = database_url(base, f"fstore_bench_{uuid.uuid4().hex[:12]}")
            try:
                mongo = asyncio.run(measure(tmp / "mongo-home", url, args.features, args.repeats))
            finally:
                drop_database(url)
        sqlite = asyncio.run(measure(tmp / "sqlite-home", None, args.features, args.repeats))

    n = f"{args.features:,}"
    rows = [
        (f"list_features(), {n} features, median of {args.repeats}", "list_ms", "{:.1f} ms", "<= 100 ms"),
        ("same, slowest", "list_max_ms", "{:.1f} ms", ""),
        (f"MetadataStore.list(FEATURES), {n} docs, median", "raw_list_ms", "{:.1f} ms", ""),
        ("MetadataStore.get(FEATURES, key), median", "get_ms", "{:.3f} ms", ""),
        ("MetadataStore.generation(), per call", "generation_us", "{:.2f} µs", "no round trip"),
        ("create_feature (with transformer), sequential", "register_per_s", "{:,.0f} /s", ""),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'mongodb':>12}  {'sqlite':>12}  target")
    print(f"{'-' * width}  {'-' * 12}  {'-' * 12}  ------")
    for label, key, fmt, target in rows:
        print(f"{label:<{width}}  {fmt.format(mongo[key]):>12}  {fmt.format(sqlite[key]):>12}  {target}")


if __name__ == "__main__":
    main()
