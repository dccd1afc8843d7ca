"""The definition of a real-time aggregation feature (``Feature.aggregation``).

A feature with an ``AggregationSpec`` is computed, not sent: the engine
(``streaming.aggregations``) reads raw business events from ``source_topic`` and stores, per
entity and window, ``function`` over ``value_field`` as the feature's value at the window's end.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Any, Self

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator


class AggregationFunction(StrEnum):
    COUNT = "count"
    SUM = "sum"
    MEAN = "mean"
    MIN = "min"
    MAX = "max"
    LAST = "last"
    DISTINCT_COUNT = "distinct_count"


class WindowKind(StrEnum):
    """``tumbling``: back-to-back windows of ``size_seconds``. ``hopping`` (alias ``sliding``):
    windows of ``size_seconds`` starting every ``step_seconds``, so an event counts in
    ``size / step`` of them; the step is the resolution a sliding window moves by."""

    TUMBLING = "tumbling"
    HOPPING = "hopping"
    SLIDING = "sliding"


# changing one of these changes what the values mean: a new major version
SEMANTIC_FIELDS = (
    "source_topic",
    "entity_field",
    "timestamp_field",
    "value_field",
    "function",
    "window",
    "size_seconds",
    "step_seconds",
)


class AggregationSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source_topic: str = Field(min_length=1, description="The Kafka topic of the raw events.")
    entity_field: str = Field(min_length=1, description="The event field holding the entity id.")
    timestamp_field: str | None = Field(
        default=None,
        description="The event field holding its time (ISO-8601 or epoch milliseconds); "
        "None: the Kafka message timestamp.",
    )
    value_field: str | None = Field(default=None, description="The aggregated field (not for count).")
    function: AggregationFunction
    window: WindowKind = WindowKind.TUMBLING
    size_seconds: int = Field(gt=0)
    step_seconds: int | None = Field(default=None, gt=0, description="Hopping/sliding windows only.")
    allowed_lateness_seconds: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.function is not AggregationFunction.COUNT and not self.value_field:
            raise ValueError(f"aggregation {self.function.value!r} needs a value_field")
        if self.window is WindowKind.TUMBLING:
            if self.step_seconds not in (None, self.size_seconds):
                raise ValueError("a tumbling window has no step (its step is its size)")
        elif self.step_seconds is None or self.step_seconds > self.size_seconds:
            raise ValueError("a hopping/sliding window needs a step_seconds no larger than its size")
        return self

    def check_output(self, numerical: bool, dtype: str) -> None:
        """Whether a feature of that type and dtype can hold this aggregate."""
        fn = self.function
        counts = fn in (AggregationFunction.COUNT, AggregationFunction.DISTINCT_COUNT)
        if counts and not numerical:
            raise ValueError(f"a {fn.value} aggregation is a numerical feature")
        if not counts and fn is not AggregationFunction.LAST and (not numerical or dtype != "float"):
            raise ValueError(f"a {fn.value} aggregation is a numerical feature of dtype 'float'")

    @property
    def size_ms(self) -> int:
        return self.size_seconds * 1000

    @property
    def step_ms(self) -> int:
        return (self.step_seconds or self.size_seconds) * 1000

    @property
    def lateness_ms(self) -> int:
        return self.allowed_lateness_seconds * 1000

    def fingerprint(self) -> str:
        """Names the window state of this definition: a changed definition starts afresh."""
        semantic: dict[str, Any] = self.model_dump(mode="json", include=set(SEMANTIC_FIELDS))
        return hashlib.sha256(orjson.dumps(semantic, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
