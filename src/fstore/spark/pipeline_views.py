"""A SQL pipeline's sources as Spark temporary views, its query's result, and the checks of
that result against the pipeline's output features.

Views: a file source is read as Parquet, or as CSV with a header row and inferred types; a
JDBC source through ``jdbc.read_jdbc`` (its ``url`` defaults to the offline store's database;
``${VAR}`` in it comes from the environment, so no password need be stored in the registry); a
feature source is the feature's current offline history (``history.history_frame``: each
identity once), with columns named like the entity's join key, ``event_timestamp`` and the
feature. The query may use the named parameters ``:start`` and ``:end`` (the run's range).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

from fstore.errors import FStoreError, NotFoundError, PipelineError
from fstore.models import Feature, ValueType
from fstore.spark.history import history_frame, is_postgres
from fstore.spark.jdbc import read_jdbc
from fstore.spark.pipeline_spec import PipelineSource, SqlPipeline

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType

    from fstore.store import FeatureStore

# the run's range when a bound is not given, for queries that use :start / :end
FAR_PAST = datetime(1, 1, 2, tzinfo=UTC)
FAR_FUTURE = datetime(9999, 12, 30, tzinfo=UTC)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _unknown(view: str, why: str) -> PipelineError:
    return PipelineError(f"source {view!r}: {why}", problem="unknown_source", source=view)


def _jdbc_url(store: FeatureStore, view: str, source: PipelineSource) -> str:
    if source.url is None:
        if not is_postgres(store):
            raise _unknown(view, "a JDBC table needs 'url' (the offline store is not PostgreSQL)")
        return store.settings.resolved_offline_url()
    try:
        return Template(source.url).substitute(os.environ)
    except (KeyError, ValueError) as exc:
        raise _unknown(view, f"its url names an unset environment variable {exc}") from None


def _missing(path: str) -> bool:
    """A local path that does not exist (URIs are left to Spark)."""
    local = "://" not in path or path.startswith("file://")
    return local and not Path(path.removeprefix("file://")).exists()


async def source_frame(
    store: FeatureStore, spark: SparkSession, view: str, source: PipelineSource
) -> DataFrame:
    """The DataFrame a source's view shows."""
    from pyspark.sql import functions as F

    if source.feature:
        try:
            (resolved,) = await store.catalog.resolve([source.feature])
        except NotFoundError:
            raise _unknown(view, f"feature {source.feature!r} does not exist") from None
        frame = await history_frame(store, spark, resolved)
        return frame.select(
            F.col("entity_id").alias(resolved.entity.join_key),
            "event_timestamp",
            F.col("value").alias(resolved.name),
        )
    try:
        if source.table:
            return read_jdbc(spark, store.settings, _jdbc_url(store, view, source), source.table)
        path = str(source.path)
        if _missing(path):
            raise _unknown(view, f"{path!r} does not exist")
        if source.file_format == "csv":
            return spark.read.option("header", "true").option("inferSchema", "true").csv(path)
        return spark.read.parquet(path)
    except FStoreError:
        raise
    except Exception as exc:  # Spark's reader: a path it cannot list, a table it cannot reach
        raise _unknown(view, _first_line(exc)) from exc


async def query_result(
    store: FeatureStore,
    spark: SparkSession,
    spec: SqlPipeline,
    start: datetime | None = None,
    end: datetime | None = None,
) -> tuple[DataFrame, list[str]]:
    """The query's (analysed, not computed) result over the sources' views, and the views
    created (drop them with ``drop_views`` once the result is computed)."""
    from pyspark.errors import AnalysisException

    frames = {view: await source_frame(store, spark, view, source) for view, source in spec.sources.items()}
    for view, frame in frames.items():
        frame.createOrReplaceTempView(view)
    views = list(frames)
    args = {"start": start or FAR_PAST, "end": end or FAR_FUTURE}
    try:
        return spark.sql(spec.query, args=args), views
    except AnalysisException as exc:
        drop_views(spark, views)
        condition = exc.getCondition() or ""
        if condition.startswith("TABLE_OR_VIEW_NOT_FOUND"):
            raise PipelineError(
                f"the query reads a table that is not one of the pipeline's sources "
                f"({', '.join(views)}): {_first_line(exc)}",
                problem="unknown_source",
            ) from None
        raise PipelineError(f"Spark refuses the query: {_first_line(exc)}", problem="query") from None


def drop_views(spark: SparkSession, views: list[str]) -> None:
    for view in views:
        spark.catalog.dropTempView(view)


def _accepts(dtype: ValueType, column: DataType) -> bool:
    from pyspark.sql import types as T

    if dtype is ValueType.STRING:
        return isinstance(column, T.StringType | T.VarcharType | T.CharType)
    if dtype is ValueType.INT:
        return isinstance(column, T.IntegralType)
    return isinstance(column, T.NumericType)


def checked_outputs(
    spec: SqlPipeline, result: DataFrame, wanted: list[str] | None, registered: Mapping[str, Feature]
) -> list[Feature]:
    """The output features of ``result``: the ``wanted`` columns (default: every column but
    the key and the event time), each a registered feature of the result's column type, all
    of one entity. Raises ``PipelineError`` naming the first problem."""
    from pyspark.sql import types as T

    columns = {f.name: f.dataType for f in result.schema.fields}
    listed = ", ".join(columns)
    key, ts = spec.entity_column, spec.timestamp_column
    for name, what in ((key, "entity key"), (ts, "event-time")):
        if name not in columns:
            raise PipelineError(
                f"the query's result has no {what} column {name!r} (it has {listed})",
                problem="missing_column",
                column=name,
            )
    if not isinstance(columns[ts], T.TimestampType | T.TimestampNTZType | T.DateType):
        raise PipelineError(
            f"the event-time column {ts!r} is {columns[ts].simpleString()}, not a timestamp or a date "
            "(cast it in the query)",
            problem="type_mismatch",
            column=ts,
        )
    if not isinstance(columns[key], T.StringType | T.IntegralType):
        raise PipelineError(
            f"the entity key column {key!r} is {columns[key].simpleString()}, not a string or an integer",
            problem="type_mismatch",
            column=key,
        )
    names = wanted or [c for c in columns if c not in (key, ts)]
    if not names:
        raise PipelineError(
            f"the query's result has no column besides {key!r} and {ts!r}: nothing to compute",
            problem="missing_column",
        )
    outputs: list[Feature] = []
    for name in names:
        if name not in columns:
            raise PipelineError(
                f"the query's result has no column {name!r} for feature {name!r} (it has {listed})",
                problem="missing_column",
                column=name,
            )
        feature = registered.get(name)
        if feature is None:
            raise PipelineError(
                f"result column {name!r} is not a registered feature (register it first, or list the "
                "pipeline's features)",
                problem="not_a_feature",
                column=name,
            )
        if not _accepts(feature.dtype, columns[name]):  # type: ignore[arg-type]
            raise PipelineError(
                f"result column {name!r} is {columns[name].simpleString()}, feature {name!r} holds "
                f"{feature.dtype.value if feature.dtype else ''} values",
                problem="type_mismatch",
                column=name,
            )
        if outputs and feature.entity != outputs[0].entity:
            raise PipelineError(
                f"features {outputs[0].name!r} and {name!r} describe different entities "
                f"({outputs[0].entity}, {feature.entity}); a pipeline has one entity key",
                problem="type_mismatch",
                column=name,
            )
        outputs.append(feature)
    return outputs
