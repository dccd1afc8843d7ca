"""Every write through the API lands in the audit log: who, what, when, and the outcome.

A pure ASGI middleware: it sees the final status even when an error handler produced the
response, and records the request after the response has been sent, so the client does not
wait for the audit write. Which requests are writes is decided by ``security.authorize``
(it sets ``state.audit``); the login route marks itself.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fstore.backends.offline.base import OfflineStore

log = logging.getLogger("fstore.api.audit")
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def outcome_of(status: int) -> str:
    if status < 400:
        return "ok"
    return "denied" if status in (401, 403, 429) else "failed"


class AuditTrail:
    def __init__(self, app: ASGIApp, offline: OfflineStore) -> None:
        self.app = app
        self.offline = offline

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _READ_METHODS:
            await self.app(scope, receive, send)
            return
        at = datetime.now(UTC)
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            state = scope.get("state") or {}
            if state.get("audit"):
                await self._record(scope, state, at, status)

    async def _record(self, scope: Scope, state: dict[str, Any], at: datetime, status: int) -> None:
        principal = state.get("principal")
        route = scope.get("route")
        details: dict[str, Any] = {"status": status}
        if principal is not None:
            details |= {"role": principal.role.value, "via": principal.kind}
        if state.get("request_id"):
            details["request_id"] = state["request_id"]
        if scope.get("client"):
            details["client"] = scope["client"][0]
        record = {
            "at": at,
            "actor": principal.name if principal is not None else state.get("audit_actor"),
            "action": f"{scope['method']} {getattr(route, 'path', scope['path'])}",
            "resource": scope["path"],
            "outcome": outcome_of(status),
            "details": details,
        }
        try:
            await self.offline.append_audit([record])
        except Exception:  # the response is out; losing the record must at least be loud
            log.exception("could not write the audit record %s", record)
