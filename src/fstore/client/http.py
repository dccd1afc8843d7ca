"""What the blocking and the async client share: request descriptions, the bearer session,
JSON encoding, and turning problem+json answers back into FStore errors.

Each API operation is written once, as a generator method that yields ``Call``s and is sent
back the ``httpx.Response`` to each (see ``registry.py``, ``data.py`` and ``admin.py``). The ``operation``
decorator makes it a method that ``Client`` runs to completion over a blocking
``httpx.Client`` and ``AsyncClient`` runs as a coroutine over an ``httpx.AsyncClient``, so no
operation is written twice and both clients behave the same.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Coroutine, Generator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload
from urllib.parse import quote

import httpx
import orjson

from fstore import __version__, errors
from fstore.errors import (
    AuthenticationError,
    ConfigurationError,
    FStoreError,
    StoreUnavailableError,
    ValidationError,
)

if TYPE_CHECKING:
    from fstore.client.aio import AsyncClient
    from fstore.client.sync import Client

T = TypeVar("T")
P = ParamSpec("P")

API = "/api/v1"
PROBLEM_JSON = "application/problem+json"
DEFAULT_TIMEOUT = 30.0
HEADERS = {"user-agent": f"fstore-client/{__version__}"}


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP request to make: a path under the server's URL and what to send."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None  # None: no body
    form: Mapping[str, Any] | None = None
    files: Mapping[str, Any] | None = None
    authenticated: bool = True  # send the bearer credential
    answers: frozenset[int] = field(default_factory=frozenset)  # error statuses that are answers


Steps = Generator[Call, httpx.Response, T]


def path(*parts: str | int) -> str:
    """``/api/v1/a/b``, each part escaped (entity ids may hold any character)."""
    return API + "".join("/" + quote(str(p), safe="") for p in parts)


# -- encoding -------------------------------------------------------------------------------------


def _default(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if type(value).__name__ == "NaTType":  # pandas' missing time
        return None
    if isinstance(value, (datetime, date)) or hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy and pyarrow scalars and arrays
        return value.tolist()
    if hasattr(value, "as_py"):
        return value.as_py()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot send a {type(value).__name__} as JSON")


def encode_json(value: Any) -> bytes:
    """JSON for a request body: datetimes as ISO-8601 (naive ones are UTC), numpy values as
    numbers, NaN as null (a missing value), models dumped."""
    try:
        return orjson.dumps(value, default=_default, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NAIVE_UTC)
    except TypeError as exc:
        raise ValidationError(f"cannot send the request: {exc}") from None


def query(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Query parameters without the ``None`` ones; datetimes as ISO-8601."""
    if not params:
        return None
    out: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, (datetime, date)):
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out


# -- errors ---------------------------------------------------------------------------------------

_ERRORS: dict[str, type[FStoreError]] = {
    name: obj for name, obj in vars(errors).items() if isinstance(obj, type) and issubclass(obj, FStoreError)
}
_BY_STATUS: dict[int, type[FStoreError]] = {
    400: errors.ValidationError,
    401: errors.AuthenticationError,
    403: errors.PermissionDeniedError,
    404: errors.NotFoundError,
    409: errors.AlreadyExistsError,
    413: errors.RequestTooLargeError,
    422: errors.ValidationError,
    502: errors.StoreUnavailableError,
    503: errors.StoreUnavailableError,
    504: errors.StoreUnavailableError,
    507: errors.StorageFullError,
}
_RESERVED = {"type", "title", "status", "detail"}


def error_for(response: httpx.Response, url: str) -> FStoreError:
    """The ``FStoreError`` an error answer stands for: the class named by the problem's type
    (``urn:fstore:error:<ClassName>``), else the one for its status; the problem's extra
    members (``row``, ``field``, ``feature``…) become the error's details."""
    status = response.status_code
    body: Any = None
    if response.headers.get("content-type", "").startswith((PROBLEM_JSON, "application/json")):
        try:
            body = response.json()
        except ValueError:
            body = None
    if isinstance(body, dict) and "detail" in body:
        name = str(body.get("type", "")).rpartition(":")[2]
        cls = _ERRORS.get(name) or _BY_STATUS.get(status, FStoreError)
        detail = body["detail"]
        message = detail if isinstance(detail, str) else orjson.dumps(detail).decode()
        details = {k: v for k, v in body.items() if k not in _RESERVED and v is not None}
    else:
        cls = _BY_STATUS.get(status, FStoreError)
        text = " ".join(response.text.split())[:200]
        message = f"HTTP {status} {response.reason_phrase} from {url}" + (f": {text}" if text else "")
        details = {}
    if cls is StoreUnavailableError:
        details.setdefault("store", url)
    error = cls(message)
    error.details = details
    return error


def unreachable(url: str, exc: httpx.TransportError) -> StoreUnavailableError:
    if isinstance(exc, httpx.TimeoutException):
        message = f"the FStore server at {url} did not answer in time ({type(exc).__name__})"
    else:
        message = f"cannot reach the FStore server at {url}: {exc or type(exc).__name__}"
    return StoreUnavailableError(message, store=url)


# -- the session and the exchange -----------------------------------------------------------------


class Session:
    """The bearer credential: an access token (JWT) or an API key, and the refresh token a
    login returned."""

    def __init__(self, token: str | None) -> None:
        self.access_token = token or None
        self.refresh_token: str | None = None

    def update(self, tokens: Mapping[str, Any]) -> None:
        self.access_token = str(tokens["access_token"])
        self.refresh_token = tokens.get("refresh_token") or self.refresh_token


def base_url(url: str) -> str:
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"the FStore server URL must start with http:// or https://, got {url!r}")
    return url


class Exchange:
    """The state and the request/response steps both clients share; subclasses say how a
    generator of steps runs (``_bind``)."""

    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = base_url(url)
        self._session = Session(token if token is not None else os.environ.get("FSTORE_TOKEN"))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    @property
    def token(self) -> str | None:
        """The bearer credential sent: an access token (after ``login``, the current one) or
        an API key."""
        return self._session.access_token

    @token.setter
    def token(self, value: str | None) -> None:
        self._session.access_token = value or None

    def _bind(self, op: operation[..., Any]) -> Callable[..., Any]:
        """``op`` as a method of this client."""
        raise NotImplementedError

    def _request(self, http: httpx.Client | httpx.AsyncClient, call: Call) -> httpx.Request:
        headers = {"accept": f"application/json, {PROBLEM_JSON}"}
        if call.authenticated and self._session.access_token:
            headers["authorization"] = f"Bearer {self._session.access_token}"
        content = None
        if call.json is not None:
            content = encode_json(call.json)
            headers["content-type"] = "application/json"
        return http.build_request(
            call.method,
            call.path,
            params=query(call.params),
            content=content,
            data=call.form,
            files=call.files,
            headers=headers,
        )

    def _exchange(self, call: Call) -> Steps[httpx.Response]:
        """Make the call; on a 401, refresh the session once (if it can) and make it again; an
        error answer raises the ``FStoreError`` it stands for."""
        sent_with = self._session.access_token
        response = yield call
        if response.status_code == 401 and call.authenticated and self._session.refresh_token:
            if self._session.access_token == sent_with:  # not already refreshed by a concurrent call
                yield from self._refresh_steps()
            response = yield call
        if response.is_error and response.status_code not in call.answers:
            raise error_for(response, self.url)
        return response

    def _json(self, method: str, path: str, **options: Any) -> Steps[Any]:
        response = yield from self._exchange(Call(method, path, **options))
        return response.json() if response.content else None

    def _refresh_steps(self) -> Steps[None]:
        body = {"refresh_token": self._session.refresh_token}
        try:
            tokens = yield from self._json("POST", path("auth", "refresh"), json=body, authenticated=False)
        except AuthenticationError:
            self._session.refresh_token = None  # dead: the next 401 is final
            raise
        self._session.update(tokens)


class operation(Generic[P, T]):
    """Turns a generator method of steps into an API method: on ``Client`` it returns the
    result, on ``AsyncClient`` a coroutine of it."""

    def __init__(self, steps: Callable[Concatenate[Any, P], Steps[T]]) -> None:
        self.steps = steps
        functools.update_wrapper(self, steps)
        # What help() and IDEs show for the bound method: no self, the result rather than the steps.
        signature = inspect.signature(steps)
        result = signature.return_annotation
        if isinstance(result, str) and result.startswith("Steps[") and result.endswith("]"):
            result = result[len("Steps[") : -1]
        self.signature = signature.replace(
            parameters=list(signature.parameters.values())[1:], return_annotation=result
        )

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> operation[P, T]: ...
    @overload
    def __get__(self, obj: Client, owner: type | None = None) -> Callable[P, T]: ...
    @overload
    def __get__(self, obj: AsyncClient, owner: type | None = None) -> Callable[P, Coroutine[Any, Any, T]]: ...
    @overload
    def __get__(self, obj: Exchange, owner: type | None = None) -> Callable[P, Any]: ...

    def __get__(self, obj: Exchange | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        bound = obj._bind(self)
        obj.__dict__[self.name] = bound  # later lookups skip the descriptor
        return bound
