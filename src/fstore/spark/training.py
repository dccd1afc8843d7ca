"""Point-in-time training sets in Spark, with the in-process join's rules (``training.py``):
per entity row and feature, the newest value with an event time at or before the row's time
(an identity's current value: a correction supersedes, so ties on event time go to the newest
ingestion); a value older than the feature's TTL counts as missing; a row without a value
keeps a null; raw values are then transformed with the current versions.

The join is a sort, not a range join: per join key, the entity rows and the features' current
rows are unioned, ordered by (entity, time, events before rows), and each row takes the last
event seen so far per feature (``last(…, ignorenulls)`` over a running window). One sort per
join key however many features share it; rows and events of one entity meet in one task.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fstore.catalog import ResolvedFeature
from fstore.errors import ValidationError
from fstore.spark.history import history_frame
from fstore.spark.transform import transform_column
from fstore.spark.validate import spark_type

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from fstore.store import FeatureStore

ROW = "__row"
ROWS = "__rows"
TIME = "__t"
KIND = "__kind"  # 0: a feature's event, 1: an entity row (events at the same time come first)


def read_rows(spark: SparkSession, store: FeatureStore, source: str, table: str | None = None) -> DataFrame:
    """Entity rows from Parquet, CSV or JDBC (as ``backfill.read_source``)."""
    from fstore.spark.backfill import read_source

    return read_source(spark, store, source, table)


def _check(rows: DataFrame, timestamp_column: str, features: Sequence[ResolvedFeature]) -> None:
    names = set(rows.columns)
    if timestamp_column not in names:
        raise ValidationError(f"the entity rows have no timestamp column {timestamp_column!r}")
    for r in features:
        key = r.entity.join_key
        if key not in names:
            raise ValidationError(
                f"feature {r.name!r} describes {r.entity.name!r}: the entity rows need a {key!r} column"
            )
        if r.name in names:
            raise ValidationError(f"the entity rows already have a column named {r.name!r}")
    if len({r.name for r in features}) < len(features):
        raise ValidationError("a feature is named twice")


async def spark_training_set(
    store: FeatureStore,
    spark: SparkSession,
    entity_rows: DataFrame,
    features: Sequence[str],
    *,
    timestamp_column: str = "event_timestamp",
    transformed: bool = True,
) -> DataFrame:
    """The training set as a DataFrame, with a ``__row`` column giving the entity rows' order
    (``write_training_set`` writes it to Parquet in that order; ``in_order`` sorts it)."""
    from pyspark.sql import functions as F

    await store.open()
    resolved = await store.catalog.resolve(list(features))
    _check(entity_rows, timestamp_column, resolved)
    columns = entity_rows.columns
    ts = F.col(timestamp_column)
    if dict(entity_rows.dtypes)[timestamp_column] == "string":
        ts = F.to_timestamp(ts)
    rows = entity_rows.withColumn(timestamp_column, ts.cast("timestamp")).withColumn(
        ROW, F.monotonically_increasing_id()
    )
    missing = rows.filter(F.col(timestamp_column).isNull()).select(ROW).limit(1).collect()
    if missing:
        raise ValidationError("an entity row's timestamp is missing or not a timestamp")
    by_key: dict[str, list[ResolvedFeature]] = {}
    for r in resolved:
        by_key.setdefault(r.entity.join_key, []).append(r)
    for key, group in by_key.items():
        histories = [await history_frame(store, spark, r) for r in group]
        rows = _join(rows, key, timestamp_column, group, histories)
    selected: list[Any] = [F.col(c) for c in columns]
    for r in resolved:
        value = F.col(r.name)
        selected.append(transform_column(r, value).alias(r.name) if transformed and r.spec else value)
    return rows.select(*selected, ROW)


def _join(
    rows: DataFrame,
    key: str,
    timestamp_column: str,
    group: Sequence[ResolvedFeature],
    histories: Sequence[DataFrame],
) -> DataFrame:
    """``rows`` with one column per feature of ``group`` (all keyed by ``key``)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    carried = list(rows.columns)
    slots = [f"__s{i}" for i in range(len(group))]
    null_rows = F.lit(None).cast(rows.select(F.struct(*carried)).schema[0].dataType)
    types = [f"struct<t: timestamp, v: {spark_type(r.feature)}>" for r in group]
    nothing = [F.lit(None).cast(t) for t in types]
    parts = []
    for i, history in enumerate(histories):
        event = F.struct(F.col("event_timestamp").alias("t"), F.col("value").alias("v"))
        parts.append(
            history.select(
                F.col("entity_id").alias("__k"),
                F.col("event_timestamp").alias(TIME),
                F.lit(0).alias(KIND),
                null_rows.alias(ROWS),
                *[(event if j == i else nothing[j]).alias(s) for j, s in enumerate(slots)],
            )
        )
    union = rows.select(
        F.col(key).cast("string").alias("__k"),
        F.col(timestamp_column).alias(TIME),
        F.lit(1).alias(KIND),
        F.struct(*carried).alias(ROWS),
        *[n.alias(s) for n, s in zip(nothing, slots, strict=True)],
    )
    for part in parts:
        union = union.unionByName(part, allowMissingColumns=False)
    running = (
        Window.partitionBy("__k")
        .orderBy(TIME, KIND)
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    latest = [F.last(s, ignorenulls=True).over(running).alias(s) for s in slots]
    joined = union.select(KIND, TIME, ROWS, *latest).filter(F.col(KIND) == 1)
    values = []
    for r, s in zip(group, slots, strict=True):
        found = F.col(s)
        value = found["v"]
        if r.feature.ttl_seconds is not None:
            fresh = F.unix_micros(found["t"]) >= F.unix_micros(F.col(TIME)) - F.lit(
                r.feature.ttl_seconds * 1_000_000
            )
            value = F.when(fresh, value)
        values.append(value.alias(r.name))
    return joined.select(*[F.col(f"{ROWS}.{c}").alias(c) for c in carried], *values)


def in_order(frame: DataFrame) -> DataFrame:
    """The training set sorted in the entity rows' order, without ``__row``."""
    return frame.orderBy(ROW).drop(ROW)


def write_training_set(frame: DataFrame, path: str) -> int:
    """Write the training set to a Parquet directory (replaced if present), in the entity
    rows' order; its row count. The join is computed once: a global sort first samples its
    input, which would otherwise run the whole join twice."""
    from pyspark import StorageLevel

    cached = frame.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        rows = cached.count()
        in_order(cached).write.mode("overwrite").parquet(path)
    finally:
        cached.unpersist()
    return rows
