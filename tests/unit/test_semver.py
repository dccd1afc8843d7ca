import pytest

from fstore.errors import VersionError
from fstore.models import BumpKind
from fstore.semver import Version, classify_change, next_version


def test_parse_and_order() -> None:
    assert Version.parse("1.2.3") < Version.parse("1.10.0") < Version.parse("2.0.0")
    assert str(Version.parse(" 0.0.1 ")) == "0.0.1"
    for bad in ["1.2", "01.2.3", "1.2.3-beta", "", "a.b.c"]:
        with pytest.raises(VersionError):
            Version.parse(bad)


@pytest.mark.parametrize(
    ("current", "kind", "expected"),
    [
        (None, BumpKind.MAJOR, "1.0.0"),
        ("1.2.3", BumpKind.MAJOR, "2.0.0"),
        ("1.2.3", BumpKind.MINOR, "1.3.0"),
        ("1.2.3", BumpKind.PATCH, "1.2.4"),
    ],
)
def test_next_version(current: str | None, kind: BumpKind, expected: str) -> None:
    assert next_version(current, kind) == expected


def test_explicit_version_must_grow() -> None:
    assert next_version("1.2.3", BumpKind.PATCH, "3.0.0") == "3.0.0"
    with pytest.raises(VersionError):
        next_version("1.2.3", BumpKind.PATCH, "1.2.3")
    with pytest.raises(VersionError):
        next_version("1.2.3", BumpKind.PATCH, "1.0.0")


def test_bump_rules() -> None:
    base = {"type": "numerical", "dtype": "float", "entity": "c", "description": "x", "dependencies": []}
    scaler = {"kind": "standard_scaler", "params": {}, "state": None}
    assert classify_change(base, dict(base), scaler, dict(scaler)) is None
    assert classify_change(base, {**base, "dtype": "int"}, scaler, scaler) is BumpKind.MAJOR
    assert classify_change(base, base, scaler, {**scaler, "kind": "minmax_scaler"}) is BumpKind.MAJOR
    assert classify_change(base, base, None, scaler) is BumpKind.MAJOR
    assert classify_change(base, base, scaler, {**scaler, "state": {"mean": 1}}) is BumpKind.MINOR
    assert classify_change(base, base, scaler, {**scaler, "params": {"with_mean": False}}) is BumpKind.MINOR
    assert classify_change(base, {**base, "dependencies": ["y"]}, scaler, scaler) is BumpKind.MINOR
    assert classify_change(base, {**base, "description": "y"}, scaler, scaler) is BumpKind.PATCH


def test_bump_rules_of_a_sql_pipeline() -> None:
    """A pipeline's query, sources, key or time column decide the values: major; its name: patch."""
    base = {"type": "numerical", "dtype": "float", "entity": "c", "pipeline": None}
    pipeline = {
        "name": "p",
        "query": "SELECT id, ts, x FROM s",
        "sources": {"s": {"path": "/d/s.parquet"}},
        "entity_column": "id",
        "timestamp_column": "ts",
    }
    with_pipeline = {**base, "pipeline": pipeline}
    assert classify_change(base, with_pipeline, None, None) is BumpKind.MAJOR
    assert classify_change(with_pipeline, base, None, None) is BumpKind.MAJOR
    assert classify_change(with_pipeline, {**base, "pipeline": dict(pipeline)}, None, None) is None
    for field, value in [
        ("query", "SELECT id, ts, x * 2 AS x FROM s"),
        ("sources", {"s": {"path": "/d/other.parquet"}}),
        ("entity_column", "key"),
        ("timestamp_column", "at"),
    ]:
        changed = {**base, "pipeline": {**pipeline, field: value}}
        assert classify_change(with_pipeline, changed, None, None) is BumpKind.MAJOR, field
    renamed = {**base, "pipeline": {**pipeline, "name": "q"}}
    assert classify_change(with_pipeline, renamed, None, None) is BumpKind.PATCH
