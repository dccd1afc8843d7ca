"""Each entity's newest value of a backfill into the online store, written by Spark's workers:
every partition opens the online store (Redis: one pipelined round trip per batch of
entities) and writes its rows with the store's own last-write-wins by event time, so a newer
value already online survives. Values already expired (older than the feature's TTL) are left
out, as ``columns.online_write`` does; Redis keys expire at event time + TTL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from fstore.backends import create_online_store
from fstore.backends.online.base import OnlineWrite
from fstore.columns import expiry_cutoff

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


@dataclass(frozen=True, slots=True)
class OnlineTarget:
    """What a worker needs to write one feature online (small, pickled to every worker)."""

    url: str
    entity: str
    feature_id: str
    version: str
    ttl_seconds: int | None
    transforms: bool


def _writer(target: OnlineTarget):  # a Spark callback
    def write(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        async def run() -> int:
            store = create_online_store(target.url)
            await store.open()
            sent = 0
            try:
                for batch in batches:
                    if batch.num_rows == 0:
                        continue
                    ids = batch.column(0).to_pylist()
                    w = OnlineWrite(
                        feature_id=target.feature_id,
                        entity_ids=ids,
                        event_ts=batch.column(1).cast(pa.int64()).to_pylist(),
                        values=batch.column(2).to_pylist(),
                        transformed=(
                            batch.column(3).to_pylist() if target.transforms else [None] * batch.num_rows
                        ),
                        version=target.version,
                        ttl_seconds=target.ttl_seconds,
                    )
                    await store.write(target.entity, [w])
                    sent += batch.num_rows
            finally:
                await store.close()
            return sent

        yield pa.RecordBatch.from_pylist([{"sent": asyncio.run(run())}])

    return write


def newest_per_entity(rows: DataFrame, ttl_seconds: int | None) -> DataFrame:
    """Each entity's newest row (one per identity already) that has not expired."""
    from pyspark.sql import functions as F

    newest = rows.groupBy("entity_id").agg(
        F.max_by(F.struct("event_timestamp", "value", "transformed"), "event_timestamp").alias("n")
    )
    newest = newest.select("entity_id", "n.event_timestamp", "n.value", "n.transformed")
    cutoff = expiry_cutoff(ttl_seconds)
    if cutoff is not None:
        newest = newest.filter(F.col("event_timestamp") >= F.timestamp_micros(F.lit(cutoff)))
    return newest


def write_online(newest: DataFrame, target: OnlineTarget) -> int:
    """Write the rows (entity_id, event_timestamp, value, transformed) online; how many."""
    from pyspark.sql import functions as F

    total = newest.mapInArrow(_writer(target), "sent bigint").agg(F.sum("sent")).collect()[0][0]
    return int(total or 0)
