"""The OpenAPI schema as the API really behaves: every error is ``application/problem+json``
(the ``Problem`` schema, under each operation's ``default`` response and its 422), each
protected operation names its bearer schemes and the role it needs (``x-required-role``),
and Swagger UI gets an "Authorize" button."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from fstore.api.errors import PROBLEM_JSON
from fstore.api.examples import MODEL_EXAMPLES, REQUEST_EXAMPLES, RESPONSE_EXAMPLES, parameter_example
from fstore.api.security import required_role

PROBLEM_SCHEMA = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details; extra members name the offending field or row.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
    "required": ["type", "title", "status", "detail"],
}
SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "A JWT access token (POST /api/v1/auth/token) or an fsk_ API key.",
    },
    "password": {"type": "oauth2", "flows": {"password": {"tokenUrl": "/api/v1/auth/token", "scopes": {}}}},
}


def _problem(description: str) -> dict[str, Any]:
    content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {"description": description, "content": content}


def _add_examples(operation: dict[str, Any], method: str, path: str) -> None:
    for parameter in operation.get("parameters", []):
        example = parameter_example(path, parameter["name"])
        if example is not None and "example" not in parameter:
            parameter["example"] = example
    form = REQUEST_EXAMPLES.get((method.upper(), path))
    if form is not None:
        for media in operation.get("requestBody", {}).get("content", {}).values():
            media["example"] = form
    example = RESPONSE_EXAMPLES.get((method.upper(), path))
    if example is not None:
        for code, response in operation.get("responses", {}).items():
            if code.startswith("2") and "application/json" in response.get("content", {}):
                response["content"]["application/json"]["example"] = example


def _document(operation: dict[str, Any], method: str, path: str) -> None:
    _add_examples(operation, method, path)
    responses = operation.setdefault("responses", {})
    responses["default"] = _problem("An error: 400, 404, 409, 413, 503 …")
    if "422" in responses:
        responses["422"] = _problem("Invalid request or value (names the field or row)")
    role = required_role(method.upper(), path)
    if role is None:
        return
    operation["security"] = [{"bearer": []}, {"password": []}]
    operation["x-required-role"] = role.value
    responses["401"] = _problem("Missing, expired or invalid credentials")
    responses["403"] = _problem(f"Needs the {role.value} role")


def document_api(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas["Problem"] = PROBLEM_SCHEMA
        for model, example in MODEL_EXAMPLES.items():
            if model.__name__ in schemas:
                schemas[model.__name__].setdefault("examples", [example])
        for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 body, replaced
            schemas.pop(unused, None)
        components["securitySchemes"] = SECURITY_SCHEMES
        for path, operations in schema.get("paths", {}).items():
            for method, operation in operations.items():
                _document(operation, method, path)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
