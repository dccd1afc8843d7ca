"""A JSON response serialised by orjson, for the hot routes.

A route that returns a ``Response`` skips FastAPI's response handling (``jsonable_encoder``,
or validating the value against the return type and dumping it through Pydantic): for a
feature vector that handling cost more than reading the values. The route still declares
``response_model`` so the OpenAPI schema describes the body; only the runtime pass is skipped,
so the route must build exactly that shape itself.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse

from fstore.backends.online.encoding import ORJSON_OPTIONS, to_plain

_OPTIONS = ORJSON_OPTIONS | orjson.OPT_UTC_Z


class FastJSONResponse(JSONResponse):
    """``application/json`` by orjson: numpy values become plain numbers, datetimes ISO 8601
    strings (``Z`` for UTC), NaN and infinities ``null`` (as Pydantic writes them). A
    ``JSONResponse`` so that OpenAPI documents the route's ``response_model`` for it."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=to_plain, option=_OPTIONS)
