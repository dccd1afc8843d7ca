"""Users and service API keys (admin only)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field

from fstore.api.deps import AuthDep, CurrentPrincipal
from fstore.api.types import Flag
from fstore.auth import ApiKey, Role, User
from fstore.auth.directory import UserName
from fstore.auth.passwords import MIN_PASSWORD_LENGTH

router = APIRouter(prefix="/api/v1/users", tags=["users"])
keys_router = APIRouter(prefix="/api/v1/api-keys", tags=["users"])

PASSWORD_LIMITS: dict[str, int] = {"min_length": MIN_PASSWORD_LENGTH, "max_length": 1024}


class UserIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "ana", "password": "a long passphrase", "role": "editor"}]},
    )

    name: UserName
    password: str = Field(**PASSWORD_LIMITS)
    role: Role = Role.VIEWER


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"role": "admin"}]})

    role: Role | None = None
    password: str | None = Field(default=None, **PASSWORD_LIMITS)
    disabled: Flag | None = None


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "ranking-service", "role": "viewer"}]}
    )

    name: UserName
    role: Role = Role.VIEWER


class NewApiKey(ApiKey):
    key: str = Field(description="The key itself: shown only in this response.")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=User, summary="Create a user")
async def create_user(body: UserIn, auth: AuthDep) -> User:
    return await auth.directory.create_user(body.name, body.password, body.role)


@router.get("", response_model=list[User], summary="List users")
async def list_users(auth: AuthDep) -> list[User]:
    return await auth.directory.list_users()


@router.get("/{name}", response_model=User, summary="One user")
async def get_user(name: str, auth: AuthDep) -> User:
    return await auth.directory.get_user(name)


@router.patch("/{name}", response_model=User, summary="Change a user's role, password or status")
async def update_user(name: str, body: UserPatch, auth: AuthDep) -> User:
    return await auth.directory.update_user(
        name, role=body.role, password=body.password, disabled=body.disabled
    )


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a user")
async def delete_user(name: str, auth: AuthDep) -> Response:
    await auth.directory.delete_user(name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@keys_router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=NewApiKey, summary="Create a service API key"
)
async def create_api_key(body: ApiKeyIn, auth: AuthDep, principal: CurrentPrincipal) -> NewApiKey:
    record, key = await auth.directory.create_api_key(body.name, body.role, owner=principal.name)
    return NewApiKey(**record.model_dump(), key=key)


@keys_router.get("", response_model=list[ApiKey], summary="List API keys (without the keys)")
async def list_api_keys(auth: AuthDep) -> list[ApiKey]:
    return await auth.directory.list_api_keys()


@keys_router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke an API key")
async def revoke_api_key(key_id: str, auth: AuthDep) -> Response:
    await auth.directory.revoke_api_key(key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
