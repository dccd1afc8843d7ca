"""Raw business events (JSON objects on a source topic, or rows of a file) → ``Events`` for an
aggregation: the entity id, event time and value fields its definition names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from fstore.streaming.aggregator import Events
from fstore.streaming.spec import AggregationFunction, AggregationSpec

_NUMERIC_FUNCTIONS = {
    AggregationFunction.SUM,
    AggregationFunction.MEAN,
    AggregationFunction.MIN,
    AggregationFunction.MAX,
}


def epoch_ms(raw: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Event times as epoch milliseconds, and which parsed: ISO-8601 strings (UTC unless they
    say otherwise), epoch-millisecond numbers, or datetimes."""
    series = pd.Series(raw, dtype=object)
    numbers = pd.to_numeric(series.where(series.map(_is_number), None), errors="coerce")
    texts = series.where(~series.map(_is_number), None)
    parsed = pd.to_datetime(texts, utc=True, format="ISO8601", errors="coerce")
    ms = parsed.astype("datetime64[ms, UTC]").astype("int64")
    out = np.where(numbers.notna(), numbers.fillna(0).to_numpy(np.float64), ms.to_numpy(np.float64))
    ok = numbers.notna().to_numpy() | parsed.notna().to_numpy()
    return np.where(ok, out, 0).astype(np.int64), ok


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def entity_ids(raw: Sequence[Any]) -> tuple[pd.Series, np.ndarray]:
    """Entity ids as strings (ints are written in decimal), and which are usable."""
    try:
        arr = pa.array(raw)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = None
    if arr is not None and (pa.types.is_integer(arr.type) or pa.types.is_string(arr.type)):
        ids = arr.cast(pa.string()).to_pandas()
        return ids.fillna(""), ids.notna().to_numpy() & (ids != "").to_numpy()
    series = pd.Series(raw, dtype=object)
    ok = series.map(
        lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, str) and v != "")
    )
    return series.where(ok, "").astype(str), ok.to_numpy(bool)


def extract(
    spec: AggregationSpec, objects: Sequence[Any], times: np.ndarray, positions: np.ndarray
) -> tuple[Events, list[tuple[int, str]]]:
    """The usable events among ``objects`` (in order) and the refused ones (index, reason).
    ``times`` are the fallback event times (the Kafka timestamps) when the definition names no
    timestamp field."""
    is_object = np.fromiter((isinstance(o, dict) for o in objects), bool, len(objects))
    objs = [o if isinstance(o, dict) else {} for o in objects]
    ids, ok_id = entity_ids([o.get(spec.entity_field) for o in objs])
    if spec.timestamp_field is None:
        ts, ok_ts = np.asarray(times, dtype=np.int64), np.ones(len(objs), bool)
    else:
        ts, ok_ts = epoch_ms([o.get(spec.timestamp_field) for o in objs])
    values = pd.Series(
        [o.get(spec.value_field) for o in objs] if spec.value_field else [None] * len(objs), dtype=object
    )
    ok_value = np.ones(len(objs), bool)
    if spec.function in _NUMERIC_FUNCTIONS:
        ok_value = (values.isna() | values.map(_is_number)).to_numpy(bool)
    bad: list[tuple[int, str]] = []
    for mask, reason in (
        (is_object, "not a JSON object"),
        (ok_id, f"no usable entity id in field {spec.entity_field!r}"),
        (ok_ts, f"no usable event time in field {spec.timestamp_field!r}"),
        (ok_value, f"field {spec.value_field!r} is not a number"),
    ):
        bad += [(int(i), reason) for i in np.flatnonzero(~mask)]
    keep = is_object & ok_id & ok_ts & ok_value
    events = Events(
        ids[keep].reset_index(drop=True),
        ts[keep],
        values[keep].reset_index(drop=True),
        np.asarray(positions, dtype=np.int64)[keep],
    )
    return events, bad
