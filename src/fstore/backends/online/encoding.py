"""How online stores serialise records: orjson, with numpy and Arrow values made plain.
NaN and infinities become ``null`` (JSON has neither)."""

from __future__ import annotations

from typing import Any

import orjson


def to_plain(obj: Any) -> Any:
    """orjson fallback for what ``OPT_SERIALIZE_NUMPY`` does not cover."""
    item = getattr(obj, "item", None)  # numpy scalars of odd dtypes
    if item is not None and getattr(obj, "shape", None) == ():
        return item()
    tolist = getattr(obj, "tolist", None)  # arrays that are not C-contiguous, Arrow arrays
    if tolist is not None:
        return tolist()
    raise TypeError(f"cannot store a value of type {type(obj).__name__} online")


ORJSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY
