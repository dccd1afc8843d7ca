"""``Client``: the blocking HTTP client (one keep-alive connection pool)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Self, TypeVar

import httpx

from fstore.client.admin import AdminOperations
from fstore.client.data import DataOperations
from fstore.client.http import DEFAULT_TIMEOUT, HEADERS, Steps, operation, unreachable
from fstore.client.registry import RegistryOperations

T = TypeVar("T")


class Client(RegistryOperations, DataOperations, AdminOperations):
    """FStore over HTTP, blocking: the methods of ``SyncFeatureStore`` that make sense over the
    REST API, returning the same models, and for admins those of ``fstore.auth.Directory``
    (users, API keys) and the audit log. ``token`` (default: ``FSTORE_TOKEN``) is a JWT access
    token or an API key; ``Client.login`` gets tokens for a user name and password."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(url, token)
        self._http = httpx.Client(base_url=self.url, timeout=timeout, headers=HEADERS)

    @classmethod
    def login(cls, url: str, username: str, password: str, *, timeout: float = DEFAULT_TIMEOUT) -> Self:
        """A client logged in as ``username`` (refreshes its token by itself)."""
        client = cls(url, timeout=timeout)
        try:
            client.authenticate(username, password)
        except BaseException:
            client.close()
            raise
        return client

    def _run(self, steps: Steps[T]) -> T:
        try:
            call = next(steps)
            while True:
                request = self._request(self._http, call)
                try:
                    response = self._http.send(request)
                except httpx.TransportError as exc:
                    raise unreachable(self.url, exc) from None
                call = steps.send(response)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def _bind(self, op: operation[..., Any]) -> Callable[..., Any]:
        steps = op.steps

        @functools.wraps(steps)
        def call(*args: Any, **kwargs: Any) -> Any:
            return self._run(steps(self, *args, **kwargs))

        call.__signature__ = op.signature  # type: ignore[attr-defined]
        return call

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
