"""``AsyncClient``: the async HTTP client (one keep-alive connection pool per event loop)."""

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


class AsyncClient(RegistryOperations, DataOperations, AdminOperations):
    """FStore over HTTP, async: the methods of ``FeatureStore`` that make sense over the REST
    API, returning the same models, and for admins those of ``fstore.auth.Directory`` (users,
    API keys) and the audit log (the CLI runs its commands on it with ``--url``).
    ``token`` (default: ``FSTORE_TOKEN``) is a JWT access token or an API key;
    ``AsyncClient.login`` gets tokens for a user name and password."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(url, token)
        self._http = httpx.AsyncClient(base_url=self.url, timeout=timeout, headers=HEADERS)

    @classmethod
    async def login(
        cls,
        url: str,
        username: str,
        password: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109  (the HTTP timeout of the client returned)
    ) -> Self:
        """A client logged in as ``username`` (refreshes its token by itself)."""
        client = cls(url, timeout=timeout)
        try:
            await client.authenticate(username, password)
        except BaseException:
            await client.close()
            raise
        return client

    async def _run(self, steps: Steps[T]) -> T:
        try:
            call = next(steps)
            while True:
                request = self._request(self._http, call)
                try:
                    response = await self._http.send(request)
                except httpx.TransportError as exc:
                    raise unreachable(self.url, exc) from None
                call = steps.send(response)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def _bind(self, op: operation[..., Any]) -> Callable[..., Any]:
        steps = op.steps

        @functools.wraps(steps)
        async def call(*args: Any, **kwargs: Any) -> Any:
            return await self._run(steps(self, *args, **kwargs))

        call.__signature__ = op.signature  # type: ignore[attr-defined]
        return call

    async def open(self) -> Self:
        """Nothing to open (connections are made on demand); mirrors ``FeatureStore.open``."""
        return self

    async def close(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
