"""``/metrics`` in the Prometheus text format: request latency per route, and the store's
serving counters (online hits/misses, fallbacks, repairs)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from fstore.store import FeatureStore

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class StoreCounters(Collector):
    """Reads ``FeatureStore.metrics`` at scrape time (no double bookkeeping)."""

    def __init__(self, store: FeatureStore) -> None:
        self.store = store

    def collect(self) -> Iterator[CounterMetricFamily]:
        for name, value in self.store.metrics.as_dict().items():
            yield CounterMetricFamily(f"fstore_{name}", f"FeatureStore counter {name}", value=value)


def install_metrics(app: FastAPI, store: FeatureStore) -> None:
    registry = CollectorRegistry()
    registry.register(StoreCounters(store))
    latency = Histogram(
        "fstore_http_request_duration_seconds",
        "HTTP request latency by route",
        ["method", "route", "status"],
        registry=registry,
        buckets=LATENCY_BUCKETS,
    )
    errors = Counter(
        "fstore_http_errors", "HTTP responses with status >= 400", ["route", "status"], registry=registry
    )

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        status = str(response.status_code)
        latency.labels(request.method, path, status).observe(time.perf_counter() - started)
        if response.status_code >= 400:
            errors.labels(path, status).inc()
        return response

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
