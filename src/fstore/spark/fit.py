"""Transformer fits over the whole offline history, computed in Spark and registered as a new
version exactly as ``FeatureStore.fit_transformer`` does (``register_fit``).

Spark computes the summary a transformer needs in one pass over the current rows up to
``as_of`` (superseded values left out); the state is then made by the in-process code where it
can be, so the arithmetic is the same: a min-max scaler is fitted on ``[min, max]`` (its state
depends on nothing else but the count), an encoder on the distinct categories. A standard
scaler's mean and variance come from Spark's ``avg`` and ``var_pop`` with scikit-learn's
near-constant rule applied to them: equal to the in-process state up to floating-point
summation order (relative 1e-12); counts, minima, maxima and categories are exact.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from fstore.errors import TransformerError, ValidationError
from fstore.models import FeatureVersion, TransformerKind, TransformerSpec
from fstore.registry import check_transformer_fits
from fstore.spark.history import history_frame
from fstore.transformers import create_transformer
from fstore.transformers.specs import TransformerLike, transformer_parts
from fstore.values import to_datetime

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from fstore.store import FeatureStore

_EPS = float(np.finfo(np.float64).eps)


def _standard_state(
    spec: TransformerSpec, count: int, mean: float | None, var: float | None
) -> dict[str, Any]:
    params = create_transformer(spec).params
    if count == 0 or mean is None:
        raise TransformerError(f"cannot fit a {spec.kind.value} on zero non-null values")
    state: dict[str, Any] = {"mean": None, "var": None, "scale": None, "n_samples_seen": count}
    if params["with_mean"] or params["with_std"]:
        state["mean"] = mean
    if params["with_std"]:
        variance = max(float(var or 0.0), 0.0)
        n = float(count)
        upper_bound = n * _EPS * variance + (n * mean * _EPS) ** 2  # scikit-learn's constant test
        state["var"] = variance
        state["scale"] = 1.0 if variance <= upper_bound else math.sqrt(variance)
    for name in ("mean", "var", "scale"):
        if state[name] is not None and not math.isfinite(state[name]):
            raise TransformerError(f"cannot fit a {spec.kind.value}: {name} overflows (values too big)")
    return state


def fitted_state(spec: TransformerSpec, values: DataFrame) -> tuple[dict[str, Any], int]:
    """The fitted state of ``spec`` on the ``value`` column of ``values``; the count fitted on."""
    from pyspark.sql import functions as F

    kind = spec.kind
    if kind in (TransformerKind.STANDARD_SCALER, TransformerKind.MINMAX_SCALER):
        x = F.col("value").cast("double")
        count, mean, var, lo, hi = values.agg(
            F.count(x), F.avg(x), F.var_pop(x), F.min(x), F.max(x)
        ).collect()[0]
        if kind is TransformerKind.STANDARD_SCALER:
            return _standard_state(spec, int(count), mean, var), int(count)
        bounds = [] if lo is None else [lo, hi]
        state = create_transformer(spec).fit(np.array(bounds, dtype=np.float64)).get_state()["state"]
        return {**state, "n_samples_seen": int(count)}, int(count)
    counted = values.filter(F.col("value").isNotNull()).groupBy("value").count().collect()
    categories = [row[0] for row in counted]
    state = create_transformer(spec).fit(categories).get_state()["state"]
    return state, sum(int(row[1]) for row in counted)


async def spark_fit(
    store: FeatureStore,
    spark: SparkSession,
    name: str,
    *,
    as_of: datetime | str | None = None,
    transformer: TransformerLike | None = None,
    version: str | None = None,
) -> FeatureVersion:
    """``FeatureStore.fit_transformer``, with the history scanned in Spark."""
    await store.open()
    current = await store.registry.get_version(name)
    spec = transformer_parts(transformer)[0] if transformer is not None else current.transformer
    if spec is None:
        raise ValidationError(f"feature {name!r} has no transformer to fit; give one")
    check_transformer_fits(await store.registry.get_feature(name), spec)
    cutoff = to_datetime(as_of) if as_of is not None else None
    (resolved,) = await store.catalog.resolve([name])
    state, fitted_on = fitted_state(spec, await history_frame(store, spark, resolved, cutoff))
    return await store.register_fit(name, spec, state, fitted_on, cutoff, version)
