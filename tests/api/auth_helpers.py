"""An API with authentication on, and credentials for each kind of caller."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI
from pydantic import SecretStr

from fstore import FeatureStore
from fstore.api import create_app
from fstore.auth import Role, TokenIssuer
from fstore.errors import AlreadyExistsError

PASSWORD = "correct horse battery"


@dataclass
class Secured:
    client: httpx.AsyncClient
    app: FastAPI
    secret: str
    tokens: dict[str, str]  # "viewer" | "editor" | "admin" -> access token

    def as_(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@asynccontextmanager
async def secured_api(store: FeatureStore, **settings: object) -> AsyncIterator[Secured]:
    """The API over ``store`` with a real secret and one user per role (name = role)."""
    secret = secrets.token_urlsafe(48)
    config = store.settings.model_copy(update={"secret_key": SecretStr(secret), **settings})
    app = create_app(store, config)
    directory = app.state.auth.directory
    tokens = {}
    for role in Role:
        with contextlib.suppress(AlreadyExistsError):  # a second app over the same store
            await directory.create_user(role.value, PASSWORD, role)
        tokens[role.value] = (await app.state.auth.issue(role.value)).access_token
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield Secured(client, app, secret, tokens)


def expired_token(secret: str, name: str = "admin") -> str:
    issuer = TokenIssuer(secret, access_seconds=-60, refresh_seconds=60)
    return issuer.issue(name, Role.ADMIN, 0, "no-session")[0].access_token


def forged_token(name: str = "admin") -> str:
    """Well formed and unexpired, but signed with another key."""
    issuer = TokenIssuer(secrets.token_urlsafe(48), access_seconds=600, refresh_seconds=600)
    return issuer.issue(name, Role.ADMIN, 0, "no-session")[0].access_token
