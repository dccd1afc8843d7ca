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
    try:  # the common case: one kind of value in the whole batch
        arr = pa.array(raw)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = None
    if arr is not None and pa.types.is_integer(arr.type):
        ok = arr.is_valid().to_numpy(zero_copy_only=False)
        return arr.fill_null(0).to_numpy().astype(np.int64), ok
    if arr is not None and pa.types.is_string(arr.type):
        parsed = pd.to_datetime(arr.to_pandas(), utc=True, format="ISO8601", errors="coerce")
        ok = parsed.notna().to_numpy()
        ms = parsed.astype("datetime64[ms, UTC]").astype("int64").to_numpy()
        return np.where(ok, ms, 0).astype(np.int64), ok
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
        # Python str objects (not pandas' Arrow-backed strings): the aggregators look them up
        # in their object indexes, which would convert an Arrow column on every lookup
        ids = pd.Series(arr.cast(pa.string()).to_pylist(), dtype=object)
        ok = ids.notna().to_numpy() & (ids != "").to_numpy()
        return ids.fillna(""), ok
    series = pd.Series(raw, dtype=object)
    ok = series.map(
        lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, str) and v != "")
    )
    return series.where(ok, "").map(str).astype(object), ok.to_numpy(bool)


class Fields:
    """A batch of decoded events, with each field's column read once for all aggregations."""

    def __init__(self, objects: Sequence[Any]) -> None:
        self.is_object = np.fromiter((isinstance(o, dict) for o in objects), bool, len(objects))
        self.objects = [o if isinstance(o, dict) else {} for o in objects]
        self._columns: dict[tuple[str, str], Any] = {}

    def __len__(self) -> int:
        return len(self.objects)

    def raw(self, name: str) -> list[Any]:
        return self._cached("raw", name, lambda: [o.get(name) for o in self.objects])

    def ids(self, name: str) -> tuple[pd.Series, np.ndarray]:
        return self._cached("ids", name, lambda: entity_ids(self.raw(name)))

    def times(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        return self._cached("times", name, lambda: epoch_ms(self.raw(name)))

    def numbers(self, name: str) -> tuple[pd.Series, np.ndarray]:
        """The field as numbers (None where absent), and which values are numbers or absent."""

        def make() -> tuple[pd.Series, np.ndarray]:
            raw = self.raw(name)
            try:
                arr = pa.array(raw)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                arr = None
            if arr is not None and (pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)):
                return arr.cast(pa.float64()).to_pandas(), np.ones(len(raw), bool)
            values = pd.Series(raw, dtype=object)
            return values, (values.isna() | values.map(_is_number)).to_numpy(bool)

        return self._cached("numbers", name, make)

    def _cached(self, kind: str, name: str, make: Any) -> Any:
        key = (kind, name)
        if key not in self._columns:
            self._columns[key] = make()
        return self._columns[key]


def extract(
    spec: AggregationSpec,
    fields: Fields,
    times: np.ndarray,
    positions: np.ndarray,
    partitions: np.ndarray | None = None,
    *,
    numeric: bool = True,
) -> tuple[Events, list[tuple[int, str]]]:
    """The usable events among ``objects`` (in order) and the refused ones (index, reason).
    ``times`` are the fallback event times (the Kafka timestamps) when the definition names no
    timestamp field; ``partitions`` the events' source partitions (default: all 0)."""
    n = len(fields)
    is_object = fields.is_object
    ids, ok_id = fields.ids(spec.entity_field)
    if spec.timestamp_field is None:
        ts, ok_ts = np.asarray(times, dtype=np.int64), np.ones(n, bool)
    else:
        ts, ok_ts = fields.times(spec.timestamp_field)
    ok_value = np.ones(n, bool)
    if not spec.value_field:
        values = pd.Series([None] * n, dtype=object)
    elif spec.function in _NUMERIC_FUNCTIONS or (numeric and spec.function is AggregationFunction.LAST):
        values, ok_value = fields.numbers(spec.value_field)
    else:
        values = pd.Series(fields.raw(spec.value_field), dtype=object)
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
        (np.zeros(n, np.int64) if partitions is None else np.asarray(partitions, dtype=np.int64))[keep],
    )
    return events, bad
