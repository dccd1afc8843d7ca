"""Shared option types and choices. Plain enums only: nothing heavy is imported here."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from fstore.enums import FeatureType, TransformerKind, ValueType

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]


# The model enums double as CLI choices (fstore.enums imports nothing heavy).
FeatureTypeChoice = FeatureType
DtypeChoice = ValueType
TransformerChoice = TransformerKind
TransformerOrNoneChoice = StrEnum(  # type: ignore[misc]
    "TransformerOrNoneChoice", {**{k.name: k.value for k in TransformerKind}, "NONE": "none"}
)


class EntityTypeChoice(StrEnum):
    STRING = ValueType.STRING.value
    INT = ValueType.INT.value


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
