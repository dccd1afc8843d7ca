"""``/metrics`` in the Prometheus text format.

Nothing is counted through ``prometheus_client`` on the request path: the middleware and the
store keep plain aggregates (``fstore.instrumentation``) and ``FStoreCollector`` turns them
into metric families when Prometheus scrapes:

* ``fstore_http_request_duration_seconds{method,route,status}`` (histogram, per route template)
  and ``fstore_http_errors_total{route,status}`` (the same requests with status >= 400);
* ``fstore_store_operation_seconds{store,operation}`` (histogram of every backend call) and
  ``fstore_store_operation_errors_total{store,operation}`` (the calls that raised);
* the store's counters: online hits/misses, fallbacks, repairs, ``fstore_ingested_values_total``;
* the event outbox (when Kafka is configured): ``fstore_outbox_backlog`` (entries waiting, as
  the publisher last counted them), ``fstore_events_published_total`` (value-change events
  Kafka acknowledged) and ``fstore_event_publish_failures_total`` (publishing rounds that failed).
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from fstore.instrumentation import Histogram
from fstore.store import FeatureStore

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class HttpStats:
    """Request latencies per (method, route template, status)."""

    def __init__(self) -> None:
        self.histograms: dict[tuple[str, str, int], Histogram] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        histogram = self.histograms.get(key)
        if histogram is None:
            histogram = self.histograms[key] = Histogram(LATENCY_BUCKETS)
        histogram.observe(seconds)


def _buckets(histogram: Histogram) -> list[tuple[str, float]]:
    return [(floatToGoString(bound), n) for bound, n in histogram.cumulative()]


class FStoreCollector(Collector):
    """Reads the aggregates at scrape time (no double bookkeeping)."""

    def __init__(self, store: FeatureStore, http: HttpStats) -> None:
        self.store = store
        self.http = http

    def collect(self) -> Iterator[Metric]:
        yield from self._http()
        yield from self._operations()
        for name, value in self.store.metrics.as_dict().items():
            yield CounterMetricFamily(f"fstore_{name}", f"FeatureStore counter {name}", value=value)
        yield from self._events()

    def _events(self) -> Iterator[Metric]:
        events = self.store.events
        if not events.enabled:
            return
        yield GaugeMetricFamily(
            "fstore_outbox_backlog", "Event outbox entries not yet published to Kafka", value=events.backlog
        )
        yield CounterMetricFamily(
            "fstore_events_published", "Value-change events Kafka acknowledged", value=events.published
        )
        yield CounterMetricFamily(
            "fstore_event_publish_failures", "Event publishing rounds that failed", value=events.failures
        )

    def _http(self) -> Iterator[Metric]:
        latency = HistogramMetricFamily(
            "fstore_http_request_duration_seconds",
            "HTTP request latency by route",
            labels=["method", "route", "status"],
        )
        errors = CounterMetricFamily(
            "fstore_http_errors", "HTTP responses with status >= 400", labels=["route", "status"]
        )
        failed: dict[tuple[str, str], int] = {}
        for (method, route, status), histogram in sorted(self.http.histograms.items(), key=lambda i: i[0]):
            buckets = _buckets(histogram)
            latency.add_metric([method, route, str(status)], buckets, histogram.sum)
            if status >= 400:
                failed[(route, str(status))] = failed.get((route, str(status)), 0) + int(buckets[-1][1])
        for labels, count in failed.items():
            errors.add_metric(list(labels), count)
        yield latency
        yield errors

    def _operations(self) -> Iterator[Metric]:
        latency = HistogramMetricFamily(
            "fstore_store_operation_seconds",
            "Latency of the backend calls the FeatureStore makes",
            labels=["store", "operation"],
        )
        errors = CounterMetricFamily(
            "fstore_store_operation_errors",
            "Backend calls that raised an error",
            labels=["store", "operation"],
        )
        for (store, operation), histogram in self.store.metrics.operations.items():
            latency.add_metric([store, operation], _buckets(histogram), histogram.sum)
            errors.add_metric([store, operation], histogram.errors)
        yield latency
        yield errors


def install_metrics(app: FastAPI, store: FeatureStore, http: HttpStats) -> None:
    """Serve ``/metrics`` from ``store``'s aggregates and the request latencies in ``http``."""
    registry = CollectorRegistry()
    registry.register(FStoreCollector(store, http))

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
