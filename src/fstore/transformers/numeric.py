"""Numeric scalers with scikit-learn's exact arithmetic.

Fitting reproduces ``sklearn.preprocessing.StandardScaler`` / ``MinMaxScaler`` on a single
column (same summation, same near-constant detection), and transforming applies the same
float operations in the same order, so outputs are equal to scikit-learn's. NaN in → NaN out;
``transform_one(None)`` is ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from fstore.errors import TransformerError
from fstore.models import FeatureType, TransformerKind
from fstore.transformers.arrays import to_float_array
from fstore.transformers.base import Transformer, check_bool

_EPS = float(np.finfo(np.float64).eps)


def _fit_values(values: Any, kind: str) -> np.ndarray:
    """The fitting column; raises when it holds no non-null value or an infinity."""
    x = to_float_array(values)
    if np.isinf(x).any():
        raise TransformerError(f"cannot fit a {kind} on infinite values")
    if len(x) == 0 or np.isnan(x).all():
        raise TransformerError(f"cannot fit a {kind} on zero non-null values")
    return x


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TransformerError(f"state field {name!r} must be a finite number, got {value!r}")
    return float(value)


def _optional_finite(name: str, value: Any) -> float | None:
    return None if value is None else _finite(name, value)


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TransformerError(f"state field 'n_samples_seen' must be a positive integer, got {value!r}")
    return value


def _number(value: Any) -> float:
    """A single raw value as a float (the slow path of ``transform_one``)."""
    if isinstance(value, str | bytes):
        raise TransformerError(f"a numeric transformer needs a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TransformerError(f"a numeric transformer needs a number, got {value!r}") from None


class _Scaler(Transformer):
    input_type: ClassVar[FeatureType] = FeatureType.NUMERICAL

    def _checked_array(self, values: Any) -> np.ndarray:
        if not self._fitted:
            raise self._not_fitted()
        return to_float_array(values)


class StandardScaler(_Scaler):
    """``(x - mean) / std`` with the population std (ddof=0); a (near-)constant column has
    scale 1, exactly like scikit-learn. ``with_mean`` / ``with_std`` switch either step off.

    State: ``{"mean", "var", "scale", "n_samples_seen"}`` (``var``/``scale`` are null
    without ``with_std``; everything but the count is null when both are off).
    """

    kind: ClassVar[TransformerKind] = TransformerKind.STANDARD_SCALER
    defaults: ClassVar[dict[str, Any]] = {"with_mean": True, "with_std": True}

    def _check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        return {name: check_bool(name, params[name]) for name in ("with_mean", "with_std")}

    def _fit(self, values: Any) -> None:
        x = _fit_values(values, self.kind.value)
        with_mean, with_std = self._params["with_mean"], self._params["with_std"]
        nan_mask = np.isnan(x)
        has_nan = bool(nan_mask.any())
        count = len(x) - int(nan_mask.sum())
        mean = var = scale = None
        if with_mean or with_std:
            mean, var, scale = self._moments(x, count, has_nan, with_std)
        for name, value in (("mean", mean), ("var", var), ("scale", scale)):
            if value is not None and not math.isfinite(value):
                raise TransformerError(f"cannot fit a {self.kind.value}: {name} overflows (values too big)")
        self._load(mean, var, scale, count)

    @staticmethod
    def _moments(
        x: np.ndarray, count: int, has_nan: bool, with_std: bool
    ) -> tuple[float, float | None, float | None]:
        """(mean, var, scale) exactly as scikit-learn computes them."""
        var = scale = None
        with np.errstate(over="ignore", invalid="ignore"):
            # sklearn.utils.extmath._incremental_mean_and_var on a first pass, on an (n, 1) column
            column = x.reshape(-1, 1)
            sum_op = np.nansum if has_nan else np.sum
            n = np.float64(count)
            new_sum = sum_op(column, axis=0)
            mean = float((new_sum / n)[0])
            if with_std:
                temp = column - new_sum / n
                correction = sum_op(temp, axis=0)
                temp **= 2
                unnormalized = sum_op(temp, axis=0)
                unnormalized -= correction**2 / n
                variance = (unnormalized / n)[0]
                # sklearn.preprocessing._data._is_constant_feature + _handle_zeros_in_scale
                upper_bound = n * _EPS * variance + (n * np.float64(mean) * _EPS) ** 2
                scale = 1.0 if variance <= upper_bound else float(np.sqrt(variance))
                var = float(variance)
        return mean, var, scale

    def _load(self, mean: float | None, var: float | None, scale: float | None, count: int) -> None:
        self._mean, self._var, self._scale, self._count = mean, var, scale, count
        self._shift = mean if self._params["with_mean"] and mean is not None else 0.0
        self._divisor = scale if self._params["with_std"] and scale is not None else 1.0

    def _get_state(self) -> dict[str, Any]:
        return {"mean": self._mean, "var": self._var, "scale": self._scale, "n_samples_seen": self._count}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        mean = _optional_finite("mean", state["mean"])
        var = _optional_finite("var", state["var"])
        scale = _optional_finite("scale", state["scale"])
        count = _count(state["n_samples_seen"])
        with_mean, with_std = self._params["with_mean"], self._params["with_std"]
        if (with_mean or with_std) and mean is None:
            raise TransformerError("state field 'mean' is required when with_mean or with_std is on")
        if with_std and (var is None or scale is None or scale <= 0):
            raise TransformerError("with_std needs a 'var' and a positive 'scale' in the state")
        self._load(mean, var, scale, count)

    def transform(self, values: Any) -> np.ndarray:
        x = self._checked_array(values)
        with_mean, with_std = self._params["with_mean"], self._params["with_std"]
        if with_mean:
            out = np.subtract(x, self._shift)
            if with_std:
                np.divide(out, self._divisor, out=out)
            return out
        if with_std:
            return np.divide(x, self._divisor)
        return x.copy()

    def transform_one(self, value: Any) -> float | None:
        if not self._fitted:
            raise self._not_fitted()
        if value is None:
            return None
        if type(value) is not float and type(value) is not int:
            value = _number(value)
        return (value - self._shift) / self._divisor

    def inverse_transform(self, values: Any) -> np.ndarray:
        x = self._checked_array(values)
        out = x.copy()
        if self._params["with_std"]:
            out *= self._divisor
        if self._params["with_mean"]:
            out += self._shift
        return out

    def inverse_transform_one(self, value: Any) -> float | None:
        if not self._fitted:
            raise self._not_fitted()
        if value is None:
            return None
        return _number(value) * self._divisor + self._shift


class MinMaxScaler(_Scaler):
    """``x * scale + min`` mapping the fitted [data_min, data_max] onto ``feature_range``
    (a constant column gets scale ``hi - lo``, exactly like scikit-learn); ``clip`` clips
    outputs into ``feature_range``.

    State: ``{"data_min", "data_max", "scale", "min", "n_samples_seen"}``.
    """

    kind: ClassVar[TransformerKind] = TransformerKind.MINMAX_SCALER
    defaults: ClassVar[dict[str, Any]] = {"feature_range": [0.0, 1.0], "clip": False}

    def _check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        fr = params["feature_range"]
        bad = TransformerError(
            f"parameter 'feature_range' must be two finite numbers (min, max) with min < max, got {fr!r}"
        )
        if isinstance(fr, str | bytes | Mapping) or not hasattr(fr, "__len__") or len(fr) != 2:
            raise bad
        bounds = []
        for bound in fr:
            if isinstance(bound, bool) or not isinstance(bound, int | float | np.integer | np.floating):
                raise bad
            if not math.isfinite(bound):
                raise bad
            bounds.append(float(bound))
        if not bounds[0] < bounds[1]:
            raise bad
        return {"feature_range": bounds, "clip": check_bool("clip", params["clip"])}

    def _fit(self, values: Any) -> None:
        x = _fit_values(values, self.kind.value)
        data_min, data_max = float(np.nanmin(x)), float(np.nanmax(x))
        count = len(x) - int(np.isnan(x).sum())
        data_range = data_max - data_min
        if not math.isfinite(data_range):
            raise TransformerError(f"cannot fit a {self.kind.value}: the data range overflows")
        lo, hi = self._params["feature_range"]
        # sklearn: scale_ = (hi - lo) / _handle_zeros_in_scale(data_range); min_ = lo - data_min * scale_
        divisor = 1.0 if data_range < 10 * _EPS else data_range
        scale = (hi - lo) / divisor
        self._load(data_min, data_max, scale, lo - data_min * scale, count)

    def _load(self, data_min: float, data_max: float, scale: float, minimum: float, count: int) -> None:
        self._data_min, self._data_max, self._count = data_min, data_max, count
        self._scale, self._min = scale, minimum
        self._lo, self._hi = self._params["feature_range"]
        self._clip = self._params["clip"]

    def _get_state(self) -> dict[str, Any]:
        return {
            "data_min": self._data_min,
            "data_max": self._data_max,
            "scale": self._scale,
            "min": self._min,
            "n_samples_seen": self._count,
        }

    def _set_state(self, state: Mapping[str, Any]) -> None:
        data_min = _finite("data_min", state["data_min"])
        data_max = _finite("data_max", state["data_max"])
        scale = _finite("scale", state["scale"])
        minimum = _finite("min", state["min"])
        count = _count(state["n_samples_seen"])
        if data_min > data_max or scale <= 0:
            raise TransformerError("invalid minmax_scaler state: needs data_min <= data_max and scale > 0")
        self._load(data_min, data_max, scale, minimum, count)

    def transform(self, values: Any) -> np.ndarray:
        x = self._checked_array(values)
        out = np.multiply(x, self._scale)
        out += self._min
        if self._clip:
            np.clip(out, self._lo, self._hi, out=out)
        return out

    def transform_one(self, value: Any) -> float | None:
        if not self._fitted:
            raise self._not_fitted()
        if value is None:
            return None
        if type(value) is not float and type(value) is not int:
            value = _number(value)
        out = value * self._scale + self._min
        if self._clip:
            if out < self._lo:
                return self._lo
            if out > self._hi:
                return self._hi
        return out

    def inverse_transform(self, values: Any) -> np.ndarray:
        x = self._checked_array(values)
        out = np.subtract(x, self._min)
        out /= self._scale
        return out

    def inverse_transform_one(self, value: Any) -> float | None:
        if not self._fitted:
            raise self._not_fitted()
        if value is None:
            return None
        return (_number(value) - self._min) / self._scale
