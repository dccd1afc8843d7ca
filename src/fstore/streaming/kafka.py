"""Kafka client settings from ``Settings`` (confluent-kafka / librdkafka property names)."""

from __future__ import annotations

from typing import Any

from fstore.config import Settings
from fstore.errors import ConfigurationError
from fstore.streaming.events import Topics


def client_config(settings: Settings, **extra: Any) -> dict[str, Any]:
    """librdkafka properties: the brokers, the user's ``kafka_config``, then ``extra``."""
    if not settings.kafka_bootstrap_servers:
        raise ConfigurationError("Kafka is not configured: set FSTORE_KAFKA_BOOTSTRAP_SERVERS")
    return {"bootstrap.servers": settings.kafka_bootstrap_servers, **settings.kafka_config, **extra}


# consumer-group properties a shared ``kafka_config`` may carry; librdkafka warns when a producer
# gets them, so producers leave them out
CONSUMER_ONLY = frozenset(
    {
        "auto.offset.reset",
        "session.timeout.ms",
        "heartbeat.interval.ms",
        "max.poll.interval.ms",
        "fetch.wait.max.ms",
        "fetch.min.bytes",
        "enable.auto.commit",
        "enable.auto.offset.store",
        "isolation.level",
        "partition.assignment.strategy",
    }
)


def producer_config(settings: Settings, **extra: Any) -> dict[str, Any]:
    """``client_config`` without the consumer-only properties, then ``extra``."""
    base = client_config(settings)
    kept = {k: v for k, v in base.items() if k not in CONSUMER_ONLY and not k.startswith("group.")}
    return {**kept, **extra}


def topics(settings: Settings) -> Topics:
    return Topics.under(settings.kafka_topic_prefix)
