"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from fstore.api.deps import Store

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", summary="The process answers")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Every store answers",
    responses={503: {"description": "A store is unreachable; the body is the health report"}},
)
async def ready(store: Store) -> Any:
    report = await store.health()
    ok = all(part.get("ok", False) for part in report.values())
    body = {"status": "ok" if ok else "unavailable", "stores": report}
    return JSONResponse(body, status_code=200 if ok else 503)
