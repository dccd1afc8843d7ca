"""Who the registry records a change as, for the code running now.

A process has one default actor (``Settings.actor``, the OS user). The API server acts for
many people at once: each request sets the signed-in principal here (a context variable, so
concurrent requests never see each other's), and the registry's history records and
versions name that principal instead of the server's OS user.
"""

from __future__ import annotations

from contextvars import ContextVar

_acting_as: ContextVar[str | None] = ContextVar("fstore_acting_as", default=None)


def act_as(name: str) -> None:
    """Record the changes of the current request (task) as ``name``."""
    _acting_as.set(name)


def acting_as(default: str) -> str:
    """The actor set for the current request, else ``default``."""
    return _acting_as.get() or default
