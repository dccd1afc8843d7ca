"""Checks of list arguments shared by the SDK and the HTTP client (no heavy imports)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from numbers import Integral
from typing import Any

from fstore.errors import ValidationError


def listed(items: Any, what: str) -> list[Any]:
    """``items`` as a list, where a list belongs: a string (or another single value) is
    refused with a ``ValidationError`` saying how to write it, never read as its characters."""
    if isinstance(items, (str, bytes, Integral)):
        raise ValidationError(f"{what} are a list: write [{items!r}], not {items!r}")
    if not isinstance(items, Iterable) or isinstance(items, Mapping):
        raise ValidationError(f"{what} are a list, got {items!r}")
    return list(items)


def feature_names(features: Any) -> list[str]:
    """The features of a read: a non-empty list of names (a lone name is refused)."""
    names = listed(features, "feature names")
    if not names:
        raise ValidationError("name at least one feature")
    bad = [n for n in names if not isinstance(n, str)]
    if bad:
        raise ValidationError(f"feature names are strings, got {bad[0]!r}")
    return names
