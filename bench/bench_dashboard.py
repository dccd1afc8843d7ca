"""The dashboard's performance targets (issue 10): first load <= 1 s on loopback, JavaScript
<= 400 KB gzipped, and a features table that stays responsive with 10,000 features (its page,
search and last page answered by the API); prints a table.

    .venv/bin/python bench/bench_dashboard.py           # 10,000 features, ~2-3 min
    .venv/bin/python bench/bench_dashboard.py --quick   # 1,000 features
    .venv/bin/python bench/bench_dashboard.py --before DIR    # first load of another build too

``--before DIR`` serves a second build (e.g. an older commit's ``vite build --outDir DIR``)
over the same store from the same process and measures both first loads, run for run,
so a before/after comparison shares the machine's load. ``--mongodb URL`` keeps the
metadata in MongoDB instead of SQLite. ``--bulk`` writes the features' documents straight into
the metadata store, 1,000 a transaction (no versions or history: the table reads only the
features), for a quick setup on a slow server; ``--no-browser`` skips the first loads.

Needs the dashboard's build (cd web && npm ci && npm run build); the first-load rows need
Node.js and /usr/bin/chromium (skipped without them).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from bench_metadata_find import fill
from fstore import FeatureStore, Settings
from fstore.api import create_app
from fstore.api.web import WEB_DIST
from fstore.models import Entity, Feature

ROOT = Path(__file__).resolve().parents[1]
QUICK = "--quick" in sys.argv
N = 1_000 if QUICK else 10_000


def _option(name: str) -> str | None:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else None


BEFORE = _option("--before")
MONGODB = _option("--mongodb")
BULK = "--bulk" in sys.argv
BROWSER = "--no-browser" not in sys.argv


def settings(home: Path) -> Settings:
    extra = {} if MONGODB is None else {"metadata_url": MONGODB}
    return Settings(home=home, dev_mode=True, auth_disabled=True, **extra)


async def register(home: Path) -> float:
    started = time.perf_counter()
    async with FeatureStore(settings=settings(home)) as fs:
        await fs.create_entity(Entity(name="customer", join_key="customer_id"))
        if BULK:
            await fill(fs.metadata, N)
            return time.perf_counter() - started
        for i in range(N):
            tags = ["even"] if i % 2 == 0 else ["odd"]
            await fs.create_feature(Feature(name=f"feature_{i:05d}", entity="customer", tags=tags))
    return time.perf_counter() - started


def serve(home: Path, web_root: Path = WEB_DIST) -> tuple[uvicorn.Server, str]:
    app = create_app(settings=settings(home), web_root=web_root)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


def timed(client: httpx.Client, path: str, runs: int = 20) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        client.get(path).raise_for_status()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def js_gzipped() -> tuple[int, int]:
    """(all JavaScript, the shell chunk) gzipped, in bytes."""
    files = sorted((WEB_DIST / "assets").glob("*.js"))
    sizes = {f.name: len(gzip.compress(f.read_bytes(), 9)) for f in files}
    shell = next(size for name, size in sizes.items() if name.startswith("index-"))
    return sum(sizes.values()), shell


def first_load(base: str, runs: int = 5) -> dict[str, Any] | None:
    if shutil.which("node") is None or not Path("/usr/bin/chromium").exists():
        return None
    out = subprocess.run(
        ["node", "scripts/measure-load.mjs", base, str(runs)],
        cwd=ROOT / "web",
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def first_loads(bases: dict[str, str], rounds: int = 5) -> dict[str, dict[str, Any]]:
    """``first_load`` of each server, one run each per round (so both see the same load)."""
    merged: dict[str, dict[str, Any]] = {}
    for _ in range(rounds):
        for name, base in bases.items():
            one = first_load(base, 1)
            if one is None:
                return {}
            into = merged.setdefault(name, {})
            for key, value in one.items():
                into[key] = into.get(key, []) + value if isinstance(value, list) else value
    return merged


def timeline_rows(name: str, timelines: list[dict[str, list[int]]]) -> list[tuple[str, str, str]]:
    """The median start-end of each step of the overview's first load."""
    rows = []
    for step in timelines[0]:
        runs = [t[step] for t in timelines if step in t]
        start = statistics.median(r[0] for r in runs)
        span = (
            f"{start:.0f}"
            if len(runs[0]) == 1
            else f"{start:.0f}-{statistics.median(r[1] for r in runs):.0f}"
        )
        rows.append((f"  {name}: {step} (ms from navigation)", span, ""))
    return rows


def main() -> None:
    if not (WEB_DIST / "index.html").is_file():
        sys.exit("build the dashboard first: cd web && npm ci && npm run build")
    rows: list[tuple[str, str, str]] = []
    total, shell = js_gzipped()
    rows.append(("JavaScript, all chunks, gzipped", f"{total / 1024:.0f} KB", "<= 400 KB"))
    rows.append(("  of which the shell (every page)", f"{shell / 1024:.0f} KB", ""))
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        took = asyncio.run(register(home))
        rows.append((f"register {N:,} features (setup)", f"{took:.1f} s", ""))
        server, base = serve(home)
        try:
            with httpx.Client(base_url=base, timeout=30) as client:
                for label, path in (
                    ("features table, first page of 25", "/api/v1/features?limit=25"),
                    ("search by name (q=feature_09)", "/api/v1/features?limit=25&q=feature_09"),
                    ("last page", f"/api/v1/features?limit=25&offset={N - 25}"),
                    ("filter by tag", "/api/v1/features?limit=25&tag=even"),
                    ("overview", "/api/v1/overview"),
                ):
                    rows.append((f"{label}, p50 of 20", f"{timed(client, path):.1f} ms", "responsive"))
            builds = {"after": base} if BROWSER else {}
            if BEFORE is not None:
                before_server, builds["before"] = serve(home, Path(BEFORE).resolve())
            loads = first_loads(builds)
            if BEFORE is not None:
                before_server.should_exit = True
            for name, load in sorted(loads.items(), reverse=True):
                label_of = {
                    "baseline": "a tiny HTML page (the browser's floor)",
                    "overview": "overview",
                    "features": f"features table of {N:,}",
                }
                for key, label in label_of.items():
                    median = statistics.median(load[key])
                    rows.append(
                        (f"{name}: first load, {label} shown (median, cold)", f"{median:.0f} ms", "<= 1 s")
                    )
                rows.append(
                    (f"{name}: JavaScript of the first load, decoded", f"{load['jsBytes'] / 1024:.0f} KB", "")
                )
                rows.append((f"{name}: the same, transferred", f"{load['jsTransferred'] / 1024:.0f} KB", ""))
                rows.extend(timeline_rows(name, load["timeline"]))
        finally:
            server.should_exit = True
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'result':>10}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>10}  {target}")


if __name__ == "__main__":
    main()
