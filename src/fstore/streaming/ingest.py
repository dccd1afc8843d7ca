"""The ingest handler: ``IngestEvent``s from the ingest topic → feature values, stored through
the service layer (one atomic write per micro-batch).

An event is refused (dead-lettered with the reason) when its JSON does not parse or does not
match the schema, its feature is unknown, or its entity id or value does not fit the feature.
Refusing one event never refuses the others. An event without ``event_timestamp`` takes its
Kafka message timestamp, so a replay carries the same identity (feature, entity, event time)
and the identity rule makes it a no-op.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pydantic

from fstore.catalog import ResolvedFeature
from fstore.enums import ValueType
from fstore.errors import InvalidValueError, NotFoundError, ValidationError
from fstore.streaming.events import IngestEvent
from fstore.streaming.handlers import DeadLetter, Record
from fstore.values import TS_TYPE, Values, arrow_type, check_value, coerce_column, coerce_entity_ids

if TYPE_CHECKING:
    from fstore.store import FeatureStore

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class _Group:
    """One feature's events of a batch, as parallel lists."""

    records: list[Record] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)  # naive ones are UTC (Arrow's reading too)
    values: list[Any] = field(default_factory=list)

    def drop(self, keep: list[int]) -> _Group:
        return _Group(
            [self.records[i] for i in keep],
            [self.ids[i] for i in keep],
            [self.times[i] for i in keep],
            [self.values[i] for i in keep],
        )


def _kind_fits(resolved: ResolvedFeature, dtype: pa.DataType) -> bool:
    """The column's Arrow type can hold the feature's values (else each row says why not)."""
    if pa.types.is_null(dtype):
        return True
    if resolved.feature.dtype is ValueType.STRING:
        return pa.types.is_string(dtype)
    return pa.types.is_integer(dtype) or pa.types.is_floating(dtype)


def _reason(exc: Exception) -> str:
    if isinstance(exc, pydantic.ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "event"
        return f"invalid event: {where}: {first['msg']}"
    return str(exc)


class IngestHandler:
    """A ``BatchHandler`` for ``IngestEvent``s. ``on_stored`` (if given) receives, after each
    stored batch, the event times (µs) it made visible — the processor's lag metric."""

    def __init__(
        self,
        store: FeatureStore,
        topics: Sequence[str],
        on_stored: Callable[[np.ndarray], None] | None = None,
    ) -> None:
        self.store = store
        self._topics = list(topics)
        self.on_stored = on_stored

    @property
    def topics(self) -> Sequence[str]:
        return self._topics

    async def handle(self, records: Sequence[Record]) -> list[DeadLetter]:
        refused: list[DeadLetter] = []
        groups = self._parse(records, refused)
        batches: list[tuple[ResolvedFeature, Values]] = []
        for name, group in groups.items():
            try:
                (resolved,) = await self.store.catalog.resolve([name])
            except (NotFoundError, ValidationError) as exc:  # an unknown feature: its events only
                refused.extend(DeadLetter(r, f"unknown feature: {exc.message}") for r in group.records)
                continue
            values = self._validate(resolved, group, refused)
            if values is not None:
                batches.append((resolved, values))
        if batches:
            await self.store.store_many(batches)
            if self.on_stored is not None:
                self.on_stored(np.concatenate([v.event_ts.cast(pa.int64()).to_numpy() for _, v in batches]))
        return refused

    def _parse(self, records: Sequence[Record], refused: list[DeadLetter]) -> dict[str, _Group]:
        groups: dict[str, _Group] = {}
        validate = IngestEvent.model_validate_json
        for record in records:
            if record.value is None:
                refused.append(DeadLetter(record, "invalid event: the message has no value"))
                continue
            try:
                event = validate(record.value)
            except (pydantic.ValidationError, ValueError) as exc:
                refused.append(DeadLetter(record, _reason(exc)))
                continue
            group = groups.get(event.feature)
            if group is None:
                group = groups[event.feature] = _Group()
            group.records.append(record)
            eid = event.entity_id
            group.ids.append(eid if type(eid) is str else str(eid))
            ts = event.event_timestamp
            group.times.append(_EPOCH + timedelta(milliseconds=record.timestamp_ms) if ts is None else ts)
            group.values.append(event.value)
        return groups

    def _validate(self, resolved: ResolvedFeature, group: _Group, refused: list[DeadLetter]) -> Values | None:
        """The group's values, vectorised; a bad row is refused and the rest checked again
        (row by row only when the column cannot even be built)."""
        checked = False  # every value passed check_value: the column builds with its type
        while group.records:
            try:
                ids = coerce_entity_ids(pa.array(group.ids, pa.string()))
                if checked:
                    column = pa.array(group.values, arrow_type(resolved.feature.dtype))  # type: ignore[arg-type]
                else:
                    try:
                        column = pa.array(group.values)
                    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                        column = None
                    if column is None or not _kind_fits(resolved, column.type):
                        group, checked = self._row_by_row(resolved, group, refused), True
                        continue
                values = coerce_column(resolved.feature, column, ids)
                return Values(ids, pa.array(group.times, TS_TYPE), values)
            except (InvalidValueError, ValidationError) as exc:
                row = exc.details.get("row")
                if row is None:  # not about one row: refuse the whole feature's events
                    refused.extend(DeadLetter(r, exc.message) for r in group.records)
                    return None
                refused.append(DeadLetter(group.records[row], exc.message))
                group = group.drop([i for i in range(len(group.records)) if i != row])
        return None

    def _row_by_row(self, resolved: ResolvedFeature, group: _Group, refused: list[DeadLetter]) -> _Group:
        """Check each value alone; the kept ones in canonical form (then the column builds)."""
        keep, canonical = [], []
        for i, value in enumerate(group.values):
            try:
                canonical.append(check_value(resolved.feature, value, i, group.ids[i]))
                keep.append(i)
            except InvalidValueError as exc:
                refused.append(DeadLetter(group.records[i], exc.message))
        kept = group.drop(keep)
        kept.values = canonical
        return kept
