"""Shared option types and choices. Plain enums only: nothing heavy is imported here."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]


class FeatureTypeChoice(StrEnum):
    NUMERICAL = "numerical"
    CATEGORICAL = "categorical"


class DtypeChoice(StrEnum):
    FLOAT = "float"
    INT = "int"
    STRING = "string"


class EntityTypeChoice(StrEnum):
    STRING = "string"
    INT = "int"


class TransformerChoice(StrEnum):
    STANDARD_SCALER = "standard_scaler"
    MINMAX_SCALER = "minmax_scaler"
    LABEL_ENCODER = "label_encoder"
    ONEHOT_ENCODER = "onehot_encoder"


class TransformerOrNoneChoice(StrEnum):
    STANDARD_SCALER = "standard_scaler"
    MINMAX_SCALER = "minmax_scaler"
    LABEL_ENCODER = "label_encoder"
    ONEHOT_ENCODER = "onehot_encoder"
    NONE = "none"


class ObjectTypeChoice(StrEnum):
    FEATURE = "feature"
    GROUP = "group"
    ENTITY = "entity"


def parse_params(items: list[str] | None) -> dict[str, object]:
    """``key=value`` pairs; values are parsed as JSON when they can be (``[0,1]``, ``3``,
    ``true``), otherwise kept as strings."""
    import json

    from fstore.errors import ValidationError

    params: dict[str, object] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValidationError(f"--param takes key=value, got {item!r}")
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return params
