"""Logging in and out: tokens for a user name and password, refreshing them (each refresh
token works once), ending the session, and who am I."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Form, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from fstore.api.deps import AuthDep, CurrentPrincipal
from fstore.auth import Role
from fstore.errors import AuthenticationError

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginForm:
    """The OAuth2 password form (what Swagger UI's Authorize button sends), with the
    non-empty user name and password the schema promises."""

    def __init__(
        self,
        username: Annotated[str, Form(min_length=1, max_length=256)],
        password: Annotated[str, Form(min_length=1, max_length=1024)],
        grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
        scope: Annotated[str, Form()] = "",
        client_id: Annotated[str | None, Form()] = None,
        client_secret: Annotated[str | None, Form()] = None,
    ) -> None:
        self.username = username
        self.password = password
        self.scopes = scope.split()


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds the access token is valid for.")


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"refresh_token": "eyJ..."}]})

    refresh_token: str = Field(min_length=1)


class LogoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"refresh_token": "eyJ..."}]})

    refresh_token: str | None = Field(
        default=None,
        min_length=1,
        description="The session's refresh token; without it, the bearer access token's.",
    )


class PrincipalOut(BaseModel):
    name: str
    role: Role
    kind: str = Field(description="user, api_key or dev (authentication disabled)")


@router.post("/token", response_model=TokenOut, summary="Log in: access and refresh tokens")
async def login(request: Request, form: Annotated[LoginForm, Depends()], auth: AuthDep) -> TokenOut:
    """Starts a session. Wrong passwords are throttled (429 with ``Retry-After``) per user
    name and address, per address, and per user name."""
    request.state.audit = True  # logins are audited like writes, failed ones too
    request.state.audit_actor = form.username
    address = auth.client_address(request)
    await auth.logins.check(form.username, address)
    try:
        principal = await auth.directory.authenticate(form.username, form.password)
    except AuthenticationError:
        await auth.logins.failed(form.username, address)
        raise
    await auth.logins.succeeded(form.username, address)
    request.state.principal = principal
    return TokenOut(**asdict(await auth.issue(principal.name)))


@router.post("/refresh", response_model=TokenOut, summary="New tokens for a refresh token")
async def refresh(body: RefreshIn, auth: AuthDep) -> TokenOut:
    """Spends the refresh token and returns a new pair of the same session. A refresh token
    works once: presenting a spent one again ends its whole session (401)."""
    claims = auth.tokens.decode(body.refresh_token, "refresh")
    principal, epoch, family = await auth.directory.spend_refresh(claims)
    return TokenOut(**asdict(auth.tokens.issue(principal.name, principal.role, epoch, family)[0]))


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Log out: end the session",
    responses={401: {"description": "Neither a valid refresh token nor a valid access token."}},
)
async def logout(
    request: Request, auth: AuthDep, body: Annotated[LogoutIn | None, Body()] = None
) -> Response:
    """Ends the session of the refresh token in the body (or, without one, of the bearer
    access token): its refresh and access tokens stop working at once."""
    request.state.audit = True
    if body is not None and body.refresh_token:
        claims = auth.tokens.decode(body.refresh_token, "refresh")
        name, family = str(claims["sub"]), str(claims["fam"])
    else:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError(
                "send the refresh token, or the access token as a bearer token", reason="missing"
            )
        access = auth.tokens.access(token.strip())
        name, family = access.name, access.family
    request.state.audit_actor = name
    await auth.directory.end_session(family)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=PrincipalOut, summary="Who the credentials belong to")
async def me(principal: CurrentPrincipal) -> PrincipalOut:
    return PrincipalOut(name=principal.name, role=principal.role, kind=principal.kind)
