"""The event schemas on FStore's Kafka topics (JSON, versioned by ``schema_version``).

* ``FeatureValueEvent`` — on ``<prefix>feature-values``: one acknowledged value change, whatever
  wrote it (SDK, API, CLI, processor). Keyed by ``<entity>:<entity_id>`` so one entity's
  events stay in order on one partition.
* ``IngestEvent`` — on ``<prefix>ingest``: a value an external producer wants stored; the
  same fields minus those the store fills in (version, transformed value, ingestion time).
  Invalid ones go to ``<prefix>ingest-dlq`` with the reason in the headers.

A new field is a minor change (consumers ignore fields they do not know); removing or
changing one is a new ``schema_version``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class Topics:
    """FStore's topic names under a prefix (``Settings.kafka_topic_prefix``)."""

    values: str
    ingest: str
    dead_letter: str

    @classmethod
    def under(cls, prefix: str) -> Topics:
        return cls(f"{prefix}feature-values", f"{prefix}ingest", f"{prefix}ingest-dlq")


def entity_key(entity: str, entity_id: str) -> bytes:
    """The message key of an entity's events: all of one entity's events share a partition."""
    return f"{entity}:{entity_id}".encode()


class FeatureValueEvent(BaseModel):
    """A value change the store acknowledged."""

    model_config = ConfigDict(extra="ignore")

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: str = Field(
        description="Unique per stored row: feature, entity id, event time, ingestion time."
    )
    feature: str
    feature_version: str | None = Field(description="The version that transformed the value.")
    entity: str = Field(description="The entity's name, e.g. customer.")
    entity_id: str
    value: Any = Field(description="The raw value (number, string or null).")
    transformed: Any = Field(default=None, description="The value after the version's transformer.")
    event_timestamp: datetime
    ingested_at: datetime
    source: str = Field(description="What wrote it: sdk, api, cli, processor, …")


class IngestEvent(BaseModel):
    """A value for the Feature Processor to store (what external producers send)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: str | None = Field(default=None, description="The producer's id of the event, if any.")
    feature: str
    entity_id: str | int
    value: Any = None
    event_timestamp: datetime | None = Field(default=None, description="Default: when it is processed.")
    source: str | None = None
