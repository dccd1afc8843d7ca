"""Turn any 1-D array-like into the arrays the transformers compute on.

Accepted inputs: lists/tuples, numpy arrays (1-D, or 2-D with one column), pandas Series /
Index / ExtensionArrays and pyarrow Array / ChunkedArray. Nulls are ``None``, ``NaN``,
``pd.NA`` or Arrow nulls. pandas is never imported here: an object can only be a pandas
object when pandas is already loaded.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pyarrow as pa

from fstore.errors import TransformerError

_ARROW_NUMERIC = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean, pa.types.is_decimal)
_ARROW_STRING = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view)


def _is_pandas(values: Any) -> bool:
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(values, pd.Series | pd.Index | pd.api.extensions.ExtensionArray)


def _one_dimensional(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 1:
        return arr
    if arr.ndim == 2 and arr.shape[1] == 1:
        return arr.reshape(-1)
    raise TransformerError(f"expected a 1-D array of values, got an array of shape {arr.shape}")


def to_float_array(values: Any) -> np.ndarray:
    """A 1-D float64 numpy array; nulls become NaN. Strings and other non-numbers raise."""
    if isinstance(values, pa.ChunkedArray | pa.Array):
        if values.type == pa.null():
            return np.full(len(values), np.nan)
        if not any(check(values.type) for check in _ARROW_NUMERIC):
            raise TransformerError(f"a numeric transformer needs numbers, got Arrow {values.type} values")
        return values.cast(pa.float64()).to_numpy(zero_copy_only=False)
    if _is_pandas(values):
        try:
            arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise TransformerError(f"a numeric transformer needs numbers: {exc}") from None
        return _one_dimensional(arr)
    try:
        arr = np.asarray(values)
    except ValueError as exc:  # ragged input such as [[1], 2]
        raise TransformerError(f"a numeric transformer needs a flat list of numbers: {exc}") from None
    if arr.dtype.kind not in "biuf":
        if arr.dtype.kind != "O":
            raise TransformerError(f"a numeric transformer needs numbers, got an array of {arr.dtype}")
        try:  # numbers mixed with None: let Arrow infer the type (strings are rejected there)
            inferred = pa.array(_one_dimensional(arr), from_pandas=True)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise TransformerError(f"a numeric transformer needs numbers: {exc}") from None
        return to_float_array(inferred)
    elif arr.dtype != np.float64:
        arr = arr.astype(np.float64)
    return _one_dimensional(arr)


def to_string_array(values: Any) -> pa.Array:
    """A pyarrow ``string`` array; ``None``/``NaN``/``pd.NA`` become nulls. Non-strings raise."""
    try:
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if not isinstance(values, pa.Array):
            if isinstance(values, np.ndarray):
                values = _one_dimensional(values)
            elif not _is_pandas(values) and not isinstance(values, list | tuple):
                values = list(values)
            values = pa.array(values, from_pandas=True)
        if pa.types.is_dictionary(values.type):
            values = values.dictionary_decode()
    except TransformerError:
        raise
    except (pa.ArrowException, UnicodeError, TypeError, ValueError) as exc:
        raise TransformerError(f"categorical values must be strings: {exc}") from None
    if values.type == pa.string():
        return values
    if any(check(values.type) for check in _ARROW_STRING) or values.type == pa.null():
        return values.cast(pa.string())
    raise TransformerError(f"categorical values must be strings, got values of type {values.type}")


def is_null(value: Any) -> bool:
    """``None``, a float NaN, or a pandas missing value (``pd.NA``, ``NaT``)."""
    if value is None:
        return True
    if isinstance(value, float):
        return value != value
    pd = sys.modules.get("pandas")
    return pd is not None and (value is pd.NA or value is pd.NaT)
