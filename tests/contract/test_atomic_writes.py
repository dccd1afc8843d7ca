"""A multi-feature write is all or nothing, even when its process is killed (SIGKILL) at a
random moment: on every offline backend, a real writer process is killed many times, and
after each kill every call it made is either stored whole (every row of every feature) or
not at all; calls it saw acknowledged are stored. Half the calls repeat stored event times,
so the identity lookup path (staging table, footer reads) is killed too.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import textwrap
from collections import Counter
from pathlib import Path

from fstore.backends import create_offline_store
from fstore.backends.offline.base import OfflineStore

FEATURES = ("fa", "fb", "fc")
ROWS = 5_000  # per feature and call: a write takes long enough to be killed in the middle
ITERATIONS = int(os.environ.get("FSTORE_KILL_ITERATIONS", "15"))

WRITER = textwrap.dedent(
    """
    import asyncio, sys
    import numpy as np
    import pyarrow as pa
    from fstore.backends import create_offline_store

    TS = pa.timestamp("us", tz="UTC")
    FEATURES, ROWS = {features!r}, {rows}

    async def main(url, first):
        store = create_offline_store(url)
        await store.open()
        call = int(first)
        warm = True  # a first write to another feature: imports and caches are warm
        while True:
            # odd calls repeat one event time (a lookup of stored rows), even ones are newer
            ts = 1_700_000_000_000_000 + (call if call % 2 == 0 else 0) * 1_000_000
            base = pa.table({{
                "entity_id": pa.array([f"c{{call}}-{{i}}" for i in range(ROWS)]),
                "event_timestamp": pa.array(np.full(ROWS, ts, np.int64)).cast(TS),
                "value": pa.array(np.full(ROWS, float(call))),
                "transformed": pa.nulls(ROWS),
                "version": pa.array(["1.0.0"] * ROWS),
                "ingested_at": pa.array(np.full(ROWS, ts, np.int64)).cast(TS),
            }})
            if warm:
                await store.write({{"warm_" + f: base for f in FEATURES}})
                print("ready", flush=True)
                warm = False
                continue
            await store.write({{f: base for f in FEATURES}})
            print(call, flush=True)
            call += 1

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
).format(features=FEATURES, rows=ROWS)


async def _kill_a_writer(
    script: Path, url: str, first: int, delay: float, after_a_call: bool = False
) -> list[int]:
    """Start a writer, SIGKILL it ``delay`` seconds after it is ready (``after_a_call``: after
    it acknowledged its first call, so a loaded machine still sees calls complete); the calls
    it reported."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        url,
        str(first),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    done: list[int] = []
    try:
        async with asyncio.timeout(60):
            line = await proc.stdout.readline()
            assert line == b"ready\n", (line, await proc.stderr.read())  # type: ignore[union-attr]

            async def collect() -> None:
                async for raw in proc.stdout:  # type: ignore[union-attr]
                    done.append(int(raw))

            if after_a_call:
                done.append(int(await proc.stdout.readline()))
            reader = asyncio.create_task(collect())
            await asyncio.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            await reader
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return done


async def _calls_stored(store: OfflineStore) -> dict[str, Counter[int]]:
    out = {}
    for feature in FEATURES:
        h = await store.history(feature, include_superseded=True)
        out[feature] = Counter(int(v) for v in h.column("value").to_pylist())
    return out


async def test_a_killed_multi_feature_write_leaves_all_or_nothing(
    offline: OfflineStore, tmp_path: Path
) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    rng = random.Random(8)
    acknowledged: set[int] = set()
    for i in range(ITERATIONS):
        first = i * 1000
        delay = rng.uniform(0.0, 0.3)
        acknowledged |= set(await _kill_a_writer(script, offline.url, first, delay, after_a_call=i % 2 == 1))
        # a fresh client, as a restarted process would be (the embedded store recovers on open)
        store = create_offline_store(offline.url)
        await store.open()
        try:
            stored = await _calls_stored(store)
        finally:
            await store.close()
        calls = set(stored[FEATURES[0]])
        for feature in FEATURES:
            assert set(stored[feature]) == calls, f"iteration {i}: features disagree on the calls stored"
            wrong = {c: n for c, n in stored[feature].items() if n != ROWS}
            assert not wrong, f"iteration {i}: {feature} holds part of calls {wrong}"
        assert acknowledged <= calls, "an acknowledged call is missing"
    assert acknowledged, "no writer ever completed a call: the test proves nothing"


async def test_embedded_open_rolls_back_dead_writers_and_removes_their_temp_files(tmp_path: Path) -> None:
    root = tmp_path / "offline"
    url = f"duckdb:///{root}"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    for i in range(6):
        await _kill_a_writer(script, url, i * 1000, 0.02 * i)
    # and what a writer killed between renaming a segment into place and publishing leaves:
    # a copy of a segment, named by a marker nobody holds, plus a temporary file
    segment = next(p for p in (root / "fa").iterdir() if p.suffix == ".parquet")
    orphan = root / "fa" / ("99999999999999999999-000000000000.parquet")
    orphan.write_bytes(segment.read_bytes())
    (root / "fa" / "x.parquet.tmp").write_bytes(b"partial")
    (root / ".txn").mkdir(exist_ok=True)
    (root / ".txn" / "1-dead.txn").write_text(json.dumps([["fa", orphan.name]]))
    reader = create_offline_store(url)  # not opened: a reader never sees the pending segment
    before = await reader.history("fa", include_superseded=True)
    store = create_offline_store(url)
    await store.open()
    try:
        stored = await _calls_stored(store)
        assert (await store.history("fa", include_superseded=True)).equals(before)
    finally:
        await store.close()
    assert len({frozenset(c.items()) for c in stored.values()}) == 1
    assert not orphan.exists()
    files = await asyncio.to_thread(lambda: [p for p in root.rglob("*") if p.is_file()])
    leftovers = [p for p in files if p.name.endswith((".tmp", ".txn"))]
    assert leftovers == []
