"""Vectorised helpers shared by the write path, materialisation and training sets."""

from __future__ import annotations

import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fstore.backends.online.base import OnlineWrite
from fstore.catalog import ResolvedFeature
from fstore.values import TS_TYPE


def transform_arrow(resolved: ResolvedFeature, raw: pa.Array) -> pa.Array:
    """The transformed column for a raw column; nulls stay null.

    Types: float64 (scalers), int64 (label encoder), list<float64> (one-hot), or a null
    column when the feature has no fitted transformer.
    """
    transformer = resolved.transformer
    if isinstance(raw, pa.ChunkedArray):
        raw = raw.combine_chunks()
    if transformer is None:
        return pa.nulls(len(raw))
    nulls = raw.is_null()
    has_nulls = raw.null_count > 0
    mask = nulls.to_numpy(zero_copy_only=False) if has_nulls else None
    if pa.types.is_string(raw.type):
        out = transformer.transform(raw)  # encoders take Arrow strings and map nulls themselves
    else:
        out = transformer.transform(raw.cast(pa.float64()).to_numpy(zero_copy_only=False))
    if out.ndim == 2:
        width = out.shape[1]
        flat = pa.array(np.ascontiguousarray(out, dtype=np.float64).reshape(-1))
        lists = pa.FixedSizeListArray.from_arrays(flat, width).cast(pa.list_(pa.float64()))
        if has_nulls:
            lists = pc.if_else(nulls, pa.scalar(None, lists.type), lists)
        return lists
    return pa.array(out, mask=mask)


def latest_indices(entity_ids: pa.Array, event_ts: pa.Array) -> np.ndarray:
    """Positions of each entity's newest row (greatest event time; later position on ties)."""
    n = len(entity_ids)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    codes = entity_ids.dictionary_encode().indices.to_numpy(zero_copy_only=False)
    ts = event_ts.cast(pa.int64()).to_numpy(zero_copy_only=False)
    order = np.lexsort((np.arange(n), ts, codes))
    sorted_codes = codes[order]
    last = np.ones(n, dtype=bool)
    last[:-1] = sorted_codes[1:] != sorted_codes[:-1]
    return order[last]


def now_us() -> int:
    """The wall clock in integer microseconds since the epoch (event times' unit)."""
    return time.time_ns() // 1_000


def expiry_cutoff(ttl_seconds: int | None, at_us: int | None = None) -> int | None:
    """Event times (µs) before this are expired at ``at_us`` (default: now); None: no TTL.

    The training sets' rule: a value is fresh at time T when ``T - event_time <= ttl``."""
    if ttl_seconds is None:
        return None
    return (now_us() if at_us is None else at_us) - ttl_seconds * 1_000_000


def drop_expired(
    ttl_seconds: int | None, entity_ids: pa.Array, event_ts: pa.Array, *columns: pa.Array
) -> tuple[pa.Array, ...]:
    """``(entity_ids, event_ts, *columns)`` without the rows already expired now: what may
    go online (the write path, materialisation and the offline read-through)."""
    cutoff = expiry_cutoff(ttl_seconds)
    arrays = (entity_ids, event_ts, *columns)
    if cutoff is None or len(event_ts) == 0:
        return arrays
    fresh = pc.greater_equal(event_ts.cast(pa.int64()), pa.scalar(cutoff, pa.int64()))
    if pc.all(fresh).as_py():
        return arrays
    return tuple(a.filter(fresh) for a in arrays)


def online_write(
    resolved: ResolvedFeature,
    entity_ids: pa.Array,
    event_ts: pa.Array,
    raw: pa.Array,
    transformed: pa.Array,
    *,
    one_per_entity: bool = False,
) -> OnlineWrite:
    """The online write for a batch: only each entity's newest value goes online
    (``one_per_entity``: the caller knows each entity appears once, e.g. rows from ``latest``),
    and only if it has not expired already (older than the feature's ``ttl_seconds``)."""
    if len(entity_ids) > 1 and not one_per_entity:
        keep = pa.array(latest_indices(entity_ids, event_ts))
        if len(keep) < len(entity_ids):
            entity_ids, event_ts, raw, transformed = (
                a.take(keep) for a in (entity_ids, event_ts, raw, transformed)
            )
    entity_ids, event_ts, raw, transformed = drop_expired(
        resolved.feature.ttl_seconds, entity_ids, event_ts, raw, transformed
    )
    micros = event_ts.cast(pa.int64()).to_pylist()
    served = transformed.to_pylist() if resolved.transformer is not None else [None] * len(micros)
    return OnlineWrite(
        feature_id=resolved.feature.id,
        entity_ids=entity_ids.to_pylist(),
        event_ts=micros,
        values=raw.to_pylist(),
        transformed=served,
        version=resolved.version,
        ttl_seconds=resolved.feature.ttl_seconds,
    )


def history_table(
    entity_ids: pa.Array,
    event_ts: pa.Array,
    raw: pa.Array,
    transformed: pa.Array,
    version: str,
    ingested_at_us: int,
) -> pa.Table:
    n = len(entity_ids)
    return pa.table(
        {
            "entity_id": entity_ids,
            "event_timestamp": event_ts.cast(TS_TYPE),
            "value": raw,
            "transformed": transformed,
            "version": pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(n, dtype=np.int32)), pa.array([version])
            ).cast(pa.string()),
            "ingested_at": pa.array(np.full(n, ingested_at_us, dtype=np.int64)).cast(TS_TYPE),
        }
    )
