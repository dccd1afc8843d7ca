"""Spark's Python daemon with fstore's heavy modules imported before it forks its workers
(``spark.python.daemon.module``): each worker inherits them instead of importing pandas,
pyarrow and fstore on its first task — seconds per worker on a busy machine."""

from __future__ import annotations

from pyspark.daemon import manager

import fstore.spark.online
import fstore.spark.pg_copy
import fstore.spark.validate  # noqa: F401  (imported for the forked workers)

if __name__ == "__main__":
    manager()
