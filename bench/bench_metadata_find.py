"""The features table's queries on a metadata store with 10,000 features: the store's ``find``
(filter, count and page in the store) next to listing every feature and filtering in Python
(what the registry did before); median of 7 each. Prints one line per query.

    .venv/bin/python bench/bench_metadata_find.py sqlite:////tmp/find.db
    .venv/bin/python bench/bench_metadata_find.py "mongodb://127.0.0.1:27017/find?retryWrites=false"
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fstore.backends import create_metadata_store
from fstore.backends.metadata.base import Kind, MetadataStore, Put, Query
from fstore.models import Feature, utcnow

N = 10_000
# name: (offset, name part, tag)
CASES: dict[str, tuple[int, str | None, str | None]] = {
    "first page": (0, None, None),
    "last page": (N - 25, None, None),
    "search q=feature_09": (0, "feature_09", None),
    "tag=even": (0, None, "even"),
}


async def fill(store: MetadataStore, n: int = N) -> None:
    """``n`` feature documents (``feature_00000``…, tagged even / odd), 1,000 a write."""
    if (await store.find(Kind.FEATURES, Query(), limit=0))[1] >= n:
        return
    now = utcnow()
    for start in range(0, n, 1000):
        docs = [
            Feature(
                name=f"feature_{i:05d}",
                entity="customer",
                tags=["even" if i % 2 == 0 else "odd"],
                current_version="1.0.0",
                created_at=now,
                updated_at=now,
            ).model_dump(mode="json")
            for i in range(start, min(start + 1000, n))
        ]
        await store.write([Put(Kind.FEATURES, d["name"], d) for d in docs])


async def median_ms(call: Callable[[], Awaitable[Any]], runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


async def listed(store: MetadataStore, offset: int, part: str | None, tag: str | None) -> list[Feature]:
    docs = [
        d
        for d in await store.list(Kind.FEATURES)
        if (tag is None or tag in d.get("tags", ())) and (part is None or part in d["name"].lower())
    ]
    docs.sort(key=lambda d: d["name"])
    return [Feature.model_validate(d) for d in docs[offset : offset + 25]]


async def found(store: MetadataStore, offset: int, part: str | None, tag: str | None) -> list[Feature]:
    query = Query(contains={} if tag is None else {"tags": tag}, key_contains=part)
    docs, _ = await store.find(Kind.FEATURES, query, limit=25, offset=offset)
    return [Feature.model_validate(d) for d in docs]


async def main(url: str) -> None:
    store = create_metadata_store(url)
    await store.open()
    try:
        await fill(store)
        for name, args in CASES.items():
            before = await median_ms(lambda args=args: listed(store, *args))
            after = await median_ms(lambda args=args: found(store, *args))
            print(f"{name:22} list+filter {before:8.1f} ms   find {after:8.1f} ms")
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
