"""Refused records to the dead-letter topic: the record as it came, the reason and where it came
from in headers (the Feature Processor's and the Spark stream job's)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from fstore.errors import StoreUnavailableError
from fstore.streaming.handlers import DeadLetter

if TYPE_CHECKING:
    from confluent_kafka import Producer

log = logging.getLogger(__name__)


def dead_letter_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    r = letter.record
    return [
        *r.headers,
        ("fstore-reason", letter.reason.encode()),
        ("fstore-source-topic", r.topic.encode()),
        ("fstore-source-partition", str(r.partition).encode()),
        ("fstore-source-offset", str(r.offset).encode()),
    ]


def send_dead_letters(producer: Producer, topic: str, refused: Sequence[DeadLetter]) -> None:
    """Send the refused records to the dead-letter ``topic`` with the reason in headers, and
    wait until the broker has them (``StoreUnavailableError`` when it does not take them)."""
    for letter in refused:
        r = letter.record
        log.info("dead letter %s[%d]@%d: %s", r.topic, r.partition, r.offset, letter.reason)
        producer.produce(topic, r.value, r.key, headers=dead_letter_headers(letter))
    if producer.flush(30) > 0:
        raise StoreUnavailableError("the dead-letter topic cannot be written", store="kafka")
