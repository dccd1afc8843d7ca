"""The records of users and service API keys, as the directory, the API and the client show
them. Light on purpose (pydantic only): the HTTP client returns them without needing the
server's password hashing or token libraries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from fstore.auth.roles import Role

UserName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")]


class User(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: UserName
    role: Role
    disabled: bool = False
    created_at: datetime
    updated_at: datetime


class ApiKey(BaseModel):
    """A service key; the secret itself is shown once, at creation, and stored only hashed."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: UserName
    role: Role
    owner: str | None = None
    created_at: datetime
