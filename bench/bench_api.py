"""REST API benchmarks (issue "REST API" targets) over a real server; prints a table.

Data as in ``bench_core.py`` (6 features of a ``customer`` entity, 10,000 entities × 5 events),
in a temporary FSTORE home. Each variant (embedded online store, Redis online store; each
again with authentication when the app has ``/api/v1/auth/token``: the bench creates an admin
and sends its bearer token) runs ``fstore serve`` in a subprocess: one uvicorn worker on
loopback with uvloop and httptools (what uvicorn picks when they are installed), the JSON
access log written to a file. Clients are stdlib ``http.client`` connections kept alive, so
the client adds little.

* latency: ``POST /api/v1/online/features``, 1 entity × 6 features, one request at a time after
  a warm-up; p50/p99 are medians over ``--rounds`` rounds. The floor is ``GET /health/live``
  on the same connection: what HTTP, the framework and the client cost with no work;
* throughput: ``--clients`` client processes, each with its own keep-alive connection, for
  ``--seconds``. Clients and server share the machine's cores, so the server's own CPU time
  in the window is read from ``/proc`` too: requests per server CPU-second is what the one
  worker does on a core of its own, whatever the clients cost;
* ``POST /api/v1/features/{name}/values/batch`` with 10,000 values of one feature for 10,000
  entities, each batch newer than the last (so every value is written online): median of
  ``--batch-runs``, and the server's own mean time of the online write and offline append.

    .venv/bin/python bench/bench_api.py            # ~1 minute
    .venv/bin/python bench/bench_api.py --quick    # smaller, for a smoke test
    .venv/bin/python bench/bench_api.py --no-redis # embedded only

Redis keys go under a random prefix (``?prefix=bench…:``), deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import itertools
import json
import multiprocessing as mp
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_core import FEATURES, NAMES, fitted_transformer, history, pct, print_table
from bench_redis import delete_prefix, with_prefix
from fstore import FeatureStore
from fstore.models import Entity

VECTOR_PATH = "/api/v1/online/features"
LIVE_PATH = "/health/live"
BATCH_FEATURE = "f_amount"
BATCH_PATH = f"/api/v1/features/{BATCH_FEATURE}/values/batch"
TOKEN_PATH = "/api/v1/auth/token"
BENCH_USER = "bench"
BATCH_RUNS = itertools.count()
JSON = "application/json"
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Variant:
    name: str
    env: dict[str, str]
    serve_args: list[str]
    auth: bool = False


# -- data ------------------------------------------------------------------------------------------


async def build(home: Path, entities: int, events: int, redis_url: str | None, password: str) -> None:
    """Register the features, ingest the history (embedded online store filled by ingest),
    materialize the same values into Redis when a URL is given, and create the admin that the
    variants with authentication log in as."""
    data = history(entities, events, 60)
    async with FeatureStore(home=home) as fs:
        try:
            from fstore.auth import Directory
        except ImportError:  # no authentication in this version: those variants are skipped
            pass
        else:
            await Directory(fs.metadata).create_first_admin(BENCH_USER, password)
        await fs.create_entity(Entity(name="customer", join_key="customer_id"))
        for feature, spec in FEATURES:
            await fs.create_feature(feature, transformer=spec)
        for name in NAMES:
            await fs.update_feature(name, transformer=fitted_transformer(fs, name, data), new_version=True)
        await fs.ingest(data)
    if redis_url:
        async with FeatureStore(home=home, online_url=redis_url) as fs:
            await fs.materialize()


def vector_bodies(entities: int, n: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [
        json.dumps({"features": NAMES, "entities": [f"c{i}"]}).encode() for i in rng.integers(0, entities, n)
    ]


def batch_body(entities: int, n: int, run: int) -> bytes:
    """``n`` values of one numerical feature, newer on every run (so every run writes online)."""
    rng = np.random.default_rng(100 + run)
    base = datetime(2026, 2, 1, tzinfo=UTC) + timedelta(hours=run)
    values = [
        {
            "entity_id": f"c{i % entities}",
            "value": float(v),
            "event_timestamp": (base + timedelta(microseconds=i)).isoformat().replace("+00:00", "Z"),
        }
        for i, v in enumerate(rng.lognormal(4, 1, n))
    ]
    return json.dumps({"values": values}).encode()


# -- the server ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(env: dict[str, str], args: list[str], log: Path) -> Iterator[tuple[int, int]]:
    """``fstore serve`` (one uvicorn worker; uvloop and httptools, as uvicorn picks them when
    installed) on a free loopback port; yields (port, pid). Its log, the JSON access log
    included, goes to ``log``."""
    port = free_port()
    cmd = [sys.executable, "-m", "fstore.cli", "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
            try:
                if request(port, "GET", LIVE_PATH)[0] == 200:
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.1)
        yield port, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def request(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body, headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def has_auth(port: int) -> bool:
    status, body = request(port, "GET", "/openapi.json")
    return status == 200 and TOKEN_PATH in json.loads(body).get("paths", {})


def get_token(port: int, user: str, password: str) -> str:
    """An access token from the OAuth2 password flow."""
    form = urllib.parse.urlencode({"username": user, "password": password}).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    status, text = request(port, "POST", TOKEN_PATH, form, headers)
    if status != 200:
        raise RuntimeError(f"no token: HTTP {status}: {text[:200]!r}")
    return str(json.loads(text)["access_token"])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def metrics(port: int, headers: dict[str, str]) -> dict[str, float]:
    """The server's ``/metrics`` samples by name and labels (empty without the route)."""
    status, body = request(port, "GET", "/metrics", headers=headers)
    if status != 200:
        return {}
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def store_op_ms(before: dict[str, float], after: dict[str, float], store: str, op: str) -> float | None:
    """Mean time of a backend operation between two scrapes (the server's own timing)."""
    labels = f'{{operation="{op}",store="{store}"}}'
    key = "fstore_store_operation_seconds"
    n = after.get(f"{key}_count{labels}", 0.0) - before.get(f"{key}_count{labels}", 0.0)
    if n <= 0:
        return None
    return (after[f"{key}_sum{labels}"] - before.get(f"{key}_sum{labels}", 0.0)) / n * 1e3


# -- the measures ----------------------------------------------------------------------------------


def latency_round(
    port: int, headers: dict[str, str], bodies: Sequence[bytes | None], warmup: int, path: str = VECTOR_PATH
) -> list[float]:
    """Requests one at a time on one keep-alive connection: POST ``bodies`` to ``path`` (a GET
    where a body is None); the time of each after the first ``warmup``."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    hdrs = {**headers, "Content-Type": JSON}
    samples = []
    try:
        for k, body in enumerate(bodies):
            t = time.perf_counter()
            conn.request("GET" if body is None else "POST", path, body, hdrs)
            resp = conn.getresponse()
            payload = resp.read()
            elapsed = time.perf_counter() - t
            if resp.status != 200:
                raise RuntimeError(f"{path}: {resp.status} {payload[:300]!r}")
            if k >= warmup:
                samples.append(elapsed)
    finally:
        conn.close()
    if path == VECTOR_PATH:
        last = json.loads(payload)
        assert all(last[n][0] is not None for n in NAMES), last
    return samples


def load_client(port: int, headers: dict[str, str], bodies: list[bytes], window: Any, ready: Any) -> None:
    """One client process: keep-alive requests back to back; counts only the shared window."""
    hdrs = {**headers, "Content-Type": JSON}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for body in bodies[:50]:  # connect and warm up
        conn.request("POST", VECTOR_PATH, body, hdrs)
        conn.getresponse().read()
    ready.put(None)
    while window[0] == 0.0:
        time.sleep(0.001)
    start, end = window[0], window[1]
    ok = errors = k = 0
    cpu0 = 0.0
    counting = False
    while True:
        now = time.time()
        if now >= end:
            break
        if not counting and now >= start:
            counting, cpu0 = True, time.process_time()
        try:
            conn.request("POST", VECTOR_PATH, bodies[k % len(bodies)], hdrs)
            resp = conn.getresponse()
            resp.read()
            good = resp.status == 200
        except (OSError, http.client.HTTPException):
            good = False
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        k += 1
        if counting and time.time() < end:
            ok += good
            errors += not good
    ready.put((ok, errors, time.process_time() - cpu0))
    conn.close()


def throughput(
    port: int, pid: int, headers: dict[str, str], bodies: list[bytes], clients: int, seconds: float
) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    window = ctx.Array("d", [0.0, 0.0], lock=False)
    procs = [
        ctx.Process(target=load_client, args=(port, headers, bodies[i::clients], window, queue))
        for i in range(clients)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        queue.get(timeout=120)
    start = time.time() + 0.2  # every client is already sending by then
    window[1], window[0] = start + seconds, start
    time.sleep(max(0.0, start - time.time()))
    cpu0 = cpu_seconds(pid)
    time.sleep(max(0.0, start + seconds - time.time()))
    server_cpu = cpu_seconds(pid) - cpu0
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join()
    ok = sum(r[0] for r in results)
    return {
        "rps": ok / seconds,
        "errors": sum(r[1] for r in results),
        "server_cpu": server_cpu / seconds,
        "client_cpu": sum(r[2] for r in results) / seconds,
        "per_server_cpu_s": ok / server_cpu if server_cpu else float("nan"),
    }


def batch_times(port: int, headers: dict[str, str], bodies: list[bytes], n: int) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    hdrs = {**headers, "Content-Type": JSON}
    times = []
    try:
        for body in bodies:
            t = time.perf_counter()
            conn.request("POST", BATCH_PATH, body, hdrs)
            resp = conn.getresponse()
            payload = resp.read()
            times.append(time.perf_counter() - t)
            if resp.status != 201 or json.loads(payload).get("stored") != n:
                raise RuntimeError(f"batch request failed: {resp.status} {payload[:300]!r}")
    finally:
        conn.close()
    return times[1:]  # the first request warms the route up


def measure(port: int, pid: int, headers: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    res: dict[str, Any] = {}
    if "latency" in args.phases:
        p50s, p99s = [], []
        for r in range(args.rounds):
            bodies = vector_bodies(args.entities, args.warmup + args.requests, r)
            samples = latency_round(port, headers, bodies, args.warmup)
            p50s.append(pct(samples, 50) * 1e3)
            p99s.append(pct(samples, 99) * 1e3)
        res |= {"p50_ms": statistics.median(p50s), "p99_ms": statistics.median(p99s)}
        res |= {"p50_rounds": p50s, "p99_rounds": p99s}
        # The floor: the same client and server on the cheapest route (no body, no store).
        floor = latency_round(port, headers, [None] * (args.warmup + args.requests), args.warmup, LIVE_PATH)
        res["floor_p50_ms"] = pct(floor, 50) * 1e3
    if "throughput" in args.phases:
        bodies = vector_bodies(args.entities, 4_000, 99)
        res.update(throughput(port, pid, headers, bodies, args.clients, args.seconds))
    if "batch" in args.phases:
        # Every batch newer than the last (none repeats another variant's), so each one writes.
        batches = [
            batch_body(args.entities, args.batch, next(BATCH_RUNS)) for _ in range(args.batch_runs + 1)
        ]
        before = metrics(port, headers)
        times = batch_times(port, headers, batches, args.batch)
        after = metrics(port, headers)
        res["batch_ms"] = statistics.median(times) * 1e3
        res["batch_rounds_ms"] = [t * 1e3 for t in times]
        res["batch_online_write_ms"] = store_op_ms(before, after, "online", "write")
        res["batch_offline_append_ms"] = store_op_ms(before, after, "offline", "write")
    res["online_misses"] = metrics(port, headers).get("fstore_online_misses_total")
    return res


# -- main ------------------------------------------------------------------------------------------


def variants(home: Path, redis_url: str | None) -> list[Variant]:
    base = {"FSTORE_HOME": str(home)}
    out = [Variant("embedded", base, ["--dev", "--no-auth"])]
    if redis_url:
        out.append(Variant("redis", {**base, "FSTORE_ONLINE_URL": redis_url}, ["--dev", "--no-auth"]))
    for v in list(out):
        secured = {
            **v.env,
            "FSTORE_SECRET_KEY": secrets.token_urlsafe(48),
            "FSTORE_ACCESS_TOKEN_MINUTES": "120",
        }
        out.append(Variant(f"{v.name} + auth", secured, [], auth=True))
    return out


def run_variant(variant: Variant, args: argparse.Namespace, log: Path) -> dict[str, Any]:
    env = {**variant.env, **dict(kv.split("=", 1) for kv in args.server_env)}
    with server(env, variant.serve_args, log) as (port, pid):
        headers: dict[str, str] = {}
        if variant.auth:
            if not has_auth(port):
                return {"skipped": f"the app has no {TOKEN_PATH}"}
            try:
                headers = {"Authorization": f"Bearer {get_token(port, BENCH_USER, args.password)}"}
            except RuntimeError as exc:
                return {"skipped": str(exc)}
        return measure(port, pid, headers, args)


def table(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for name, res in results.items():
        if "skipped" in res:
            rows.append((f"{name}: skipped", res["skipped"][:60], ""))
            continue
        first = f"{name}: "
        if "p50_ms" in res:
            rows.append((f"{first}vector 1 entity × 6 features, p50", f"{res['p50_ms']:.3f} ms", "<= 0.6 ms"))
            rows.append(("  same, p99", f"{res['p99_ms']:.3f} ms", "<= 2 ms"))
            rows.append((f"  floor: GET {LIVE_PATH}, p50", f"{res['floor_p50_ms']:.3f} ms", ""))
            first = "  "
        if "rps" in res:
            clients = f"{first}same, {args.clients} clients × {args.seconds:.0f} s: req/s, errors"
            rows.append((clients, f"{res['rps']:,.0f}, {res['errors']:.0f}", ">= 3,000/s, 0"))
            cpu = f"{res['server_cpu']:.0%} / {res['client_cpu']:.0%}"
            rows.append(("  CPU in that window: server / clients", cpu, ""))
            rows.append(("  requests per server CPU-second", f"{res['per_server_cpu_s']:,.0f}", ""))
            first = "  "
        if "batch_ms" in res:
            batch = f"{first}batch of {args.batch:,} values (median of {args.batch_runs})"
            rows.append((batch, f"{res['batch_ms']:.1f} ms", "<= 100 ms"))
            if (
                res.get("batch_online_write_ms") is not None
                and res.get("batch_offline_append_ms") is not None
            ):
                parts = f"{res['batch_online_write_ms']:.1f} / {res['batch_offline_append_ms']:.1f} ms"
                rows.append(("  of which online write / offline append (mean)", parts, ""))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="Redis URL (no prefix)")
    parser.add_argument("--no-redis", action="store_true")
    parser.add_argument("--only", help="run only the variants whose name contains this")
    parser.add_argument(
        "--phases", default="latency,throughput,batch", help="comma-separated: latency,throughput,batch"
    )
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--batch-runs", type=int, default=5)
    parser.add_argument(
        "--server-env", action="append", default=[], metavar="KEY=VALUE", help="extra server environment"
    )
    parser.add_argument(
        "--log", type=Path, help="where the servers write their log (default: a temporary file)"
    )
    args = parser.parse_args()
    args.password = secrets.token_urlsafe(16)
    args.entities, events = 10_000, 5
    if args.quick:
        args.entities, events, args.requests, args.rounds, args.seconds = 1_000, 2, 1_000, 1, 2.0
    prefix = f"bench{uuid.uuid4().hex[:8]}:"
    redis_url = None if args.no_redis else with_prefix(args.redis, prefix)
    results: dict[str, dict[str, Any]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp) / "home"
            log = args.log or Path(tmp) / "server.log"
            asyncio.run(build(home, args.entities, events, redis_url, args.password))
            for variant in variants(home, redis_url):
                if args.only and args.only not in variant.name:
                    continue
                results[variant.name] = run_variant(variant, args, log)
    finally:
        if redis_url:
            asyncio.run(delete_prefix(args.redis, prefix))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print_table(table(results, args))


if __name__ == "__main__":
    main()
