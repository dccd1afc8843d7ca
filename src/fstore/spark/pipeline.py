"""SQL feature pipelines: features computed by a Spark SQL query (docs/spark.md).

``register_pipeline`` checks a definition against its sources and the registry with Spark
(the query is analysed, not run) and stores it in each output feature's definition — a new
major version of each feature whose query, sources, key or time column changed — with the
features it reads as their dependencies (lineage). A bad definition raises a
``PipelineError`` naming the problem and nothing is stored.

``run_pipeline`` computes the query for a time range (``start`` ≤ event time < ``end``) and
writes every output feature like a backfill (``backfill.prepare`` / ``write_prepared``: the
in-process validation, one row per identity, the identity rule offline, the newest values
online). All outputs are validated before any is written, and a result with two rows for one
entity and event time is refused: a re-run must find the same values, so it changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fstore.errors import DependencyCycleError, NotFoundError, PipelineError, ValidationError
from fstore.models import Feature, FeatureVersion, parse
from fstore.registry.records import find_cycle
from fstore.spark.backfill import BackfillResult, Prepared, prepare, write_prepared
from fstore.spark.pipeline_spec import PipelineDefinition, SqlPipeline, same_pipeline
from fstore.spark.pipeline_views import checked_outputs, drop_views, query_result
from fstore.spark.validate import spark_type

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from fstore.store import FeatureStore


@dataclass(frozen=True, slots=True)
class PipelineResult:
    pipeline: str
    rows: int  # result rows in the range
    features: dict[str, BackfillResult] = field(default_factory=dict)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "rows": self.rows,
            "features": {k: v.as_dict() for k, v in self.features.items()},
            "seconds": round(self.seconds, 3),
        }


def _absolute(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Local file sources relative to ``base`` made absolute: the registry outlives the
    directory a definition was registered from."""
    sources = {}
    for view, source in (data.get("sources") or {}).items():
        if isinstance(source, Mapping) and isinstance(source.get("path"), str):
            path = source["path"]
            if "://" not in path and not Path(path).is_absolute():
                source = {**source, "path": str((base / path).resolve())}
        sources[view] = source
    return {**data, "sources": sources} if sources else data


def load_definition(definition: PipelineDefinition | Mapping[str, Any] | str | Path) -> PipelineDefinition:
    """A definition from a model, a dict (relative paths: from the working directory) or a
    YAML file (relative paths: from the file's directory)."""
    if isinstance(definition, PipelineDefinition):
        return definition
    if isinstance(definition, Mapping):
        return parse(PipelineDefinition, _absolute(dict(definition), Path.cwd()))
    import yaml

    path = Path(definition)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise NotFoundError(f"cannot read pipeline definition {str(path)!r}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ValidationError(f"{path.name} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationError(f"{path.name}: a pipeline definition is a mapping (name, query, sources, …)")
    return parse(PipelineDefinition, _absolute(data, path.parent))


async def _outputs(
    store: FeatureStore,
    spark: SparkSession,
    spec: SqlPipeline,
    wanted: list[str] | None,
    registered: Mapping[str, Feature],
    start: datetime | None = None,
    end: datetime | None = None,
) -> tuple[DataFrame, list[str], list[Feature]]:
    result, views = await query_result(store, spark, spec, start, end)
    try:
        return result, views, checked_outputs(spec, result, wanted, registered)
    except BaseException:
        drop_views(spark, views)
        raise


def _lineage(
    spec: SqlPipeline, outputs: list[Feature], leaving: list[Feature], registered: Mapping[str, Feature]
) -> dict[str, list[str]]:
    """Each touched feature's dependencies: the ones declared by hand (those that came from
    its previous pipeline dropped) and the features the new pipeline reads; refuses a cycle."""
    deps: dict[str, list[str]] = {}
    names = {f.name for f in outputs}
    for f in [*outputs, *leaving]:
        old = set(f.pipeline.feature_sources) if f.pipeline else set()
        reads = set(spec.feature_sources) if f.name in names else set()
        deps[f.name] = sorted((set(f.dependencies) - old) | reads)
    graph = {n: list(f.dependencies) for n, f in registered.items()} | deps
    for f in outputs:
        path = find_cycle(graph, f.name)
        if path:
            raise DependencyCycleError(
                f"pipeline {spec.name!r} would make a dependency cycle: {' -> '.join(path)}", cycle=path
            )
    return deps


async def register_pipeline(
    store: FeatureStore,
    spark: SparkSession,
    definition: PipelineDefinition | Mapping[str, Any] | str | Path,
    *,
    reason: str = "",
) -> list[FeatureVersion]:
    """Check and store a pipeline (see the module docstring); returns each output feature's
    current version afterwards (unchanged when the definition was already registered)."""
    defn = load_definition(definition)
    spec = defn.shared()
    await store.open()
    registered = {f.name: f for f in await store.list_features()}
    _, views, outputs = await _outputs(store, spark, spec, defn.features, registered)
    drop_views(spark, views)
    names = {f.name for f in outputs}
    leaving = [
        f for f in registered.values() if f.pipeline and f.pipeline.name == spec.name and f.name not in names
    ]
    deps = _lineage(spec, outputs, leaving, registered)
    stored = spec.model_dump(mode="json")
    versions = []
    for f in outputs:
        why = reason or f"computed by SQL pipeline {spec.name!r}"
        changes = {"pipeline": stored, "dependencies": deps[f.name]}
        versions.append(await store.update_feature(f.name, changes, reason=why, new_version=True))
    for f in leaving:
        why = reason or f"no longer computed by SQL pipeline {spec.name!r}"
        await store.update_feature(f.name, {"pipeline": None, "dependencies": deps[f.name]}, reason=why)
    return versions


async def pipeline_features(store: FeatureStore, name: str) -> tuple[SqlPipeline, list[Feature]]:
    """The registered pipeline ``name`` and its output features."""
    await store.open()
    features = [f for f in await store.list_features() if f.pipeline and f.pipeline.name == name]
    if not features:
        raise NotFoundError(
            f"pipeline {name!r} is not registered (no feature is computed by it)", pipeline=name
        )
    spec = features[0].pipeline
    assert spec is not None
    stored = spec.model_dump(mode="json")
    for f in features[1:]:
        assert f.pipeline is not None
        if not same_pipeline(stored, f.pipeline.model_dump(mode="json")):
            raise PipelineError(
                f"features {features[0].name!r} and {f.name!r} hold different definitions of pipeline "
                f"{name!r}: register the pipeline again",
                problem="query",
            )
    return spec, features


async def run_pipeline(
    store: FeatureStore,
    spark: SparkSession,
    name: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    stage_with: str = "jdbc",
) -> PipelineResult:
    """Compute pipeline ``name`` for ``start`` ≤ event time < ``end`` (open-ended when None)
    and write its features like a backfill (see the module docstring)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    started = time.perf_counter()
    if start is not None and end is not None and start >= end:
        raise ValidationError(
            f"the range is empty: start {start.isoformat()} is not before end {end.isoformat()}"
        )
    spec, features = await pipeline_features(store, name)
    registered = {f.name: f for f in await store.list_features()}
    result, views, outputs = await _outputs(
        store, spark, spec, [f.name for f in features], registered, start, end
    )
    key, ts = spec.entity_column, spec.timestamp_column
    at = F.col(ts).cast("timestamp")
    frame = result.select(
        F.col(key), at.alias(ts), *(F.col(f.name).cast(spark_type(f)).alias(f.name) for f in outputs)
    )
    if start is not None:
        frame = frame.where(at >= F.lit(start))
    if end is not None:
        frame = frame.where(at < F.lit(end))
    frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
    prepared: list[Prepared] = []
    try:
        _refuse_duplicates(frame, key, ts)
        rows = frame.count()
        for resolved in await store.catalog.resolve([f.name for f in outputs]):
            prepared.append(prepare(resolved, frame, (key, ts, resolved.name), started))
        results: dict[str, BackfillResult] = {}
        while prepared:
            p = prepared.pop(0)
            results[p.resolved.name] = await write_prepared(store, p, stage_with)
        return PipelineResult(name, rows, results, time.perf_counter() - started)
    finally:
        for p in prepared:
            p.release()
        frame.unpersist()
        drop_views(spark, views)


def _refuse_duplicates(frame: DataFrame, key: str, ts: str) -> None:
    from pyspark.sql import functions as F

    twice = frame.groupBy(key, ts).count().where(F.col("count") > 1).limit(1).collect()
    if twice:
        entity, at = twice[0][0], twice[0][1]
        raise PipelineError(
            f"nothing was stored: the query returned {twice[0][2]} rows for entity {entity!r} at {at}; "
            "a pipeline's result has one row per entity and event time",
            problem="duplicate_rows",
        )
