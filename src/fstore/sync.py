"""The blocking twin of ``FeatureStore``, for scripts and notebooks.

Every public coroutine method of ``FeatureStore`` is a method of ``SyncFeatureStore`` with the
same name, signature and docstring, returning its result directly: the methods are made
here from ``FeatureStore`` when the module loads (so ``dir``, ``help`` and tab completion
show them), and ``sync.pyi`` declares the same methods for type checkers and IDEs (it is
generated from ``FeatureStore`` by ``python -m fstore._sync_stub``; a test keeps it current).

Calls run on a private event loop in the calling thread (cheapest), or, when that thread
already runs a loop (Jupyter), on a loop in a background thread.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Self

from fstore.config import Settings
from fstore.store import FeatureStore

# Lifecycle methods the twin defines itself (opening and closing its event loop too).
OWN = frozenset({"open", "close"})


class _LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fstore-sync", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


class SyncFeatureStore:
    """The blocking twin of ``FeatureStore`` (``FeatureStore.sync(...)`` makes one): the same
    methods with the same arguments, each returning its result instead of a coroutine.

    Use it as a context manager, or call ``close()`` when done. ``store`` is the async
    ``FeatureStore`` underneath."""

    def __init__(self, store: FeatureStore) -> None:
        self.store = store
        try:
            asyncio.get_running_loop()
            in_loop = True
        except RuntimeError:
            in_loop = False
        self._thread = _LoopThread() if in_loop else None
        self._loop = None if in_loop else asyncio.new_event_loop()

    def __repr__(self) -> str:
        return f"SyncFeatureStore(home={str(self.store.settings.home)!r})"

    @property
    def settings(self) -> Settings:
        """The store's settings (``FeatureStore.settings``)."""
        return self.store.settings

    def _run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        if self._loop is not None:
            return self._loop.run_until_complete(coro)
        assert self._thread is not None
        return self._thread.run(coro)

    def open(self) -> Self:
        """Connect to the stores (methods do it on first use). An unreachable online store is
        not fatal: serving falls back to the offline store until it answers."""
        self._run(self.store.open())
        return self

    def close(self) -> None:
        """Close the stores' connections and this twin's event loop."""
        self._run(self.store.close())
        if self._loop is not None:
            self._loop.close()
            self._loop = None
        if self._thread is not None:
            self._thread.stop()
            self._thread = None

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def twin_methods() -> dict[str, Callable[..., Any]]:
    """The public coroutine methods of ``FeatureStore`` the twin mirrors, by name."""
    return {
        name: fn
        for name, fn in inspect.getmembers(FeatureStore, inspect.iscoroutinefunction)
        if not name.startswith("_") and name not in OWN
    }


def _blocking(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` as a blocking method of the twin: same name, docstring and signature."""

    @functools.wraps(method)
    def call(self: SyncFeatureStore, *args: Any, **kwargs: Any) -> Any:
        return self._run(getattr(self.store, name)(*args, **kwargs))

    try:  # real types in help() where they resolve, else the annotations as written
        call.__signature__ = inspect.signature(method, eval_str=True)  # type: ignore[attr-defined]
    except (NameError, TypeError):
        call.__signature__ = inspect.signature(method)  # type: ignore[attr-defined]
    call.__qualname__ = f"SyncFeatureStore.{name}"
    call.__module__ = __name__
    return call


for _name, _method in twin_methods().items():
    setattr(SyncFeatureStore, _name, _blocking(_name, _method))
