from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from fstore.errors import InvalidValueError, TypeMismatchError, ValidationError
from fstore.models import Feature, FeatureValue
from fstore.values import coerce_values, from_micros, to_datetime, to_micros

AMOUNT = Feature(name="amount", entity="customer")
COUNT = Feature(name="count", entity="customer", dtype="int")
NULLABLE = Feature(name="score", entity="customer", nullable=True)
COLOR = Feature(name="color", entity="customer", type="categorical")


def test_rows_of_dicts_and_models() -> None:
    rows = [
        {"entity_id": "a", "value": 1.5, "event_timestamp": "2024-01-01T00:00:00Z"},
        FeatureValue(entity_id="b", value=2, event_timestamp=datetime(2024, 1, 2)),
        {"entity_id": 7, "value": 3},
    ]
    v = coerce_values(AMOUNT, rows, now=datetime(2025, 1, 1, tzinfo=UTC))
    assert v.entity_ids.to_pylist() == ["a", "b", "7"]
    assert v.values.to_pylist() == [1.5, 2.0, 3.0]
    assert [t.isoformat() for t in v.event_ts.to_pylist()] == [
        "2024-01-01T00:00:00+00:00",
        "2024-01-02T00:00:00+00:00",
        "2025-01-01T00:00:00+00:00",
    ]


@pytest.mark.parametrize(
    ("feature", "value", "error"),
    [
        (AMOUNT, "x", TypeMismatchError),
        (AMOUNT, float("nan"), InvalidValueError),
        (AMOUNT, float("inf"), InvalidValueError),
        (AMOUNT, None, InvalidValueError),
        (AMOUNT, True, TypeMismatchError),
        (COUNT, 1.5, TypeMismatchError),
        (COLOR, 3, TypeMismatchError),
    ],
)
def test_bad_value_names_the_row(feature: Feature, value: object, error: type[Exception]) -> None:
    rows = [
        {"entity_id": "ok", "value": "red" if feature is COLOR else 1},
        {"entity_id": "bad", "value": value},
    ]
    with pytest.raises(error) as info:
        coerce_values(feature, rows)
    assert "row 1" in str(info.value) and "'bad'" in str(info.value)
    assert info.value.details["row"] == 1


def test_nullable_accepts_none_and_nan() -> None:
    v = coerce_values(
        NULLABLE, [{"entity_id": "a", "value": None}, {"entity_id": "b", "value": float("nan")}]
    )
    assert v.values.to_pylist() == [None, None]
    frame = pd.DataFrame({"entity_id": ["a", "b"], "value": [1.0, np.nan]})
    assert coerce_values(NULLABLE, frame).values.to_pylist() == [1.0, None]


def test_dataframe_vectorised_errors() -> None:
    ts = pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"], utc=True)
    frame = pd.DataFrame({"customer_id": [1, 2, 3], "amount": [1.0, np.inf, 2.0], "event_timestamp": ts})
    with pytest.raises(InvalidValueError, match="row 1"):
        coerce_values(AMOUNT, frame, entity_column="customer_id")
    frame["amount"] = [1.0, 2.0, 3.0]
    v = coerce_values(AMOUNT, frame, entity_column="customer_id")
    assert v.entity_ids.to_pylist() == ["1", "2", "3"]
    frame["event_timestamp"] = ["2024-01-01", "not a date", "2024-01-03"]
    with pytest.raises(ValidationError, match="row 1"):
        coerce_values(AMOUNT, frame, entity_column="customer_id")


def test_arrow_table_and_int_feature() -> None:
    table = pa.table({"entity_id": ["a", "b"], "value": [1.0, 2.0]})
    assert coerce_values(COUNT, table).values.type == pa.int64()
    table = pa.table({"entity_id": ["a", "b"], "value": [1.0, 2.5]})
    with pytest.raises(TypeMismatchError, match="row 1"):
        coerce_values(COUNT, table)
    with pytest.raises(ValidationError, match="no value column"):
        coerce_values(COUNT, pa.table({"entity_id": ["a"], "x": [1]}))
    with pytest.raises(InvalidValueError, match="entity id"):
        coerce_values(COUNT, pa.table({"entity_id": ["a", None], "value": [1, 2]}))


def test_timestamps() -> None:
    assert to_datetime("2024-01-01T03:00:00+03:00") == datetime(2024, 1, 1, tzinfo=UTC)
    assert to_datetime(datetime(2024, 1, 1)) == datetime(2024, 1, 1, tzinfo=UTC)
    micros = to_micros("2024-05-06T07:08:09.123456Z")
    assert from_micros(micros) == datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    with pytest.raises(ValidationError):
        to_datetime("yesterday")
    with pytest.raises(ValidationError):
        to_datetime(12345)


TIME_TEXTS = [
    "2025-01-01T00:00:00Z",
    "2025-01-01T05:30:00+05:30",
    "2025-01-01T10:00:00.123456Z",
    "2025-01-01T10:00:00.5-02:00",
    "2025-01-01T10:00:00+0530",
    "2025-01-01",  # no zone: UTC (Arrow refuses it, so the row-by-row path decides)
    "2025-01-01 10:00:00",
    " 2025-01-01T00:00:00Z",
]


@pytest.mark.parametrize("text", TIME_TEXTS)
def test_iso_strings_parse_the_same_in_bulk_as_one_by_one(text: str) -> None:
    feature = AMOUNT
    rows = [{"entity_id": f"c{i}", "value": 1.0, "event_timestamp": text} for i in range(3)]
    zoned = [{**rows[0], "event_timestamp": "2025-03-01T00:00:00Z"}, *rows[1:]]
    for batch in (rows, zoned):
        got = coerce_values(feature, batch).event_ts.to_pylist()
        assert got == [to_datetime(r["event_timestamp"]) for r in batch]


def test_an_impossible_date_in_bulk_names_its_row() -> None:
    feature = AMOUNT
    rows = [{"entity_id": f"c{i}", "value": 1.0, "event_timestamp": "2025-01-01T00:00:00Z"} for i in range(3)]
    rows[2]["event_timestamp"] = "2025-02-30T00:00:00Z"
    with pytest.raises(ValidationError) as info:
        coerce_values(feature, rows)
    assert "row 2" in str(info.value)
