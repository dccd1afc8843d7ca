"""A producer of live demo transactions: the demo's customers buying now, at a given rate.

``TransactionGenerator`` makes the events (seeded; a customer's share of the traffic follows
its activity and its amounts its spend level, as in the demo's history); ``TransactionProducer``
sends them to the source topic of the demo's aggregations, keyed by customer id, as JSON:

    {"transaction_id": "...", "customer_id": "C000042", "amount": 57.3,
     "merchant_category": "grocery", "payment_method": "pix",
     "timestamp": "2026-12-01T02:00:00.123Z"}

Event time is the send time, except for a small share of events sent late (up to
``max_late_seconds`` behind): out of order, and dropped by the aggregation when their window
closed meanwhile (``demo_aggregates.LATENESS_SECONDS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson

from fstore.demo import (
    MERCHANT_CATEGORIES,
    MERCHANT_WEIGHTS,
    PAYMENT_METHODS,
    PAYMENT_WEIGHTS,
    DemoConfig,
    customer_traits,
)

TICK_SECONDS = 0.05


def iso_ms(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


class TransactionGenerator:
    def __init__(
        self,
        config: DemoConfig | None = None,
        *,
        late_fraction: float = 0.05,
        max_late_seconds: float = 90.0,
    ) -> None:
        config = config or DemoConfig()
        traits = customer_traits(config)
        self.ids = traits.ids
        self.spend_level = traits.spend_level
        self.weights = traits.activity / traits.activity.sum()
        self.late_fraction, self.max_late_ms = late_fraction, int(max_late_seconds * 1000)
        self._rng = np.random.default_rng(config.seed + 1)  # not the history's draws
        self._count = 0

    def busiest(self, k: int) -> list[str]:
        """The ``k`` customers with the most traffic (whose aggregates move the most)."""
        return [str(c) for c in self.ids[np.argsort(-self.weights, kind="stable")[:k]]]

    def events(self, count: int, now_ms: int) -> list[dict[str, Any]]:
        rng, n = self._rng, count
        who = rng.choice(len(self.ids), size=n, p=self.weights)
        amounts = np.round(self.spend_level[who] * rng.lognormal(0.0, 0.35, size=n), 2)
        late = rng.random(n) < self.late_fraction
        lag = np.where(late, rng.integers(1, self.max_late_ms + 1, size=n), 0)
        merchants = rng.choice(MERCHANT_CATEGORIES, size=n, p=MERCHANT_WEIGHTS)
        payments = rng.choice(PAYMENT_METHODS, size=n, p=PAYMENT_WEIGHTS)
        out = []
        for i in range(n):
            self._count += 1
            out.append(
                {
                    "transaction_id": f"T{self._count:010d}",
                    "customer_id": str(self.ids[who[i]]),
                    "amount": float(amounts[i]),
                    "merchant_category": str(merchants[i]),
                    "payment_method": str(payments[i]),
                    "timestamp": iso_ms(now_ms - int(lag[i])),
                }
            )
        return out


class TransactionProducer:
    """Sends ``rate`` generated transactions per second to ``topic`` until stopped; with
    ``keep``, remembers every event sent (in send order) in ``sent``."""

    def __init__(
        self,
        kafka_config: dict[str, Any],
        topic: str,
        generator: TransactionGenerator,
        rate: float,
        *,
        keep: bool = False,
    ) -> None:
        from confluent_kafka import Producer

        self.topic, self.generator, self.rate = topic, generator, rate
        self.produced = 0  # handed to the client
        self.delivered = 0  # acknowledged by the broker
        self.sent: list[dict[str, Any]] | None = [] if keep else None
        self._producer = Producer({**kafka_config, "enable.idempotence": True, "linger.ms": 5})

    async def run(self, stop: asyncio.Event) -> None:
        started = time.monotonic()
        try:
            while not stop.is_set():
                due = int((time.monotonic() - started) * self.rate) - self.produced
                # after a stall, catch up at most one second's worth rather than bursting
                if due > self.rate:
                    started += (due - self.rate) / self.rate
                    due = int(self.rate)
                if due > 0:
                    self._send(self.generator.events(due, int(time.time() * 1000)))
                self._producer.poll(0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), TICK_SECONDS)
        finally:
            await asyncio.to_thread(self._producer.flush, 30)
            # librdkafka's client ends when the last reference goes: before the broker may stop
            # (else it logs the lost connection)
            del self._producer

    def _send(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            while True:
                try:
                    self._producer.produce(
                        self.topic,
                        orjson.dumps(event),
                        event["customer_id"].encode(),
                        on_delivery=self._acked,
                    )
                    break
                except BufferError:  # the local queue is full: let librdkafka send
                    self._producer.poll(0.05)
            self.produced += 1
            if self.sent is not None:
                self.sent.append(event)

    def _acked(self, err: Any, _msg: Any) -> None:
        if err is None:
            self.delivered += 1
