"""The definition of a SQL feature pipeline (``Feature.pipeline``; docs/spark.md).

A pipeline is a Spark SQL ``query`` over named ``sources`` — Parquet or CSV files, JDBC tables
or queries, and the offline history of other features — whose result has an entity key column,
an event-time column and one column per output feature (named like the feature). Each output
feature holds the same ``SqlPipeline`` in its definition, so the query is versioned with the
feature; the features it reads are the feature's dependencies. This module imports no Spark.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# changing one of these changes what the values mean: a new major version (``semver``)
SEMANTIC_FIELDS = ("query", "sources", "entity_column", "timestamp_column")


def _identifier(value: str, what: str) -> str:
    from fstore.models import check_name  # models imports this module

    return check_name(value, what)


class PipelineSource(BaseModel):
    """One view the query reads: exactly one of ``path`` (Parquet/CSV), ``table`` (JDBC) or
    ``feature`` (another feature's offline history)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str | None = Field(
        default=None, description="A Parquet or CSV file or directory (a local path or a URI Spark reads)."
    )
    format: Literal["parquet", "csv"] | None = Field(
        default=None, description="The file format; default: csv for a .csv path, else parquet."
    )
    url: str | None = Field(
        default=None,
        description="The PostgreSQL database of a JDBC table (postgresql://… or jdbc:postgresql:…; "
        "${VAR} taken from the environment when the pipeline runs); default: the offline store's.",
    )
    table: str | None = Field(default=None, description="A JDBC table, or a SELECT query.")
    feature: str | None = Field(
        default=None,
        description="A feature whose current offline history is the view: its entity's join key, "
        "event_timestamp and a column named like the feature.",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        kinds = [k for k in ("path", "table", "feature") if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError("a source has exactly one of 'path', 'table' or 'feature'")
        if self.url and not self.table:
            raise ValueError("'url' goes with 'table' (a JDBC source)")
        if self.format and not self.path:
            raise ValueError("'format' goes with 'path'")
        if self.feature:
            _identifier(self.feature, "feature name")
        return self

    @property
    def file_format(self) -> str:
        return self.format or ("csv" if str(self.path).lower().endswith(".csv") else "parquet")


class SqlPipeline(BaseModel):
    """What each output feature of a pipeline holds in its definition."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="The pipeline's name (`fstore spark run NAME`).")
    query: str = Field(min_length=1, description="Spark SQL over the sources' views.")
    sources: dict[str, PipelineSource] = Field(description="View name → source.")
    entity_column: str = Field(description="The result's entity key column.")
    timestamp_column: str = Field(default="event_timestamp", description="The result's event-time column.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _identifier(v, "pipeline name")

    @field_validator("query")
    @classmethod
    def _query(cls, v: str) -> str:
        v = v.strip().rstrip(";").strip()
        if not v:
            raise ValueError("the query is empty")
        return v

    @field_validator("sources")
    @classmethod
    def _sources(cls, v: dict[str, PipelineSource]) -> dict[str, PipelineSource]:
        if not v:
            raise ValueError("a pipeline reads at least one source")
        for view in v:
            _identifier(view, "source name")
        return dict(sorted(v.items()))

    @property
    def feature_sources(self) -> list[str]:
        """The features the query reads: the output features' dependencies."""
        return sorted({s.feature for s in self.sources.values() if s.feature})


class PipelineDefinition(SqlPipeline):
    """A pipeline as registered (a YAML file, ``--sql`` or a dict): the shared definition and
    its output features (default: every result column but the key and the event time)."""

    features: list[str] | None = Field(default=None, description="The output features.")

    @field_validator("features")
    @classmethod
    def _features(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return None
        if not v:
            raise ValueError("'features' lists at least one feature (or leave it out)")
        return list(dict.fromkeys(_identifier(f, "feature name") for f in v))

    def shared(self) -> SqlPipeline:
        return SqlPipeline.model_validate(self.model_dump(exclude={"features"}))


def same_pipeline(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Whether two stored pipeline definitions compute the same values."""
    if a is None or b is None:
        return a is b
    return all(a.get(f) == b.get(f) for f in SEMANTIC_FIELDS)
