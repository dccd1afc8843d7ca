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


def topics(settings: Settings) -> Topics:
    return Topics.under(settings.kafka_topic_prefix)
