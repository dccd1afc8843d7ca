"""RFC 9457 problem details (``application/problem+json``) for every error a user can cause."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from http import HTTPStatus
from typing import Any

import pydantic
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute

from fstore.backends.storage_errors import storage_error
from fstore.errors import AuthenticationError, FStoreError, TooManyRequestsError

PROBLEM_JSON = "application/problem+json"


def problem(
    status: int,
    title: str,
    detail: str,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {"type": type_, "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(jsonable_encoder(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _type_of(exc: Exception) -> str:
    return f"urn:fstore:error:{type(exc).__name__}"


async def fstore_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FStoreError)
    reserved = {"type", "title", "status", "detail"}
    details = {k: v for k, v in exc.details.items() if k not in reserved}
    # RFC 9110: a 401 names the scheme the client should use
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthenticationError) else None
    if isinstance(exc, TooManyRequestsError):
        headers = {"Retry-After": str(exc.details["retry_after"])}
    return problem(exc.http_status, exc.title, exc.message, _type_of(exc), headers, **details)


def _errors(errors: Any) -> list[dict[str, Any]]:
    return [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in errors
    ]


async def request_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _errors(exc.errors())
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"])
    given = exc.errors()[0].get("input") if errors else None
    got = f" (got {given!r})" if isinstance(given, (str, int, float)) and len(repr(given)) <= 80 else ""
    return problem(
        422,
        "Invalid request",
        f"{where}: {first['msg']}{got}",
        "urn:fstore:error:RequestValidationError",
        errors=errors,
    )


async def model_validation_error(request: Request, exc: Exception) -> JSONResponse:
    """A domain model refused the input (e.g. a feature definition that is inconsistent)."""
    assert isinstance(exc, pydantic.ValidationError)
    errors = _errors(exc.errors())
    first = errors[0] if errors else {"loc": [], "msg": "invalid input"}
    where = ".".join(str(p) for p in first["loc"])
    detail = f"{where}: {first['msg']}" if where else str(first["msg"])
    return problem(422, "Invalid input", detail, "urn:fstore:error:ValidationError", errors=errors)


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every API route, also those of included routers (FastAPI >= 0.16x keeps an included
    router as one entry; its routes carry their full paths, as ours are included without a
    further prefix)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from api_routes(inner.routes)


def allowed_methods(request: Request) -> list[str]:
    """The methods of the most specific routes matching the path: ``/versions/fit`` is the
    fit route (POST), not a version called "fit" (GET)."""
    matches = []
    for route in api_routes(request.app.router.routes):
        if route.path_regex.match(request.url.path):
            matches.append((len(route.param_convertors), route.methods or set()))
    if not matches:
        return []
    fewest = min(n for n, _ in matches)
    return sorted({m for n, methods in matches if n == fewest for m in methods})


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """Routing errors (unknown path 404, wrong method 405) in the same problem format."""
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    title = HTTPStatus(exc.status_code).phrase
    return problem(exc.status_code, title, str(exc.detail), headers=headers or None)


async def storage_failure(request: Request, exc: Exception) -> JSONResponse:
    """A full or read-only disk met outside the stores' calls (which already raise typed
    errors) is still its typed answer (507/503); anything else stays a 500."""
    typed = storage_error(exc, "server")
    if typed is None:
        raise exc
    return await fstore_error(request, typed)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(FStoreError, fstore_error)
    app.add_exception_handler(RequestValidationError, request_validation_error)
    app.add_exception_handler(pydantic.ValidationError, model_validation_error)
    app.add_exception_handler(OSError, storage_failure)
