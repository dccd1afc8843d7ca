"""What the Feature Processor hands its work to: a ``BatchHandler`` per kind of topic.

The processor polls a micro-batch of ``Record``s, gives each handler the records of its topics,
and commits the offsets only after every handler returned. A handler:

* stores what it derives from the records through the ``FeatureStore`` service layer (so
  the identity rule makes a replayed batch a no-op);
* returns the records it refuses (``DeadLetter``: the record and the reason) — the processor
  sends them to the dead-letter topic and goes on;
* raises ``StoreUnavailableError`` when a store is down: the processor pauses, then retries
  the same batch (nothing is committed or dead-lettered for it).

The ingest handler (``IngestEvent`` → feature values) and the aggregation handler (raw
business events → windowed aggregate features) implement it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Record:
    """One consumed Kafka message."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int  # the message's timestamp (a replay sees the same one)
    headers: tuple[tuple[str, bytes], ...] = field(default=())


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: Record
    reason: str


class BatchHandler(Protocol):
    @property
    def topics(self) -> Sequence[str]:
        """The topics whose records this handler takes."""
        ...

    async def handle(self, records: Sequence[Record]) -> list[DeadLetter]:
        """Store what the records say; return the ones refused."""
        ...
