"""The dashboard's performance targets (issue 10): first load <= 1 s on loopback, JavaScript
<= 400 KB gzipped, and a features table that stays responsive with 10,000 features (its page,
search and last page answered by the API); prints a table.

    .venv/bin/python bench/bench_dashboard.py           # 10,000 features, ~2-3 min
    .venv/bin/python bench/bench_dashboard.py --quick   # 1,000 features

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

import httpx
import uvicorn

from fstore import FeatureStore, Settings
from fstore.api import create_app
from fstore.api.web import WEB_DIST
from fstore.models import Entity, Feature

ROOT = Path(__file__).resolve().parents[1]
QUICK = "--quick" in sys.argv
N = 1_000 if QUICK else 10_000


async def register(home: Path) -> float:
    started = time.perf_counter()
    async with FeatureStore(home=home) as fs:
        await fs.create_entity(Entity(name="customer", join_key="customer_id"))
        for i in range(N):
            tags = ["even"] if i % 2 == 0 else ["odd"]
            await fs.create_feature(Feature(name=f"feature_{i:05d}", entity="customer", tags=tags))
    return time.perf_counter() - started


def serve(home: Path) -> tuple[uvicorn.Server, str]:
    settings = Settings(home=home, dev_mode=True, auth_disabled=True)
    config = uvicorn.Config(create_app(settings=settings), host="127.0.0.1", port=0, log_level="warning")
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


def first_load(base: str) -> dict[str, list[float]] | None:
    if shutil.which("node") is None or not Path("/usr/bin/chromium").exists():
        return None
    out = subprocess.run(
        ["node", "scripts/measure-load.mjs", base, "5"],
        cwd=ROOT / "web",
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    result: dict[str, list[float]] = json.loads(out.stdout)
    return result


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
            load = first_load(base)
            if load is not None:
                for key, label in (
                    ("baseline", "a tiny HTML page (the browser's floor)"),
                    ("overview", "overview"),
                    ("features", f"features table of {N:,}"),
                ):
                    median = statistics.median(load[key])
                    rows.append(
                        (f"first load, {label} shown (median of 5, cold)", f"{median:.0f} ms", "<= 1 s")
                    )
                rows.append(("JavaScript fetched by the first load", f"{load['jsBytes'] / 1024:.0f} KB", ""))
        finally:
            server.should_exit = True
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'result':>10}  target")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>10}  {target}")


if __name__ == "__main__":
    main()
