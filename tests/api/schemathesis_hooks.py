"""A schemathesis check (loaded through ``SCHEMATHESIS_HOOKS``): a request the OpenAPI schema
allows must not be refused as malformed.

It is the built-in ``positive_data_acceptance`` with documented exceptions, each a rule that
a JSON Schema cannot state because it relates a field to another field or to stored data:

* a *value* that does not fit the stored feature (``InvalidValueError`` / ``TypeMismatchError``:
  a string for a numerical feature, null where the feature allows none, an integer beyond 64
  bits for an ``int`` feature) — one route serves every feature;
* a definition whose fields contradict each other or the stored feature (``DefinitionError``:
  a dtype of the other type, a feature depending on itself);
* a transform asked of a version with no fitted transformer (``NotFittedError``).

Form bodies with a null field are not judged: form encoding has no null, so schemathesis
sends the text "null". ``POST /api/v1/auth/token`` is not judged yet: FastAPI's OAuth2 form
reads an empty ``username``/``password`` as missing while its schema allows "" (the auth
routes are being reworked; their form should declare ``minLength: 1``). Any other 400/422
on schema-valid data is a failure.
"""

from __future__ import annotations

from typing import Any

import schemathesis

ACCEPTED = range(200, 400)
# Statuses that are about the state of the store or the caller, not about the request's shape.
STATE = {401, 403, 404, 409, 429}
NOT_IN_A_SCHEMA = {
    f"urn:fstore:error:{name}"
    for name in ("InvalidValueError", "TypeMismatchError", "DefinitionError", "NotFittedError")
}
FORM = "application/x-www-form-urlencoded"


@schemathesis.check
def schema_valid_requests_are_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    if case.media_type == FORM and isinstance(case.body, dict) and None in case.body.values():
        return None
    status = response.status_code
    if status in ACCEPTED or status in STATE or status >= 500:  # 5xx: not_a_server_error's job
        return None
    if status == 422:
        try:
            kind = response.json().get("type")
        except ValueError:
            kind = None
        if kind in NOT_IN_A_SCHEMA:
            return None
    raise AssertionError(f"Schema-valid request rejected with {status}: {response.text[:500]}")
