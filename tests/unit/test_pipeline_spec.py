"""The SQL pipeline definition model (no Spark): what a definition may hold."""

from pathlib import Path

import pytest

from fstore.errors import ValidationError
from fstore.models import Feature, parse
from fstore.spark.pipeline import load_definition
from fstore.spark.pipeline_spec import PipelineDefinition

DEFINITION = {
    "name": "spend",
    "query": "  SELECT id, ts AS event_timestamp, x FROM s;  ",
    "sources": {"s": {"path": "/d/s.csv"}, "a": {"feature": "amount"}},
    "entity_column": "id",
}


def test_a_definition_is_normalised() -> None:
    d = parse(PipelineDefinition, DEFINITION)
    assert d.query == "SELECT id, ts AS event_timestamp, x FROM s"
    assert list(d.sources) == ["a", "s"] and d.sources["s"].file_format == "csv"
    assert d.feature_sources == ["amount"] and d.timestamp_column == "event_timestamp"
    assert "features" not in d.shared().model_dump()


@pytest.mark.parametrize(
    "change",
    [
        {"sources": {}},
        {"sources": {"s": {"path": "/x", "feature": "f"}}},
        {"sources": {"s": {}}},
        {"sources": {"s": {"url": "postgresql://h/db", "path": "/x"}}},
        {"sources": {"bad name": {"path": "/x"}}},
        {"query": " ; "},
        {"name": "1st"},
        {"features": []},
        {"unknown": 1},
    ],
)
def test_a_malformed_definition_is_a_validation_error(change: dict) -> None:
    with pytest.raises(ValidationError):
        parse(PipelineDefinition, {**DEFINITION, **change})


def test_a_feature_is_computed_by_an_aggregation_or_a_pipeline() -> None:
    pipeline = parse(PipelineDefinition, DEFINITION).shared().model_dump()
    aggregation = {"source_topic": "t", "entity_field": "id", "function": "count", "size_seconds": 60}
    with pytest.raises(ValidationError, match="not both"):
        parse(Feature, {"name": "x", "entity": "c", "pipeline": pipeline, "aggregation": aggregation})


def test_yaml_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "name: p\nentity_column: id\nquery: SELECT 1\nsources:\n  s: {path: data/s.parquet}\n"
        "  r: {path: 's3a://bucket/r'}\n"
    )
    d = load_definition(tmp_path / "p.yaml")
    assert d.sources["s"].path == str((tmp_path / "data/s.parquet").resolve())
    assert d.sources["r"].path == "s3a://bucket/r"
    (tmp_path / "bad.yaml").write_text("- a list\n")
    with pytest.raises(ValidationError, match="mapping"):
        load_definition(tmp_path / "bad.yaml")
