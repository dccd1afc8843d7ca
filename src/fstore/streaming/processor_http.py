"""The Feature Processor's metrics (Prometheus) and its ``/metrics`` and ``/health`` endpoints,
served by a small HTTP server on a daemon thread (the processor's loop is busy consuming)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)


class LagHistogram(Collector):
    """A histogram fed a whole batch of observations at once (numpy), so measuring every
    event's lag costs no Python loop per event."""

    def __init__(self, name: str, documentation: str, buckets: tuple[float, ...] = LAG_BUCKETS) -> None:
        self.name, self.documentation = name, documentation
        self._bounds = np.asarray(buckets, dtype=np.float64)
        self._counts = np.zeros(len(buckets) + 1, dtype=np.int64)  # the last one is +Inf
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe_many(self, values: np.ndarray) -> None:
        if not len(values):
            return
        slots = np.searchsorted(self._bounds, values, side="left")  # le semantics
        counts = np.bincount(slots, minlength=len(self._counts))
        with self._lock:
            self._counts += counts
            self._sum += float(values.sum())

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            cumulative = np.cumsum(self._counts)
            total = self._sum
        labels = [*(repr(float(b)) for b in self._bounds), "+Inf"]
        family = HistogramMetricFamily(self.name, self.documentation)
        family.add_metric([], list(zip(labels, (float(c) for c in cumulative), strict=True)), total)
        yield family


class ProcessorMetrics:
    """The processor's metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.processed = Counter(
            "fstore_processor_events_processed", "Events handled and committed (stored or no-op).", registry=r
        )
        self.dead_lettered = Counter(
            "fstore_processor_events_dead_lettered",
            "Events refused and sent to the dead-letter topic.",
            registry=r,
        )
        self.failed = Counter(
            "fstore_processor_events_failed",
            "Events of batch attempts that failed: a store was down (retried) or a bug (the "
            "processor stops; replayed after its restart). None is lost.",
            registry=r,
        )
        self.batches = Counter("fstore_processor_batches", "Micro-batches committed.", registry=r)
        self.batch_seconds = Histogram(
            "fstore_processor_batch_seconds",
            "Time to handle and commit a micro-batch.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=r,
        )
        self.lag = LagHistogram(
            "fstore_processor_event_lag_seconds",
            "End-to-end lag: event time to the value being visible online, per event.",
        )
        r.register(self.lag)
        self.consumer_lag = Gauge(
            "fstore_processor_consumer_lag",
            "Messages consumed but not yet committed (position - committed offset).",
            ["topic", "partition"],
            registry=r,
        )
        self.paused = Gauge(
            "fstore_processor_paused", "1 while consumption is paused by a store outage.", registry=r
        )
        self.assigned = Gauge(
            "fstore_processor_assigned_partitions", "Partitions assigned to this processor.", registry=r
        )

    def observe_visible(self, event_us: np.ndarray) -> None:
        """Record the lag of events whose values just became visible online."""
        self.lag.observe_many(time.time() - event_us / 1e6)


class Health:
    """What ``/health`` reports; the processor updates it."""

    def __init__(self) -> None:
        self.state = "starting"  # starting, running, paused, stopping
        self.reason: str | None = None
        self.assigned: list[str] = []
        self.last_commit: float | None = None

    def report(self) -> tuple[int, dict[str, Any]]:
        body = {
            "status": self.state,
            "reason": self.reason,
            "assigned": self.assigned,
            "last_commit_seconds_ago": None
            if self.last_commit is None
            else round(time.time() - self.last_commit, 3),
        }
        # paused for a store outage is still alive (it resumes by itself); not serving is 503
        return (200 if self.state in ("running", "paused") else 503), body


def serve(metrics: ProcessorMetrics, health: Health, port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """Start serving ``/metrics`` and ``/health`` on a daemon thread; ``shutdown()`` stops it."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(metrics.registry))
            elif self.path.split("?")[0] == "/health":
                status, body = health.report()
                self._send(status, "application/json", json.dumps(body).encode())
            else:
                self._send(404, "text/plain", b"not found\n")

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:  # scrapes are not worth a log line
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="fstore-processor-http", daemon=True).start()
    return server
