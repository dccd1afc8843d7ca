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
EntityId = StrictStr | StrictInt  # an id of the entity's value type; never a boolean


class SemverConvertor(Convertor[str]):
    """``{version:semver}`` in a route path: ``/versions/fit`` is then no version, so a GET
    there is 405 (the fit route takes POST), not a 422 about a bad version."""

    regex = SEMVER_PATTERN

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("semver", SemverConvertor())
