"""Real-time aggregations through the Feature Processor end to end (issue 9 target: >= 30,000
events/s with 3 windowed aggregations per event); prints a table.

The raw ``transactions`` events of ``bench_aggregations.py`` (10,000 customers, two days, 5 %
late) are produced first, keyed by customer, on a 4-partition topic; then one processor (in
process, ``AggregationHandler``, the default options) consumes the backlog: timed from its
first batch to the last one handled. Each run is done twice, side by side: with batches that
grow while the previous one is stored (``max_batch_size``, the default) and with batches capped
at ``batch_size`` (the behaviour before it).

    .venv/bin/python bench/bench_aggregation_processor.py            # embedded stores
    .venv/bin/python bench/bench_aggregation_processor.py --postgres postgresql://127.0.0.1:5432/test \\
        --redis redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_aggregations import FEATURES, drop_stores, make_records, store_urls
from bench_processor import Timed, produce
from fstore import FeatureStore
from fstore.config import Settings
from fstore.models import Entity
from fstore.streaming.aggregations import AggregationHandler
from fstore.streaming.handlers import Record
from fstore.streaming.local_broker import LocalBroker
from fstore.streaming.processor import Processor, ProcessorOptions

PARTITIONS = 4


async def run_once(settings: Settings, records: Sequence[Record], options: ProcessorOptions) -> Timed:
    topic = f"{settings.kafka_topic_prefix}transactions"
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    for future in admin.create_topics([NewTopic(topic, PARTITIONS, 1)]).values():
        future.result(10)
    async with FeatureStore(settings, actor="bench") as store:
        await store.create_entity(Entity(name="customer", join_key="customer_id"))
        for name, spec in FEATURES:
            aggregation = {"source_topic": topic, "entity_field": "customer", "timestamp_field": "ts"}
            await store.create_feature(
                {
                    "name": name,
                    "entity": "customer",
                    "dtype": "int" if spec["function"] == "count" else "float",
                    "aggregation": {**aggregation, "allowed_lateness_seconds": 900, **spec},
                }
            )
        producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "linger.ms": 20})
        await asyncio.to_thread(produce, producer, topic, records)
        handler = Timed(await AggregationHandler.open(store))
        stop = asyncio.Event()
        task = asyncio.create_task(Processor(settings, [handler], options).run(stop))
        await handler.wait_for(len(records))
        handler.elapsed = time.perf_counter() - handler.first  # type: ignore[attr-defined]
        stop.set()
        await task
    return handler


async def measure(args: argparse.Namespace, bootstrap: str) -> list[tuple[str, str, str]]:
    records = make_records(args.events, args.entities)
    rows = []
    for label, most in (("growing (default)", ProcessorOptions().max_batch_size), ("capped", 0)):
        tag = f"bench_aggp_{uuid.uuid4().hex[:8]}"
        urls = store_urls(args, tag)
        with tempfile.TemporaryDirectory() as home:
            settings = Settings(
                home=Path(home) / "fstore",
                kafka_bootstrap_servers=bootstrap,
                kafka_topic_prefix=f"{tag}.",
                kafka_config={"session.timeout.ms": "6000", "heartbeat.interval.ms": "1000"},
                **urls,
            )
            options = ProcessorOptions(group_id=f"bench{secrets.token_hex(3)}", max_batch_size=most)
            try:
                counted = await run_once(settings, records, options)
            finally:
                await drop_stores(args, tag)
        rate = len(records) / counted.elapsed  # type: ignore[attr-defined]
        mean = sum(counted.sizes) / len(counted.sizes)
        rows.append((f"batches {label}: throughput", f"{rate:,.0f} events/s", ">= 30,000/s"))
        rows.append((f"batches {label}: count, mean size", f"{len(counted.sizes)}, {mean:,.0f}", ""))
        print(rows[-2:], flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--bootstrap", help="Kafka brokers (default: start a Tansu broker)")
    parser.add_argument("--postgres", help="PostgreSQL URL for the offline store (default: embedded)")
    parser.add_argument("--redis", help="Redis URL for the online store (default: embedded)")
    args = parser.parse_args(argv)
    broker = None if args.bootstrap else LocalBroker().start()
    try:
        rows = asyncio.run(measure(args, args.bootstrap or broker.bootstrap))  # type: ignore[union-attr]
    finally:
        if broker is not None:
            broker.stop()
    stores = "PostgreSQL + Redis" if args.postgres else "embedded"
    print(f"\n{args.events:,} events, 3 aggregations each, {stores}, one processor, {PARTITIONS} partitions")
    print("| measure | result | target |\n|---|---:|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
