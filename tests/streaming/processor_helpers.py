"""Helpers of the Feature Processor tests: topics, producing ingest events, reading the
dead-letter topic, running ``fstore processor run`` as a real process, reading its
``/health`` and ``/metrics``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from fstore.config import Settings
from fstore.streaming.events import Topics
from server_postgres import server_url

# Tansu joins a group after about half the session timeout: keep it short in tests
GROUP_CONFIG = {"session.timeout.ms": "3000", "heartbeat.interval.ms": "1000"}


def kafka_settings(bootstrap: str, **overrides: Any) -> Settings:
    """Settings with Kafka on a topic prefix of the test's own."""
    return Settings(
        kafka_bootstrap_servers=bootstrap,
        kafka_topic_prefix=f"t{uuid4().hex[:10]}.",
        kafka_config=GROUP_CONFIG,
        **overrides,
    )


def create_topics(bootstrap: str, topics: Topics, partitions: int = 4) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    new = [NewTopic(topics.ingest, partitions, 1), NewTopic(topics.dead_letter, 1, 1)]
    for future in admin.create_topics(new).values():
        future.result(10)


def produce(bootstrap: str, topic: str, messages: Sequence[tuple[bytes | None, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True})
    for key, value in messages:
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(30) == 0


def event(feature: str, entity_id: str, value: Any, ts: str | None = None) -> tuple[bytes, bytes]:
    body: dict[str, Any] = {"feature": feature, "entity_id": entity_id, "value": value}
    if ts is not None:
        body["event_timestamp"] = ts
    return f"customer:{entity_id}".encode(), json.dumps(body).encode()


def read_topic(bootstrap: str, topic: str, count: int, timeout: float = 20.0) -> list[Any]:
    """The first ``count`` messages of a topic (fails after ``timeout``)."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"r{uuid4().hex[:8]}", "auto.offset.reset": "earliest"}
        | GROUP_CONFIG
    )
    consumer.subscribe([topic])
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < count and time.monotonic() < deadline:
            out.extend(m for m in consumer.consume(count - len(out), 0.5) if m.error() is None)
    finally:
        consumer.close()
    assert len(out) >= count, f"{len(out)} of {count} messages on {topic} within {timeout} s"
    return out


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)


def processor_env(settings: Settings, home: Path) -> dict[str, str]:
    """The environment of an ``fstore`` process using ``settings`` (plain-text logs)."""
    env = {
        **os.environ,
        "FSTORE_HOME": str(home),
        "FSTORE_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers or "",
        "FSTORE_KAFKA_TOPIC_PREFIX": settings.kafka_topic_prefix,
        "FSTORE_KAFKA_CONFIG": json.dumps(settings.kafka_config),
        "FSTORE_LOG_JSON": "false",
    }
    for name in ("metadata_url", "online_url", "offline_url"):
        if getattr(settings, name):
            env[f"FSTORE_{name.upper()}"] = getattr(settings, name)
    return env


def start_processor(settings: Settings, home: Path, *args: str) -> subprocess.Popen[bytes]:
    """``fstore processor run`` as a process of its own (its log in ``home/processor-<pid>.log``)."""
    log = (home / f"processor-{uuid4().hex[:6]}.log").open("wb")
    cmd = [sys.executable, "-m", "fstore.cli", "processor", "run", "--batch-size", "2000", *args]
    return subprocess.Popen(cmd, env=processor_env(settings, home), stdout=log, stderr=subprocess.STDOUT)


def health(port: int) -> dict[str, Any]:
    """The processor's ``/health`` (empty while it does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
            return json.loads(resp.read())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())  # type: ignore[no-any-return]
    except OSError:
        return {}


def metric(port: int, name: str) -> float:
    """One unlabelled metric of the processor's ``/metrics`` (-1 when absent or unreachable)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return -1.0
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return -1.0


def allow_connections(dbname: str, allow: bool) -> None:
    """Take a PostgreSQL database down (its sessions ended, new ones refused) or back up."""
    with psycopg.connect(f"{server_url()}/postgres", autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS {str(allow).lower()}')
        if not allow:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (dbname,)
            )
