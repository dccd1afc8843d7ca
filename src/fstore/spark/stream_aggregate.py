"""The Feature Processor's windowed aggregations as a Spark stateful operator.

Each source message is routed to every aggregation feature reading its topic, with a *bucket*:
a hash of the entity field's JSON text modulo ``buckets``, so one entity always lands in the
same bucket. ``groupBy(aggregation, bucket).applyInPandasWithState`` then runs, per bucket and
micro-batch, the processor's own ``Aggregator`` over the bucket's messages in arrival order
(partition, offset), from the state Spark kept for the bucket — the same per-entity
watermarks, windows, allowed lateness and late-update drops, so the same stored values. The
state (the bucket's open windows, watermarks and dropped count, encoded as the processor's
window-state snapshots) lives in Spark's state store, versioned with the query's checkpoint:
a batch re-run after a crash starts from the state before it and emits the same aggregates.

The bucket count is part of the state's layout: a checkpoint must be resumed with the count
it was started with (``fstore.spark.stream`` checks it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd

from fstore.models import Feature
from fstore.streaming.aggregations import aggregation_features, decode_json
from fstore.streaming.aggregator import Aggregator
from fstore.streaming.source_events import Fields, extract
from fstore.streaming.spec import AggregationSpec
from fstore.streaming.window_state import decode_log

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.streaming.state import GroupState

STATE_SCHEMA = "windows binary, marks binary, dropped long"
OUTPUT_SCHEMA = (
    "feature string, entity_id string, end_ms long, value string, "
    "topic string, partition int, offset long, key binary, message binary, timestamp_ms long, reason string"
)
OUTPUT_COLUMNS = [
    *("feature", "entity_id", "end_ms", "value"),
    *("topic", "partition", "offset", "key", "message", "timestamp_ms", "reason"),
]


@dataclass(frozen=True, slots=True)
class Definition:
    """What a Spark worker needs of one aggregation feature (pickled into the operator)."""

    key: str  # the Aggregator's key: feature name and definition fingerprint
    feature: str
    spec: AggregationSpec
    numeric: bool

    def aggregator(self) -> Aggregator:
        return Aggregator(self.feature, self.spec, numeric=self.numeric)


def definitions(features: Sequence[Feature]) -> list[Definition]:
    out = []
    for f in aggregation_features(features):
        assert f.aggregation is not None
        agg = Aggregator(f.name, f.aggregation, numeric=f.type.value == "numerical")
        out.append(Definition(agg.key, f.name, f.aggregation, agg.numeric))
    return out


def routed(messages: DataFrame, defs: Sequence[Definition], buckets: int) -> DataFrame:
    """One row per (message, aggregation of its topic): ``agg``, ``bucket`` and the message."""
    from pyspark.sql import functions as F

    text = F.col("value").cast("string")
    routes = [
        F.when(
            F.col("topic") == d.spec.source_topic,
            F.struct(
                F.lit(d.key).alias("agg"),
                F.pmod(
                    F.xxhash64(F.coalesce(F.get_json_object(text, _path(d.spec.entity_field)), F.lit(""))),
                    F.lit(buckets),
                )
                .cast("int")
                .alias("bucket"),
            ),
        )
        for d in defs
    ]
    route = F.explode(F.filter(F.array(*routes), lambda r: r.isNotNull())).alias("route")
    columns = ("topic", "partition", "offset", "key", "value", "timestamp_ms")
    return messages.select(route, *columns).select("route.agg", "route.bucket", *columns)


def _path(field: str) -> str:
    """A JSONPath naming one top-level field (brackets: the name may hold dots)."""
    return "$['" + field.replace("\\", "\\\\").replace("'", "\\'") + "']"


def aggregated(messages: DataFrame, defs: Sequence[Definition], buckets: int) -> DataFrame:
    """The aggregates (and refused messages) each micro-batch produces (``OUTPUT_SCHEMA``):
    a row with ``reason`` set is a refused message, the others a window's value to store."""
    by_key = {d.key: d for d in defs}

    def step(
        key: tuple[Any, ...], frames: Iterator[pd.DataFrame], state: GroupState
    ) -> Iterator[pd.DataFrame]:
        yield aggregate_bucket(by_key[str(key[0])], pd.concat(list(frames), ignore_index=True), state)

    return (
        routed(messages, defs, buckets)
        .groupBy("agg", "bucket")
        .applyInPandasWithState(step, OUTPUT_SCHEMA, STATE_SCHEMA, "update", "NoTimeout")
    )


def aggregate_bucket(d: Definition, frame: pd.DataFrame, state: GroupState) -> pd.DataFrame:
    """One bucket's micro-batch through the processor's ``Aggregator``, from and to ``state``."""
    frame = frame.sort_values(["partition", "offset"], kind="stable").reset_index(drop=True)
    agg = d.aggregator()
    if state.exists:
        windows, marks, dropped = state.get
        agg.load(0, *decode_log([(windows, marks, dropped)]))
    events, bad = extract(
        d.spec,
        Fields([decode_json(v) for v in frame["value"].tolist()]),
        frame["timestamp_ms"].to_numpy(np.int64),
        frame["offset"].to_numpy(np.int64),
        numeric=d.numeric,
    )
    parts = []
    if len(events):
        emitted, deltas = agg.step(events)
        agg.apply(deltas)
        _, _, _, windows_blob, marks_blob, dropped = agg.snapshot().encoded()
        state.update((windows_blob, marks_blob, dropped))
        parts.append(
            pd.DataFrame(
                {
                    "feature": d.feature,
                    "entity_id": pd.Series(emitted.entities, dtype=object),
                    "end_ms": emitted.ends,
                    "value": [orjson.dumps(v).decode() for v in emitted.values.tolist()],
                }
            )
        )
    if bad:  # to the dead-letter topic, as the processor does
        rows = frame.iloc[[i for i, _ in bad]]
        parts.append(
            pd.DataFrame(
                {
                    "feature": d.feature,
                    "topic": rows["topic"].to_numpy(object),
                    "partition": rows["partition"].to_numpy(np.int64),
                    "offset": rows["offset"].to_numpy(np.int64),
                    "key": rows["key"].to_numpy(object),
                    "message": rows["value"].to_numpy(object),
                    "timestamp_ms": rows["timestamp_ms"].to_numpy(np.int64),
                    "reason": [reason for _, reason in bad],
                }
            )
        )
    if not parts:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in OUTPUT_COLUMNS})
    return pd.concat(parts, ignore_index=True).reindex(columns=OUTPUT_COLUMNS)
