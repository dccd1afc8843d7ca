"""An ``fstore serve`` killed (SIGKILL) in the middle of a batch leaves nothing of that batch
visible: after each kill a restarted store holds every row of each batch or none of it, and
every batch the server acknowledged. On the embedded store and on PostgreSQL."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from e2e_serving import serving

from fstore import FeatureStore, Settings
from fstore.models import Entity, Feature
from server_postgres import drop_schema

ROWS = 20_000  # a batch the server needs a noticeable moment for
ITERATIONS = 6


def _batch(k: int) -> dict[str, object]:
    return {
        "values": [
            {"entity_id": f"b{k}-{i}", "value": float(i), "event_timestamp": "2026-01-01T00:00:00Z"}
            for i in range(ROWS)
        ]
    }


async def _stored_per_batch(settings: Settings, batches: int) -> tuple[dict[int, int], dict[int, int]]:
    """Rows in the offline history per batch, and values served per batch (a sample)."""
    async with FeatureStore(settings) as fs:
        history = await fs.get_feature_history("amount")
        counts: dict[int, int] = dict.fromkeys(range(batches), 0)
        for eid in history.column("entity_id").to_pylist():
            counts[int(eid[1 : eid.index("-")])] += 1
        served: dict[int, int] = {}
        for k in range(batches):
            ids = [f"b{k}-{i}" for i in range(0, ROWS, ROWS // 50)]
            vector = await fs.get_feature_vector(["amount"], ids)
            served[k] = sum(v is not None for v in vector.values["amount"])
        return counts, served


def _post(base: str, k: int, acked: set[int]) -> None:
    try:
        r = httpx.post(f"{base}/api/v1/features/amount/values/batch", json=_batch(k), timeout=60)
    except httpx.TransportError:
        return  # killed before it answered
    if r.status_code == 201:
        acked.add(k)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["embedded", "postgres"])
def test_a_server_killed_mid_batch_leaves_all_or_nothing(
    backend: str, tmp_path: Path, postgres_url: str
) -> None:
    home = tmp_path / "home"
    env: dict[str, str] = {"FSTORE_DEV_MODE": "true", "FSTORE_AUTH_DISABLED": "true"}
    schema = f"killed_{uuid4().hex[:10]}"
    overrides: dict[str, str] = {}
    if backend == "postgres":
        overrides["offline_url"] = f"{postgres_url}?schema={schema}"
        env["FSTORE_OFFLINE_URL"] = overrides["offline_url"]
    settings = Settings(home=home, actor="tester", **overrides)

    async def setup() -> None:
        async with FeatureStore(settings) as fs:
            await fs.create_entity(Entity(name="customer", join_key="customer_id"))
            await fs.create_feature(Feature(name="amount", entity="customer"))

    asyncio.run(setup())
    rng = random.Random(8)
    acked: set[int] = set()
    try:
        for k in range(ITERATIONS):
            with serving(home, env=env) as server:
                sender = threading.Thread(target=_post, args=(server.base, k, acked))
                sender.start()
                time.sleep(rng.uniform(0.05, 0.6))
                server.proc.kill()
                sender.join(timeout=60)
            counts, served = asyncio.run(_stored_per_batch(settings, k + 1))
            for j, n in counts.items():
                assert n in (0, ROWS), f"batch {j}: {n} of {ROWS} rows stored after the kill"
                assert served[j] in (0, 50), f"batch {j}: {served[j]} of 50 sampled values served"
                assert (n == ROWS) == (served[j] == 50)
            assert all(counts[j] == ROWS for j in acked), "an acknowledged batch is missing"
    finally:
        if backend == "postgres":
            drop_schema(postgres_url, schema)
