"""SQL text of the DuckDB offline store (statistics run in DuckDB over an Arrow table ``h``
holding the ``value`` and ``event_timestamp`` columns of the rows in range)."""

from __future__ import annotations

from fstore.backends.offline.base import QUANTILES

# count is every row in range (nulls included); the numbers describe the non-null values.
COUNTS = """
SELECT count(*) AS count,
       count(*) - count(value) AS nulls,
       count(DISTINCT value) AS distinct,
       min(epoch_us(event_timestamp)) AS first_us,
       max(epoch_us(event_timestamp)) AS last_us
FROM h
"""

NUMERICAL = f"""
SELECT avg(value::DOUBLE) AS mean,
       stddev_pop(value::DOUBLE) AS std,
       min(value::DOUBLE) AS min,
       max(value::DOUBLE) AS max,
       quantile_cont(value::DOUBLE, [{", ".join(str(q) for q in QUANTILES.values())}]) AS quantiles
FROM h
WHERE value IS NOT NULL
"""

TOP_CATEGORIES = """
SELECT value::VARCHAR AS value, count(*) AS count
FROM h
WHERE value IS NOT NULL
GROUP BY value
ORDER BY count DESC, value
LIMIT 10
"""
