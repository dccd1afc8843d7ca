"""Authentication and role checks for every route, from one policy table.

``authorize`` runs before each route (an app-wide dependency): it finds the role the route
needs (``required_role``), authenticates the bearer credential (a JWT access token or an
``fsk_`` API key), records the principal on ``request.state`` for the audit log and the
access log, and refuses with 401 / 403. ``fstore.api.openapi`` documents the roles.
"""

from __future__ import annotations

import functools
import ipaddress
import logging

from fastapi import Request
from fastapi.routing import APIRoute

from fstore.api.audit_trail import record_intent
from fstore.auth import Directory, Principal, Role, TokenIssuer
from fstore.auth.directory import API_KEY_PREFIX
from fstore.auth.throttle import LoginThrottle
from fstore.auth.tokens import TokenPair, check_secret, throwaway_secret
from fstore.config import Settings
from fstore.errors import AuthenticationError, ConfigurationError, PermissionDeniedError
from fstore.registry.acting import act_as

log = logging.getLogger("fstore.api")

# Open to anyone: probes, scraping, and the routes that hand out tokens.
PUBLIC_ROUTES = {
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/metrics"),
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),  # the refresh token in the body is the credential
}
# Reads that take a body are POSTs; a few writes need more than the method suggests.
ROLE_OVERRIDES = {
    ("POST", "/api/v1/online/features"): Role.VIEWER,
    ("POST", "/api/v1/training-sets"): Role.VIEWER,
    ("POST", "/api/v1/training-sets/upload"): Role.VIEWER,
    ("POST", "/api/v1/features/{name}/transform"): Role.VIEWER,
    ("POST", "/api/v1/features/{name}/versions/rollback"): Role.ADMIN,
    ("DELETE", "/api/v1/groups/{name}/features/{feature}"): Role.EDITOR,  # membership, not a delete
}
ADMIN_PREFIXES = ("/api/v1/users", "/api/v1/api-keys", "/api/v1/audit")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # never audited
_METHOD_ROLES = {"GET": Role.VIEWER, "HEAD": Role.VIEWER, "DELETE": Role.ADMIN}
DEV_PRINCIPAL = Principal("dev", Role.ADMIN, "dev")


@functools.cache  # a few dozen (method, route) pairs, asked on every request
def required_role(method: str, path: str) -> Role | None:
    """The least role a route needs; None for public routes. Anything under ``/api/v1/auth``
    not public needs only a login."""
    if (method, path) in PUBLIC_ROUTES:
        return None
    if (method, path) in ROLE_OVERRIDES:
        return ROLE_OVERRIDES[(method, path)]
    if path.startswith(ADMIN_PREFIXES):
        return Role.ADMIN
    if path.startswith("/api/v1/auth/"):
        return Role.VIEWER
    return _METHOD_ROLES.get(method, Role.EDITOR)


def is_write(role: Role | None) -> bool:
    return role is not None and role.allows(Role.EDITOR)


class Auth:
    """What the app authenticates with: the token issuer and the user directory; with
    ``disabled`` (dev mode only) every request acts as the ``dev`` admin."""

    def __init__(self, settings: Settings, directory: Directory) -> None:
        self.directory = directory
        self.disabled = settings.auth_disabled
        if self.disabled and not settings.dev_mode:
            raise ConfigurationError("authentication can only be disabled in dev mode (FSTORE_DEV_MODE=true)")
        secret = settings.secret_key.get_secret_value() if settings.secret_key else None
        if secret is None and settings.dev_mode:
            if not self.disabled:
                log.warning("dev mode: no FSTORE_SECRET_KEY; tokens are signed with a throwaway key")
            secret = throwaway_secret()
        if secret is None:
            raise ConfigurationError(
                "FSTORE_SECRET_KEY is not set: the API signs its tokens with it (set it, or, for "
                "development only, run `fstore serve --dev` or set FSTORE_DEV_MODE=true)"
            )
        if settings.dev_mode:
            try:
                check_secret(secret)
            except ConfigurationError:
                log.warning("dev mode: FSTORE_SECRET_KEY is too weak to use; tokens use a throwaway key")
                secret = throwaway_secret()
        self.tokens = TokenIssuer(
            secret, settings.access_token_minutes * 60, settings.refresh_token_days * 86400
        )
        self.logins = LoginThrottle(
            settings.login_max_failures,
            settings.login_window_seconds,
            address_max_failures=settings.login_address_max_failures,
            user_max_failures=settings.login_user_max_failures,
            known_seconds=settings.refresh_token_days * 86400,
            storage_url=settings.resolved_rate_limit_url(),
        )
        self.proxies = trusted_networks(settings.trusted_proxies)

    async def issue(self, name: str) -> TokenPair:
        """Tokens of a new session of user ``name`` (after a login)."""
        principal, epoch, family = await self.directory.start_session(name, self.tokens.refresh_seconds)
        return self.tokens.issue(principal.name, principal.role, epoch, family)[0]

    def client_address(self, request: Request) -> str:
        """The client's address: the peer's, or, when the peer is a trusted proxy, the nearest
        address in ``X-Forwarded-For`` that is not a trusted proxy."""
        peer = request.client.host if request.client else ""
        if not self.proxies or not _trusted(peer, self.proxies):
            return peer
        forwarded = request.headers.get("x-forwarded-for")
        if not forwarded:
            return peer
        address = peer
        for hop in reversed([h.strip() for h in forwarded.split(",")]):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                return address  # garbage: believe nothing further out
            address = hop
            if not _trusted(hop, self.proxies):
                break
        return address

    async def authenticate(self, request: Request) -> Principal:
        if self.disabled:
            return DEV_PRINCIPAL
        header = request.headers.get("authorization")
        if not header:
            raise AuthenticationError("this route needs a bearer token or API key", reason="missing")
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise AuthenticationError("use 'Authorization: Bearer <token>'", reason="invalid")
        if credential.startswith(API_KEY_PREFIX):
            return await self.directory.key_principal(credential)
        return await self.directory.access_principal(self.tokens.access(credential))


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(entries: list[str]) -> tuple[Network, ...]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ConfigurationError(
                f"FSTORE_TRUSTED_PROXIES: {entry!r} is not an IP address or network",
                setting="trusted_proxies",
            ) from None
    return tuple(networks)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


async def authorize(request: Request) -> None:
    """The app-wide dependency applying the policy to the matched route."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    method = request.method
    required = required_role(method, route.path)
    if required is None:
        return
    state = request.state
    state.audit = is_write(required) and method not in READ_METHODS
    auth: Auth = request.app.state.auth
    principal = await auth.authenticate(request)
    state.principal = principal
    act_as(principal.name)  # the registry records this request's changes as the principal
    if not principal.role.allows(required):
        who = f"{principal.name} is {principal.role.value}"
        raise PermissionDeniedError(
            f"{method} {route.path} needs the {required.value} role; {who}",
            required=required.value,
            role=principal.role.value,
        )
    if state.audit:
        await record_intent(request, request.app.state.store.offline)
