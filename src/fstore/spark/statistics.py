"""Per-feature statistics over the whole offline history, computed in Spark: the numbers of
``FeatureStore.statistics`` (count with nulls, nulls, distinct, first and last event; mean,
population std, min, max and quantiles of a numerical feature; the ten most frequent
categories of a categorical one, ties in code point order).

count, nulls, distinct, min, max and the categories are exact; mean and std are equal up to
floating-point summation order (relative 1e-12). Quantiles are interpolated like
``percentile_cont`` when ``exact_quantiles`` (Spark's ``percentile``: it holds every distinct
value of the column in memory), otherwise ``percentile_approx`` with an accuracy of 10,000: an
actual value whose rank is within 0.01 % of the column's length of the exact quantile's.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from fstore.backends.offline.base import QUANTILES
from fstore.models import FeatureStatistics, FeatureType
from fstore.spark.history import history_frame
from fstore.values import from_micros

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from fstore.store import FeatureStore

QUANTILE_ACCURACY = 10_000


async def spark_statistics(
    store: FeatureStore,
    spark: SparkSession,
    feature: str,
    *,
    end: datetime | None = None,
    exact_quantiles: bool = False,
) -> FeatureStatistics:
    from pyspark.sql import functions as F

    (resolved,) = await store.catalog.resolve([feature])
    h = await history_frame(store, spark, resolved, end)
    numerical = resolved.feature.type is FeatureType.NUMERICAL
    v = F.col("value").cast("double") if numerical else F.col("value")
    qs = list(QUANTILES.values())
    aggs = [
        F.count(F.lit(1)),
        F.count(F.lit(1)) - F.count(v),
        F.count_distinct(v),
        F.unix_micros(F.min("event_timestamp")),  # collected datetimes would be naive local times
        F.unix_micros(F.max("event_timestamp")),
    ]
    if numerical:
        quantiles = F.percentile(v, qs) if exact_quantiles else F.percentile_approx(v, qs, QUANTILE_ACCURACY)
        aggs += [F.avg(v), F.stddev_pop(v), F.min(v), F.max(v), quantiles]
    row = h.agg(*aggs).collect()[0]
    out: dict[str, Any] = {
        "count": int(row[0]),
        "nulls": int(row[1]),
        "distinct": int(row[2]),
        "first_event": None if row[3] is None else from_micros(row[3]),
        "last_event": None if row[4] is None else from_micros(row[4]),
    }
    if numerical:
        out.update(mean=row[5], std=row[6], min=row[7], max=row[8])
        out["quantiles"] = {} if row[9] is None else dict(zip(QUANTILES, map(float, row[9]), strict=True))
    else:
        top = (
            h.filter(v.isNotNull())
            .groupBy(v.alias("v"))
            .count()
            .orderBy(F.col("count").desc(), F.col("v"))
            .limit(10)
            .collect()
        )
        out["top_categories"] = [{"value": r[0], "count": int(r[1])} for r in top]
    return FeatureStatistics(feature_id=resolved.feature.id, **out)
