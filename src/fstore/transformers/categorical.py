"""Categorical encoders: ``LabelEncoder`` (one integer code) and ``OneHotEncoder`` (one
column per category).

Categories are strings, learnt by ``fit`` (nulls ignored) and sorted like scikit-learn
(``np.unique`` order: by code point). Values must be strings; anything else (an int, a
bool) raises ``TransformerError`` — cast first.

Unknown values (categories the fit never saw) follow ``handle_unknown``:

* ``"ignore"`` (default): the reserved label code ``-1`` (``UNKNOWN_CODE``; scikit-learn's
  ``OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)``), one-hot an
  all-zero row (scikit-learn's ``OneHotEncoder(handle_unknown="ignore")``);
* ``"unknown"``: an explicit extra bucket — label code ``len(categories)``, one-hot an extra
  last column named ``__unknown__`` (its code moves when a refit learns more categories);
* ``"error"``: raise ``UnknownCategoryError`` naming the value (and its row in a batch). The
  feature store honours it only in explicit ``transform`` calls: storing, serving and
  training sets read it as ``"ignore"`` (``lenient``), so a new category never blocks
  storing its raw value, and the next fit learns it.

Nulls (``None``, ``NaN``, ``pd.NA``, Arrow nulls) are never an error: label code ``-1``,
one-hot all-zero row. ``inverse_transform`` maps ``-1``, the unknown bucket and all-zero
rows back to ``None``.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fstore.errors import TransformerError, UnknownCategoryError
from fstore.models import FeatureType, TransformerKind
from fstore.transformers.arrays import is_null, to_float_array, to_string_array
from fstore.transformers.base import Transformer, check_choice

HANDLE_UNKNOWN = ("ignore", "unknown", "error")
UNKNOWN_NAME = "__unknown__"
NULL_CODE = -1
UNKNOWN_CODE = -1  # the label code of an unknown category under "ignore"


def lenient(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as the store's write, serve and training paths use them: ``"error"`` reads
    as ``"ignore"`` (an unknown category must never block storing a raw value)."""
    out = dict(params)
    if out.get("handle_unknown") == "error":
        out["handle_unknown"] = "ignore"
    return out


class _Encoder(Transformer):
    """Shared by both encoders: the sorted categories and value → code lookups."""

    input_type: ClassVar[FeatureType] = FeatureType.CATEGORICAL
    defaults: ClassVar[dict[str, Any]] = {"handle_unknown": "ignore"}

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._policy: str = self._params["handle_unknown"]
        self._categories: list[str] = []
        self._index: dict[str, int] = {}  # empty until fitted: every lookup misses
        self._unknown_code = NULL_CODE
        self._width = 0

    def _check_params(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"handle_unknown": check_choice("handle_unknown", params["handle_unknown"], HANDLE_UNKNOWN)}

    @property
    def categories(self) -> list[str]:
        """The fitted categories in code order (a copy)."""
        if not self._fitted:
            raise self._not_fitted()
        return list(self._categories)

    # -- fit and state ---------------------------------------------------------------------

    def _fit(self, values: Any) -> None:
        present = to_string_array(values).drop_null()
        if len(present) == 0:
            raise TransformerError(f"cannot fit a {self.kind.value} on zero non-null values")
        self._load(sorted(pc.unique(present).to_pylist()))

    def _load(self, categories: list[str]) -> None:
        self._categories = categories
        self._index = {c: i for i, c in enumerate(categories)}
        self._value_set = pa.array(categories, pa.string())
        self._unknown_code = len(categories) if self._policy == "unknown" else UNKNOWN_CODE
        self._lookup = np.empty(len(categories) + 1, dtype=object)  # code → category; last: None
        self._lookup[: len(categories)] = categories
        self._width = len(categories) + (self._policy == "unknown")

    def _get_state(self) -> dict[str, Any]:
        return {"categories": list(self._categories)}

    def _set_state(self, state: Mapping[str, Any]) -> None:
        categories = state["categories"]
        if (
            not isinstance(categories, list)
            or not categories
            or not all(isinstance(c, str) for c in categories)
            or any(a >= b for a, b in itertools.pairwise(categories))
        ):
            raise TransformerError("state field 'categories' must be sorted, distinct, non-empty strings")
        self._load(list(categories))

    # -- value → code ----------------------------------------------------------------------

    def _miss(self, value: Any) -> int:
        """The code of a value that is not a known category (the slow path)."""
        if not self._fitted:
            raise self._not_fitted()
        if is_null(value):
            return NULL_CODE
        if not isinstance(value, str):
            raise TransformerError(f"categorical values must be strings, got {value!r}")
        if self._policy == "error":
            raise UnknownCategoryError(
                f"unknown category {value!r} for {self.kind.value} "
                f"({len(self._categories)} known categories)",
                value=value,
            )
        return self._unknown_code

    def _codes(self, values: Any) -> np.ndarray:
        """int64 codes of a batch: -1 for nulls (and ignored unknowns), the unknown bucket."""
        if not self._fitted:
            raise self._not_fitted()
        arr = to_string_array(values)
        found = pc.index_in(arr, value_set=self._value_set)
        codes = found.fill_null(NULL_CODE).to_numpy(zero_copy_only=False).astype(np.int64)
        if found.null_count > arr.null_count:  # some non-null value is not a category
            unknown = pc.and_(found.is_null(), arr.is_valid())
            if self._policy == "error":
                row = pc.index(unknown, True).as_py()
                value = arr[row].as_py()
                raise UnknownCategoryError(
                    f"unknown category {value!r} at row {row} for {self.kind.value} "
                    f"({len(self._categories)} known categories)",
                    value=value,
                    row=row,
                )
            if self._policy == "unknown":
                codes[unknown.to_numpy(zero_copy_only=False)] = self._unknown_code
        return codes

    def _check_codes(self, codes: np.ndarray) -> np.ndarray:
        """Codes → indices into ``_lookup`` (null, -1 and the unknown bucket → the None slot)."""
        nulls = np.isnan(codes)
        filled = np.where(nulls, NULL_CODE, codes)
        n = len(self._categories)
        valid = (filled == np.floor(filled)) & (filled >= NULL_CODE) & (filled < n)
        valid |= filled == self._unknown_code
        if not valid.all():
            row = int(np.argmin(valid))
            bad = float(codes[row])
            raise TransformerError(f"{bad!r} at row {row} is not a code of this {self.kind.value}", row=row)
        index = filled.astype(np.int64)
        index[(index == NULL_CODE) | (index == self._unknown_code)] = n
        return index

    def _category_of(self, code: Any) -> str | None:
        if code is None:
            return None
        if not self._fitted:
            raise self._not_fitted()
        try:
            i = operator.index(code)
        except TypeError:
            if not (isinstance(code, float) and code.is_integer()):
                raise TransformerError(f"{code!r} is not a code of this {self.kind.value}") from None
            i = int(code)
        if i == NULL_CODE or i == self._unknown_code:
            return None
        if 0 <= i < len(self._categories):
            return self._categories[i]
        raise TransformerError(f"{code!r} is not a code of this {self.kind.value}")


class LabelEncoder(_Encoder):
    """Category → its index in the sorted categories (int64); see the module docstring for
    unknown values and nulls."""

    kind: ClassVar[TransformerKind] = TransformerKind.LABEL_ENCODER

    def transform(self, values: Any) -> np.ndarray:
        return self._codes(values)

    def transform_one(self, value: Any) -> int:
        try:
            return self._index[value]
        except (KeyError, TypeError):
            return self._miss(value)

    def inverse_transform(self, values: Any) -> np.ndarray:
        """Codes → an object array of categories (``None`` for -1, the unknown code, nulls)."""
        if not self._fitted:
            raise self._not_fitted()
        return self._lookup[self._check_codes(to_float_array(values))]

    def inverse_transform_one(self, value: Any) -> str | None:
        return self._category_of(value)


class OneHotEncoder(_Encoder):
    """Category → a row of ``output_width`` floats with a single 1.0 (columns in category
    order, plus ``__unknown__`` last with ``handle_unknown="unknown"``); nulls and ignored
    unknowns are all-zero rows."""

    kind: ClassVar[TransformerKind] = TransformerKind.ONEHOT_ENCODER

    @property
    def output_width(self) -> int:
        if not self._fitted:
            raise self._not_fitted()
        return self._width

    def output_names(self, feature_name: str) -> list[str]:
        names = [f"{feature_name}__{c}" for c in self.categories]
        if self._policy == "unknown":
            names.append(f"{feature_name}__{UNKNOWN_NAME}")
        return names

    def transform(self, values: Any) -> np.ndarray:
        codes = self._codes(values)
        width = self.output_width
        out = np.zeros((len(codes), width), dtype=np.float64)
        rows = np.flatnonzero(codes >= 0)
        out.reshape(-1)[rows * width + codes[rows]] = 1.0
        return out

    def transform_one(self, value: Any) -> list[float]:
        try:
            code = self._index[value]
        except (KeyError, TypeError):
            code = self._miss(value)
        row = [0.0] * self._width
        if code >= 0:
            row[code] = 1.0
        return row

    def _matrix(self, values: Any) -> np.ndarray:
        width = self.output_width
        if isinstance(values, pa.Array | pa.ChunkedArray):
            values = values.to_pylist()
        if isinstance(values, list) and any(row is None for row in values):
            values = [[0.0] * width if row is None else row for row in values]
        try:
            x = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TransformerError(f"one-hot rows must be lists of {width} numbers: {exc}") from None
        if x.ndim == 1 and len(x) == 0:
            x = x.reshape(0, width)
        if x.ndim != 2 or x.shape[1] != width:
            raise TransformerError(f"one-hot rows must have {width} columns, got an array of shape {x.shape}")
        return x

    def inverse_transform(self, values: Any) -> np.ndarray:
        """Rows → an object array of categories (the column of the row's maximum; ``None``
        for all-zero rows and the unknown column)."""
        x = self._matrix(values)
        n = len(self._categories)
        best = x.argmax(axis=1) if x.shape[0] else np.zeros(0, dtype=np.int64)
        hot = x[np.arange(x.shape[0]), best] > 0
        return self._lookup[np.where(hot & (best < n), best, n)]

    def inverse_transform_one(self, value: Any) -> str | None:
        if value is None:
            return None
        width = self.output_width
        row = list(value)
        if len(row) != width:
            raise TransformerError(f"a one-hot row must have {width} values, got {len(row)}")
        top = max(row)
        if not top > 0:
            return None
        i = row.index(top)
        return self._categories[i] if i < len(self._categories) else None
