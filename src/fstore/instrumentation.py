"""Latency aggregates without a metrics library: fixed buckets, a count per bucket and a sum.

The core package must not depend on ``prometheus_client`` (only the ``api`` extra has it), so
the store keeps plain aggregates here and the REST API exports them at scrape time.

``timed(backend, store, stats)`` stands in for a backend: each public coroutine method is
timed into the histogram of (store, method), everything else is forwarded. Wrapping the
backends once, instead of timing at the call sites, also covers the registry, the catalog,
the serving path and the training-set join, which call the backends directly.
"""

from __future__ import annotations

import inspect
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from fstore.backends.storage_errors import storage_error

T = TypeVar("T")

# Seconds. The embedded stores answer in tens of microseconds, remote ones in milliseconds.
OPERATION_BUCKETS: tuple[float, ...] = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class Histogram:
    """Counts per bucket (``counts[i]``: values <= ``bounds[i]`` and above the bound before;
    the last slot is +Inf), their sum, and how many of the timed calls raised."""

    __slots__ = ("bounds", "counts", "errors", "sum")

    def __init__(self, bounds: tuple[float, ...] = OPERATION_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.errors = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, values <= bound) per bucket, ending with (inf, count)."""
        total = 0
        out: list[tuple[float, int]] = []
        for bound, n in zip((*self.bounds, float("inf")), list(self.counts), strict=True):
            total += n
            out.append((bound, total))
        return out


class OperationStats:
    """One ``Histogram`` per (store, operation), made when the operation is first wrapped."""

    def __init__(self, bounds: tuple[float, ...] = OPERATION_BUCKETS) -> None:
        self.bounds = bounds
        self._histograms: dict[tuple[str, str], Histogram] = {}

    def histogram(self, store: str, operation: str) -> Histogram:
        key = (store, operation)
        found = self._histograms.get(key)
        if found is None:
            found = self._histograms[key] = Histogram(self.bounds)
        return found

    def items(self) -> list[tuple[tuple[str, str], Histogram]]:
        """(store, operation) and histogram, for the operations that were called."""
        return sorted(((k, h) for k, h in self._histograms.items() if h.count), key=lambda item: item[0])


def _timed(
    method: Callable[..., Awaitable[Any]], histogram: Histogram, store: str
) -> Callable[..., Awaitable[Any]]:
    clock = time.perf_counter
    observe = histogram.observe

    async def call(*args: Any, **kwargs: Any) -> Any:
        started = clock()
        try:
            return await method(*args, **kwargs)
        except Exception as exc:
            histogram.errors += 1
            typed = storage_error(exc, store)  # a full or read-only disk: one typed error
            if typed is not None:
                raise typed from exc
            raise
        finally:
            observe(clock() - started)

    call.__name__ = call.__qualname__ = getattr(method, "__name__", "call")
    return call


class TimedBackend:
    """A backend whose public coroutine methods are timed (see the module docstring)."""

    def __init__(self, backend: Any, store: str, stats: OperationStats) -> None:
        object.__setattr__(self, "_backend", backend)
        object.__setattr__(self, "_store", store)
        object.__setattr__(self, "_stats", stats)
        for name in dir(type(backend)):
            if not name.startswith("_") and inspect.iscoroutinefunction(getattr(type(backend), name)):
                self._wrap(name, getattr(backend, name))

    def _wrap(self, name: str, method: Callable[..., Awaitable[Any]]) -> None:
        object.__setattr__(self, name, _timed(method, self._stats.histogram(self._store, name), self._store))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._backend, name, value)
        if not name.startswith("_") and inspect.iscoroutinefunction(value):
            self._wrap(name, value)

    def __repr__(self) -> str:
        return f"TimedBackend({self._backend!r})"


def timed(backend: T, store: str, stats: OperationStats) -> T:
    """``backend``, with its calls timed into ``stats`` under ``store``."""
    return cast(T, TimedBackend(backend, store, stats))


def quantile(histogram: Histogram, q: float) -> float | None:
    """The upper bound of the bucket holding the ``q`` quantile (None without values; the
    last finite bound when it falls in +Inf)."""
    total = histogram.count
    if total == 0:
        return None
    rank = q * total
    for bound, seen in histogram.cumulative():
        if seen >= rank:
            return bound if bound != float("inf") else histogram.bounds[-1]
    return histogram.bounds[-1]
