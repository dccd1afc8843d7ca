"""Backfill: a large Parquet, CSV or JDBC source into the offline and the online store.

1. read the source's entity, event time and value columns;
2. validate them with the in-process rules (``validate``), in Spark's workers; a bad row
   stops the backfill before anything is written, naming the row;
3. keep one row per identity (entity, event time): the source's last one, as a write call does;
4. transform with the feature's current version as Spark column expressions (``transform``);
5. write the offline history under the identity rule — PostgreSQL: the rows into a staging
   table (Spark's JDBC writer, or binary COPY from the workers: ``pg_copy``), then one
   ``INSERT … SELECT`` in the store's transaction (``pg_stage``); embedded Parquet:
   the rows collected and handed to the store's own atomic ``write``;
6. write each entity's newest value online from the workers (``online``).

A re-run stores nothing (every identity holds its value already) and rewrites the same newest
values online. What the offline write stored is added to the store's ingestion activity (the
dashboard's chart). The online repair ledger holds the feature from before the offline write
until the online write succeeded, as for any write call; when the online store fails the
offline write stands and the ledger keeps the feature for repair.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from fstore.catalog import ResolvedFeature
from fstore.columns import history_table, now_us
from fstore.errors import FStoreError, InvalidValueError, ValidationError
from fstore.ingestion_activity import record_ingestion
from fstore.spark.jdbc import read_jdbc, write_jdbc
from fstore.spark.online import OnlineTarget, newest_per_entity, write_online
from fstore.spark.pg_copy import CopyTarget, copy_stage
from fstore.spark.transform import transform_column, transformed_type
from fstore.spark.validate import ERROR, ROW, spark_type, validated
from fstore.values import TS_TYPE, from_micros

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from fstore.store import FeatureStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BackfillResult:
    feature: str
    received: int  # rows read from the source
    stored: int  # rows written to the history (new identities and corrections)
    unchanged: int  # identities already holding the same value
    duplicates: int  # rows of an identity the source repeated (its last one counts)
    online: int  # entities whose newest value was sent online
    online_ok: bool
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


def read_source(spark: SparkSession, store: FeatureStore, source: str, table: str | None = None) -> DataFrame:
    """A Parquet file or directory, a CSV file (header row), or a PostgreSQL table/query
    (``source`` a ``jdbc:postgresql:…`` or ``postgresql://…`` URL and ``table``)."""
    lowered = source.lower()
    if lowered.startswith(("jdbc:", "postgresql://", "postgres://")):
        if not table:
            raise ValidationError("a JDBC source needs a table or a query (--table)")
        return read_jdbc(spark, store.settings, source, table)
    path = Path(source)
    if not path.exists():
        raise ValidationError(f"source {source!r} does not exist")
    if lowered.endswith(".csv"):
        return spark.read.option("header", "true").option("inferSchema", "false").csv(str(path))
    if lowered.endswith(".parquet") or path.is_dir():
        return spark.read.parquet(str(path))
    raise ValidationError(f"source {source!r}: give a .parquet file or directory, a .csv file or a JDBC URL")


def _prepared(raw: DataFrame, resolved: ResolvedFeature, columns: tuple[str, str, str]) -> DataFrame:
    from pyspark.sql import functions as F

    missing = [c for c in columns if c not in raw.columns]
    if missing:
        raise ValidationError(f"the source has no column {missing[0]!r} (it has {', '.join(raw.columns)})")
    entity, ts, value = columns
    out = raw.select(
        F.col(entity).alias("entity_id"),
        F.col(ts).alias("event_timestamp"),
        F.col(value).alias("value"),
        F.monotonically_increasing_id().alias(ROW),  # the source's order, before any shuffle
    )
    cores = out.sparkSession.sparkContext.defaultParallelism
    if out.rdd.getNumPartitions() < cores:  # a small file is one partition: validate on every core
        out = out.repartition(cores)
    return out


async def backfill(
    store: FeatureStore,
    spark: SparkSession,
    feature: str,
    source: str,
    *,
    entity_column: str | None = None,
    timestamp_column: str = "event_timestamp",
    value_column: str | None = None,
    table: str | None = None,
    stage_with: str = "jdbc",
) -> BackfillResult:
    """Backfill ``feature`` from ``source`` (see the module docstring). ``stage_with``: how
    rows reach PostgreSQL's staging table, ``jdbc`` (Spark's JDBC writer) or ``copy``
    (binary COPY from the workers, which then need psycopg)."""
    _check_stage(stage_with)
    started = time.perf_counter()
    await store.open()
    (resolved,) = await store.catalog.resolve([feature])
    columns = (entity_column or resolved.entity.join_key, timestamp_column, value_column or resolved.name)
    raw = read_source(spark, store, source, table)
    return await backfill_frame(store, resolved, raw, columns, stage_with=stage_with, started=started)


def _check_stage(stage_with: str) -> None:
    if stage_with not in ("copy", "jdbc"):
        raise ValidationError(f"stage_with is 'copy' or 'jdbc', got {stage_with!r}")


@dataclass(slots=True)
class Prepared:
    """A backfill's validated rows, one per identity, transformed, before anything is written
    (``prepare``); ``write_prepared`` stores them and releases them, ``release`` only releases."""

    resolved: ResolvedFeature
    checked: DataFrame
    rows: DataFrame | None
    received: int
    lo: int
    hi: int
    started: float

    def release(self) -> None:
        if self.rows is not None:
            self.rows.unpersist()
        self.checked.unpersist()


def prepare(
    resolved: ResolvedFeature, raw: DataFrame, columns: tuple[str, str, str], started: float | None = None
) -> Prepared:
    """Steps 2–4 above on the ``columns`` (entity, event time, value) of ``raw``, any DataFrame
    (a source read by ``backfill``, a SQL pipeline's result). A bad row raises, naming it."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    started = time.perf_counter() if started is None else started
    checked = validated(_prepared(raw, resolved, columns), resolved.feature).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    try:
        summary = checked.agg(
            F.count(F.lit(1)),
            F.min(ERROR),
            F.unix_micros(F.min("event_timestamp")),
            F.unix_micros(F.max("event_timestamp")),
        ).collect()[0]
        if summary[1] is not None:
            raise InvalidValueError(f"nothing was stored: {summary[1]}", feature=resolved.name)
    except BaseException:
        checked.unpersist()
        raise
    received, lo, hi = int(summary[0]), summary[2], summary[3]
    rows = None
    if received:
        rows = (
            checked.groupBy("entity_id", "event_timestamp")
            .agg(F.max_by("value", ROW).alias("value"))
            .withColumn("transformed", transform_column(resolved, F.col("value")))
            .persist(StorageLevel.MEMORY_AND_DISK)
        )
    return Prepared(resolved, checked, rows, received, lo, hi, started)


async def write_prepared(store: FeatureStore, prepared: Prepared, stage_with: str = "jdbc") -> BackfillResult:
    """Steps 5–6 above: the prepared rows into the offline and the online store."""
    _check_stage(stage_with)
    p = prepared
    try:
        if p.rows is None:
            return BackfillResult(p.resolved.name, 0, 0, 0, 0, 0, True, time.perf_counter() - p.started)
        return await _write(store, p.resolved, p.rows, p.received, p.lo, p.hi, p.started, stage_with)
    finally:
        p.release()


async def backfill_frame(
    store: FeatureStore,
    resolved: ResolvedFeature,
    raw: DataFrame,
    columns: tuple[str, str, str],
    *,
    stage_with: str = "jdbc",
    started: float | None = None,
) -> BackfillResult:
    """Backfill ``resolved`` from the ``columns`` (entity, event time, value) of ``raw``."""
    _check_stage(stage_with)
    return await write_prepared(store, prepare(resolved, raw, columns, started), stage_with)


async def _write(
    store: FeatureStore,
    resolved: ResolvedFeature,
    rows: DataFrame,
    received: int,
    lo: int,
    hi: int,
    started: float,
    stage_with: str,
) -> BackfillResult:
    fid = resolved.feature.id
    oldest = lo
    pending = await store.guard.begin({fid: oldest})
    ingested = now_us()
    if store.settings.resolved_offline_url().startswith(("postgresql", "postgres:")):
        count, kept = await _write_postgres(store, resolved, rows, ingested, lo, hi, stage_with)
    else:
        count, kept = await _write_embedded(store, resolved, rows, ingested)
    await record_ingestion(store.offline, {fid: count.stored}, ingested)  # the dashboard's activity
    target = OnlineTarget(
        url=store.settings.resolved_online_url(),
        entity=resolved.entity.name,
        feature_id=fid,
        version=resolved.version,
        ttl_seconds=resolved.feature.ttl_seconds,
        transforms=resolved.transformer is not None,
    )
    online_ok = True
    try:
        sent = write_online(newest_per_entity(rows, resolved.feature.ttl_seconds), target)
        await store.guard.publish({}, pending)  # settles the call's ledger entry
    except Exception as exc:  # the offline write stands; the ledger keeps the feature for repair
        log.warning("backfill of %s: the online write failed, left for repair: %s", resolved.name, exc)
        await store.offline.add_online_repairs({fid: oldest})
        sent, online_ok = 0, False
    return BackfillResult(
        resolved.name,
        received,
        count.stored,
        count.unchanged,
        received - kept,
        sent,
        online_ok,
        time.perf_counter() - started,
    )


async def _write_postgres(
    store: FeatureStore,
    resolved: ResolvedFeature,
    rows: DataFrame,
    ingested: int,
    lo: int,
    hi: int,
    stage_with: str,
) -> tuple[Any, int]:
    from pyspark.sql import functions as F

    from fstore.spark.pg_stage import Stage, kinds, value_columns

    vk, tk = kinds(spark_type(resolved.feature), transformed_type(resolved))
    stage = Stage(store.offline._backend, resolved.feature.id, vk, tk)
    fid = await stage.open()
    try:
        v, t = value_columns(vk, tk)
        staged = rows.select(
            F.lit(fid).cast("int").alias("fid"),
            "entity_id",
            "event_timestamp",
            F.timestamp_micros(F.lit(ingested)).alias("ingested_at"),
            F.lit(resolved.version).alias("version"),
            F.col("value").alias(v),
            *([F.col("transformed").alias(t)] if t else []),
        )
        if stage_with == "jdbc":
            write_jdbc(staged, store.settings.resolved_offline_url(), stage.name)
            kept = rows.count()
        else:
            pg = store.offline._backend
            target = CopyTarget(pg._db._conninfo, stage.table, fid, vk, tk, resolved.version, ingested)
            kept = copy_stage(rows, target)
        return await stage.publish(from_micros(lo), from_micros(hi), kept), kept
    except FStoreError:
        raise
    finally:
        await stage.drop()


async def _write_embedded(
    store: FeatureStore, resolved: ResolvedFeature, rows: DataFrame, ingested: int
) -> tuple[Any, int]:
    table = rows.select("entity_id", "event_timestamp", "value", "transformed").toArrow()
    transformed = table.column("transformed").combine_chunks()
    if resolved.transformer is None:
        transformed = pa.nulls(table.num_rows)
    history = history_table(
        table.column("entity_id").combine_chunks(),
        table.column("event_timestamp").combine_chunks().cast(TS_TYPE),
        table.column("value").combine_chunks(),
        transformed,
        resolved.version,
        ingested,
    )
    counts = await store.offline.write({resolved.feature.id: history})
    return counts[resolved.feature.id], table.num_rows
