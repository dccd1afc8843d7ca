"""A feature's offline history as a Spark DataFrame: ``entity_id``, ``event_timestamp``,
``ingested_at`` and ``value`` (the feature's dtype), each identity once (its current value:
superseded rows are left out, the store's own rule).

PostgreSQL: the feature's partition read over JDBC in parallel (one query per Spark core,
split by a hash of the entity id), with the store's "no later ingestion of the identity"
filter in the query when a correction was ever stored. Embedded: the store's own reader (the
Parquet segments are the store's to list: compaction and pending writes decide which count),
handed to Spark as Arrow — the embedded store lives on one machine anyway.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import pyarrow as pa

from fstore.backends.offline import postgres_sql as sql
from fstore.catalog import ResolvedFeature
from fstore.models import ValueType
from fstore.spark.jdbc import jdbc_options
from fstore.spark.session import jdbc_jar
from fstore.values import TS_TYPE, arrow_type

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from fstore.store import FeatureStore

COLUMNS = ("entity_id", "event_timestamp", "ingested_at", "value")


def is_postgres(store: FeatureStore) -> bool:
    return store.settings.resolved_offline_url().startswith(("postgresql", "postgres:"))


def _pg_value(dtype: ValueType, bits: int) -> str:
    """The raw value in the feature's type from the partition's typed columns."""
    if dtype is ValueType.STRING:
        return sql.category_value(bits)
    if dtype is ValueType.INT:
        return "v_int" if bits & 1 else "NULL::int8"
    return sql.numeric_value(bits)


def _schema(resolved: ResolvedFeature) -> pa.Schema:
    return pa.schema(
        [
            ("entity_id", pa.string()),
            ("event_timestamp", TS_TYPE),
            ("ingested_at", TS_TYPE),
            ("value", arrow_type(resolved.feature.dtype)),  # type: ignore[arg-type]
        ]
    )


async def history_frame(
    store: FeatureStore, spark: SparkSession, resolved: ResolvedFeature, end: datetime | None = None
) -> DataFrame:
    """The feature's current rows with ``event_timestamp <= end`` (all when None)."""
    await store.open()
    if is_postgres(store):
        return await _postgres(store, spark, resolved, end)
    table = await store.offline.history(resolved.feature.id, end=end)
    schema = _schema(resolved)
    columns = [table.column(c).combine_chunks() for c in COLUMNS]
    target = schema.field("value").type
    columns[3] = (
        pa.nulls(len(columns[3]), target) if pa.types.is_null(columns[3].type) else columns[3].cast(target)
    )
    data = pa.Table.from_arrays(columns, schema=schema)
    return spark.createDataFrame(data)


async def _postgres(
    store: FeatureStore, spark: SparkSession, resolved: ResolvedFeature, end: datetime | None
) -> DataFrame:
    pg = store.offline._backend
    async with pg._db.connection() as conn:
        found = await pg._lookup(conn, resolved.feature.id)
    if found is None:  # nothing stored yet
        return spark.createDataFrame(pa.Table.from_pylist([], schema=_schema(resolved)))
    fid, value_kinds, _, corrected = found
    filters = sql.where(False, False, end is not None, "h", current=corrected)
    if end is not None:
        filters = filters.replace("%(end)s", f"'{end.isoformat()}'::timestamptz")
    query = pg._q(
        f"SELECT entity_id, event_timestamp, ingested_at, {_pg_value(resolved.feature.dtype, value_kinds)} "
        f"AS value FROM {{h}} AS h{filters}",
        fid,
    )
    jdbc_jar(store.settings, required=True)
    options = jdbc_options(store.settings.resolved_offline_url())
    url = options.pop("url")
    options["fetchsize"] = "10000"  # else the driver holds each query's whole result in memory
    parts = max(1, spark.sparkContext.defaultParallelism)
    predicates = [f"abs(hashtext(entity_id)::int8) % {parts} = {i}" for i in range(parts)]
    return spark.read.jdbc(url, f"({query}) AS history", predicates=predicates, properties=options)
