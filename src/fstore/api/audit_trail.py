"""Every write through the API is in the audit log, or it is not done.

Two records per write, both stored before the client hears back:

1. **intent** (outcome ``started``), written by ``security.authorize`` once the caller is
   known to be allowed, *before* the route runs. If it cannot be stored the request fails
   with 503 and nothing is changed.
2. **outcome** (``ok`` / ``denied`` / ``failed``, with the status), written by this pure ASGI
   middleware when the response starts, before it goes out. If it cannot be stored:
   after an intent, the response goes out as it is (the write happened and its intent is on
   record) and the failure is logged; without an intent (a refused call, a login) the
   response is replaced by a 503, so nothing goes unrecorded.

Which requests are audited is decided by ``security.authorize`` (it sets ``state.audit``);
the login and logout routes mark themselves. Reads are not audited.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fstore.backends.offline.base import OfflineStore
from fstore.errors import StoreUnavailableError

log = logging.getLogger("fstore.api.audit")
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
STARTED = "started"


def outcome_of(status: int) -> str:
    if status < 400:
        return "ok"
    return "denied" if status in (401, 403, 429) else "failed"


def audit_record(
    scope: Scope, state: dict[str, Any], at: datetime, outcome: str, status: int | None
) -> dict[str, Any]:
    principal = state.get("principal")
    route = scope.get("route")
    details: dict[str, Any] = {} if status is None else {"status": status}
    if principal is not None:
        details |= {"role": principal.role.value, "via": principal.kind}
    if state.get("request_id"):
        details["request_id"] = state["request_id"]
    if scope.get("client"):
        details["client"] = scope["client"][0]
    return {
        "at": at,
        "actor": principal.name if principal is not None else state.get("audit_actor"),
        "action": f"{scope['method']} {getattr(route, 'path', scope['path'])}",
        "resource": scope["path"],
        "outcome": outcome,
        "details": details,
    }


def audit_unavailable(exc: BaseException) -> StoreUnavailableError:
    """The error a request gets when its audit record cannot be stored: the store's own
    unavailability class when it gave one (a full disk stays a 507), else a 503."""
    kind = type(exc) if isinstance(exc, StoreUnavailableError) else StoreUnavailableError
    return kind(
        f"the audit log cannot be written ({type(exc).__name__}: {exc}); nothing was done", store="audit"
    )


async def record_intent(request: Request, offline: OfflineStore) -> None:
    """Store the intent record of an allowed write; StoreUnavailableError (503) if it cannot be."""
    state = request.scope.setdefault("state", {})
    try:
        await offline.append_audit([audit_record(request.scope, state, datetime.now(UTC), STARTED, None)])
    except Exception as exc:
        log.exception("could not write the audit record of %s %s", request.method, request.url.path)
        state["audit_refused"] = True  # the error response says nothing was done: it may go out
        raise audit_unavailable(exc) from exc
    state["audit_intent"] = True


class AuditTrail:
    def __init__(self, app: ASGIApp, offline: OfflineStore) -> None:
        self.app = app
        self.offline = offline

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _READ_METHODS:
            await self.app(scope, receive, send)
            return
        replaced = started = False

        async def send_recorded(message: Message) -> None:
            nonlocal replaced, started
            if replaced:
                return
            if message["type"] == "http.response.start":
                started = True
                state = scope.get("state") or {}
                if state.get("audit") and not await self._record(scope, state, message["status"]):
                    replaced = True
                    await self._unavailable(scope, send)
                    return
            await send(message)

        try:
            await self.app(scope, receive, send_recorded)
        except Exception:
            state = scope.get("state") or {}
            if not started and state.get("audit"):  # the server answers 500 (observability)
                await self._record(scope, state, 500)
            raise

    async def _record(self, scope: Scope, state: dict[str, Any], status: int) -> bool:
        """Store the outcome record; False when that failed and the response must not go out."""
        record = audit_record(scope, state, datetime.now(UTC), outcome_of(status), status)
        try:
            await self.offline.append_audit([record])
        except Exception:
            log.exception("could not write the audit record %s", record)
            return bool(
                state.get("audit_intent") or state.get("audit_refused")
            )  # the intent is on record: the write is audited
        return True

    @staticmethod
    async def _unavailable(scope: Scope, send: Send) -> None:
        from fstore.api.errors import fstore_error

        exc = audit_unavailable(RuntimeError("the outcome could not be recorded"))
        response = await fstore_error(Request(scope), exc)
        await response(scope, _no_body, send)


async def _no_body() -> Message:
    return {"type": "http.disconnect"}
