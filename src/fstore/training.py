"""Point-in-time-correct training sets: each entity row gets, per feature, the newest value
at or before the row's timestamp, so no label ever sees the future."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from fstore.backends.offline.base import OfflineStore, PitRequest
from fstore.catalog import ResolvedFeature
from fstore.columns import transform_arrow
from fstore.errors import ValidationError
from fstore.frames import Output, check_output, kind_of, to_output
from fstore.values import coerce_timestamps, table_of


def to_arrow(entity_rows: Any) -> tuple[pa.Table, Output]:
    """The entity rows as an Arrow table, and the kind of table the caller gave (a list of
    dicts counts as Arrow)."""
    kind = kind_of(entity_rows)
    if kind is not None:
        return table_of(entity_rows), kind  # typed errors for duplicated or mixed columns
    if isinstance(entity_rows, list):
        try:
            return pa.Table.from_pylist(entity_rows), "arrow"
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ValidationError(f"entity rows are not a table: {exc}") from None
    raise ValidationError(
        "entity rows must be a pandas or Polars DataFrame, an Arrow table or a list of dicts"
    )


async def historical_features(
    offline: OfflineStore,
    entity_rows: Any,
    features: Sequence[ResolvedFeature],
    timestamp_column: str = "event_timestamp",
    transformed: bool = True,
    output: Output | None = None,
) -> Any:
    """The training set, as the kind of table given (or ``output``)."""
    output = check_output(output)
    table, kind = to_arrow(entity_rows)
    names = set(table.column_names)
    if timestamp_column not in names:
        raise ValidationError(f"the entity rows have no timestamp column {timestamp_column!r}")
    requests = []
    for resolved in features:
        key = resolved.entity.join_key
        if key not in names:
            raise ValidationError(
                f"feature {resolved.name!r} describes {resolved.entity.name!r}: the entity rows need a "
                f"{key!r} column"
            )
        if resolved.name in names:
            raise ValidationError(f"the entity rows already have a column named {resolved.name!r}")
        requests.append(PitRequest(resolved.feature.id, key, resolved.name, resolved.feature.ttl_seconds))
    index = table.column_names.index(timestamp_column)
    ts = coerce_timestamps(table.column(timestamp_column))
    table = table.set_column(index, timestamp_column, ts)
    result = await offline.point_in_time(table, timestamp_column, requests)
    if transformed:
        for resolved in features:
            if resolved.spec is None:
                continue
            index = result.column_names.index(resolved.name)
            column = transform_arrow(resolved, result.column(resolved.name))
            result = result.set_column(index, resolved.name, column)
    return to_output(result, output or kind)
