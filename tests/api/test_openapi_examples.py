"""Every operation in the OpenAPI schema shows an example of each parameter, of its request
body and of its success response; the model examples are valid instances of their models."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fstore.api.examples import MODEL_EXAMPLES


def _has_example(schema: dict[str, Any] | None, components: dict[str, Any]) -> bool:
    if not schema:
        return False
    if schema.get("examples") or schema.get("example") is not None:
        return True
    if "$ref" in schema:
        return _has_example(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    if schema.get("type") == "array":
        return _has_example(schema.get("items"), components)
    return any(_has_example(s, components) for s in schema.get("anyOf", []) if s.get("type") != "null")


def _media_has_example(media: dict[str, Any], components: dict[str, Any]) -> bool:
    return bool(media.get("example") is not None or media.get("examples")) or _has_example(
        media.get("schema"), components
    )


async def test_every_operation_has_examples(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    components = spec["components"]["schemas"]
    missing = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            where = f"{method.upper()} {path}"
            missing += [
                f"{where} parameter {p['name']}" for p in op.get("parameters", []) if "example" not in p
            ]
            for media_type, media in op.get("requestBody", {}).get("content", {}).items():
                if not _media_has_example(media, components):
                    missing.append(f"{where} request body ({media_type})")
            for code, response in op["responses"].items():
                media = response.get("content", {}).get("application/json")
                if code.startswith("2") and media is not None and not _media_has_example(media, components):
                    missing.append(f"{where} {code} response")
    assert missing == []


@pytest.mark.parametrize("model", list(MODEL_EXAMPLES), ids=lambda m: m.__name__)
def test_model_examples_are_valid(model: Any) -> None:
    model.model_validate(MODEL_EXAMPLES[model])
