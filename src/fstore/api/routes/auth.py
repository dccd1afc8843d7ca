"""Logging in: tokens for a user name and password, refreshing them, and who am I."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, ConfigDict, Field

from fstore.api.deps import AuthDep, CurrentPrincipal
from fstore.auth import Role
from fstore.errors import AuthenticationError

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds the access token is valid for.")


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"refresh_token": "eyJ..."}]})

    refresh_token: str = Field(min_length=1)


class PrincipalOut(BaseModel):
    name: str
    role: Role
    kind: str = Field(description="user, api_key or dev (authentication disabled)")


@router.post("/token", response_model=TokenOut, summary="Log in: access and refresh tokens")
async def login(
    request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()], auth: AuthDep
) -> TokenOut:
    request.state.audit = True  # logins are audited like writes, failed ones too
    request.state.audit_actor = form.username
    address = request.client.host if request.client else ""
    auth.logins.check(form.username, address)
    try:
        principal = await auth.directory.authenticate(form.username, form.password)
    except AuthenticationError:
        auth.logins.failed(form.username, address)
        raise
    auth.logins.succeeded(form.username, address)
    request.state.principal = principal
    return TokenOut(**asdict(auth.tokens.issue(principal)))


@router.post("/refresh", response_model=TokenOut, summary="New tokens for a refresh token")
async def refresh(body: RefreshIn, auth: AuthDep) -> TokenOut:
    claims = auth.tokens.decode(body.refresh_token, "refresh")
    principal = await auth.directory.user_principal(str(claims["sub"]))
    return TokenOut(**asdict(auth.tokens.issue(principal)))


@router.get("/me", response_model=PrincipalOut, summary="Who the credentials belong to")
async def me(principal: CurrentPrincipal) -> PrincipalOut:
    return PrincipalOut(name=principal.name, role=principal.role, kind=principal.kind)
