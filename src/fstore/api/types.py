"""Request field types that accept exactly what the OpenAPI schema says.

Pydantic's lax mode would take ``0`` for a timestamp (seconds since 1970) or for ``false``;
the schema promises an ISO 8601 string and a JSON boolean, and clients that send anything
else have a bug worth a 422.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    WithJsonSchema,
)
from starlette.convertors import Convertor, register_url_convertor

from fstore.semver import SEMVER_PATTERN

SEMVER = f"^{SEMVER_PATTERN}$"
# What the API takes for a timestamp: an ISO 8601 string, so it starts with the date.
ISO_DATE = r"^\d{4}-\d{2}-\d{2}"
_ISO_DATE = re.compile(ISO_DATE)


def _iso_only(value: Any) -> Any:
    if not isinstance(value, datetime) and not (isinstance(value, str) and _ISO_DATE.match(value)):
        raise ValueError("a timestamp is an ISO 8601 string, e.g. 2025-01-01T00:00:00Z")
    return value


Timestamp = Annotated[datetime, BeforeValidator(_iso_only), Field(examples=["2025-01-01T00:00:00Z"])]
# For bulk rows, the same rule checked by pydantic-core's regex (no Python call per row); the
# text goes to the store, which parses it (and names the row if the date itself is impossible).
TimestampText = Annotated[
    str,
    StringConstraints(pattern=ISO_DATE),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": ["2025-01-01T00:00:00Z"]}),
]
Flag = StrictBool
# An entity id: a non-empty string without NUL (PostgreSQL text cannot hold one), or an
# integer (stored as its decimal text); never a boolean.
EntityIdText = Annotated[StrictStr, StringConstraints(min_length=1, pattern=r"^[^\x00]+$")]
EntityId = EntityIdText | StrictInt
# A name (entity, feature, group, join key): the rule of ``fstore.models.check_name``.
NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
Name = Annotated[str, StringConstraints(pattern=NAME), Field(examples=["customer"])]
Semver = Annotated[str, StringConstraints(pattern=SEMVER), Field(examples=["1.0.0"])]
# A raw feature value: a number, a string or null; which one a feature takes (and whether
# null) is the feature's definition, checked by the store (422 naming the row).
Value = Annotated[
    StrictInt | StrictFloat | StrictStr | None,
    WithJsonSchema(
        {
            "anyOf": [{"type": "number"}, {"type": "string", "pattern": "^[^\\x00]*$"}, {"type": "null"}],
            "description": "A number (an int feature's integers fit in 64 bits), a string without NUL "
            "(categorical features), or null (features that allow nulls).",
            "examples": [42],
        }
    ),
]


class SemverConvertor(Convertor[str]):
    """``{version:semver}`` in a route path: ``/versions/fit`` is then no version, so a GET
    there is 405 (the fit route takes POST), not a 422 about a bad version."""

    regex = SEMVER_PATTERN

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("semver", SemverConvertor())
