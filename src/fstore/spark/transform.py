"""A feature's fitted transformer as a Spark column expression.

Each expression applies the same float operations in the same order as the in-process
transformer (``columns.transform_arrow``), so the values are equal, not just close: scalers
cast the raw value to double and subtract then divide (standard) or multiply then add
(min-max); encoders look the category up in the sorted categories. A null raw value gives a
null transformed value; a feature without a fitted transformer gives a null column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fstore.catalog import ResolvedFeature
from fstore.models import TransformerKind

if TYPE_CHECKING:
    from pyspark.sql import Column


def transformed_type(resolved: ResolvedFeature) -> str | None:
    """The Spark SQL type of the transformed column (None: no fitted transformer)."""
    t = resolved.transformer
    if t is None:
        return None
    return {
        TransformerKind.STANDARD_SCALER: "double",
        TransformerKind.MINMAX_SCALER: "double",
        TransformerKind.LABEL_ENCODER: "bigint",
        TransformerKind.ONEHOT_ENCODER: "array<double>",
    }[t.kind]


def transform_column(resolved: ResolvedFeature, raw: Column) -> Column:
    """The transformed value of ``raw`` (the feature's validated raw column)."""
    from pyspark.sql import functions as F

    t = resolved.transformer
    if t is None:
        return F.lit(None)
    state: dict[str, Any] = t.get_state()
    params, fitted = state["params"], state["state"]
    if t.kind is TransformerKind.STANDARD_SCALER:
        x = raw.cast("double")
        shift = fitted["mean"] if params["with_mean"] and fitted["mean"] is not None else 0.0
        divisor = fitted["scale"] if params["with_std"] and fitted["scale"] is not None else 1.0
        if params["with_mean"]:
            out = x - F.lit(shift)
            return out / F.lit(divisor) if params["with_std"] else out
        return x / F.lit(divisor) if params["with_std"] else x
    if t.kind is TransformerKind.MINMAX_SCALER:
        out = raw.cast("double") * F.lit(fitted["scale"]) + F.lit(fitted["min"])
        if params["clip"]:
            lo, hi = params["feature_range"]
            # least/greatest skip nulls: a null must stay null
            clipped = F.least(F.greatest(out, F.lit(float(lo))), F.lit(float(hi)))
            out = F.when(raw.isNull(), F.lit(None).cast("double")).otherwise(clipped)
        return out
    categories: list[str] = fitted["categories"]
    n = len(categories)
    unknown = n if params.get("handle_unknown") == "unknown" else -1
    # array_position is 1-based and 0 when absent: minus one gives the code, -1 when unknown
    found = F.array_position(F.array(*(F.lit(c) for c in categories)), raw) - F.lit(1)
    code = F.when(found >= 0, found).otherwise(F.lit(unknown)).cast("bigint")
    if t.kind is TransformerKind.LABEL_ENCODER:
        return F.when(raw.isNull(), F.lit(None).cast("bigint")).otherwise(code)
    width = n + (unknown == n)
    row = F.transform(
        F.sequence(F.lit(0), F.lit(width - 1)),
        lambda i: F.when(i == code, F.lit(1.0)).otherwise(F.lit(0.0)),
    )
    return F.when(raw.isNull(), F.lit(None).cast("array<double>")).otherwise(row)
