"""FStore's jobs on Apache Spark (``pip install 'fstore[spark]'``; docs/spark.md).

Import the submodules (``fstore.spark.backfill``, ``fstore.spark.fit``,
``fstore.spark.training``); this package imports nothing heavy, so pyspark is only needed by
the code that runs a job.
"""
