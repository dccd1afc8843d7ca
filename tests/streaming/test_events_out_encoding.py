"""The value-change events are built column-wise (Arrow string kernels, not a JSON library per
event): every kind of value must still come out as valid JSON that means the same."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from fstore.backends.offline.base import OutboxEntry
from fstore.streaming.events import FeatureValueEvent
from fstore.streaming.publisher import encode_all, encode_events, event_id

ENTRY = OutboxEntry("call", "f", "f", "customer", 1_767_225_600_123_456, 0, 0, 'a "quoted" source')
TS = [
    datetime(2026, 1, 1, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),
]


def rows(values: pa.Array, transformed: pa.Array, ids: list[str] | None = None) -> pa.Table:
    n = len(values)
    return pa.table(
        {
            "entity_id": pa.array(ids or [f"c{i}" for i in range(n)]),
            "event_timestamp": pa.array(TS[:n], pa.timestamp("us", tz="UTC")),
            "value": values,
            "transformed": transformed,
            "version": pa.array(["1.0.0"] * (n - 1) + [None]),
            "ingested_at": pa.array([ENTRY.ingested_us] * n, pa.timestamp("us", tz="UTC")),
        }
    )


@pytest.mark.parametrize(
    ("values", "transformed", "expected_values", "expected_transformed"),
    [
        (
            pa.array([0.1, float("nan"), None]),
            pa.array([1e-300, float("inf"), 3.0]),
            [0.1, None, None],
            [1e-300, None, 3.0],
        ),
        (pa.array([1, -(2**62), None]), pa.nulls(3), [1, -(2**62), None], [None, None, None]),
        (
            pa.array(['say "hi"', "back\\slash\n\ttab\x01", "ünïcødé ☃"]),
            pa.array([[1.0, 0.0], None, [0.0, 1.0]], pa.list_(pa.float64())),
            ['say "hi"', "back\\slash\n\ttab\x01", "ünïcødé ☃"],
            [[1.0, 0.0], None, [0.0, 1.0]],
        ),
    ],
)
def test_every_kind_of_value_encodes_to_the_same_json(
    values: pa.Array, transformed: pa.Array, expected_values: list[object], expected_transformed: list[object]
) -> None:
    ids = ["c1", 'c"2', "c\\3\n"]
    messages = encode_events(ENTRY, rows(values, transformed, ids))
    assert [k for k, _ in messages] == [f"customer:{i}".encode() for i in ids]
    decoded = [json.loads(v) for _, v in messages]  # strict JSON: no NaN, no bare control chars
    assert [d["value"] for d in decoded] == expected_values
    assert [d["transformed"] for d in decoded] == expected_transformed
    events = [FeatureValueEvent.model_validate_json(v) for _, v in messages]
    assert [e.entity_id for e in events] == ids
    assert [e.event_timestamp for e in events] == TS
    assert [e.feature_version for e in events] == ["1.0.0", "1.0.0", None]
    assert {e.ingested_at for e in events} == {datetime(2026, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)}
    assert {e.source for e in events} == {ENTRY.source}
    assert [e.event_id for e in events] == [
        event_id("f", i, int(t.timestamp() * 1_000_000), ENTRY.ingested_us)
        for i, t in zip(ids, TS, strict=True)
    ]


def test_no_rows_no_events() -> None:
    assert encode_events(ENTRY, rows(pa.array([1.0]), pa.array([1.0])).slice(0, 0)) == []


def test_consecutive_calls_encode_together_and_in_order() -> None:
    first = rows(pa.array([1.0, 2.0, 3.0]), pa.nulls(3))
    later = ENTRY.ingested_us + 1
    second = rows(pa.array([4.0, 5.0, 6.0]), pa.array([0.1, 0.2, 0.3])).set_column(
        5, "ingested_at", pa.array([later] * 3, pa.timestamp("us", tz="UTC"))
    )
    other = replace(ENTRY, feature_id="g", feature="g")
    batches = encode_all([(ENTRY, first), (ENTRY, second), (other, first), (ENTRY, first.slice(0, 0))])
    assert [len(b) for b in batches] == [6, 3]  # the two calls of "f" in one pass; "g" alone
    events = [FeatureValueEvent.model_validate_json(v) for b in batches for _, v in b]
    assert [e.value for e in events] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 1.0, 2.0, 3.0]
    assert [e.transformed for e in events[:6]] == [None, None, None, 0.1, 0.2, 0.3]
    assert [e.ingested_at.microsecond for e in events[:6]] == [123456] * 3 + [123457] * 3
    assert events[3].event_id.split("/")[2] == str(later)
    assert {e.feature for e in events[6:]} == {"g"}
