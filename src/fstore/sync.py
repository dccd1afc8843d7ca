"""The blocking twin of ``FeatureStore``, for scripts and notebooks.

Every coroutine method of ``FeatureStore`` is available here with the same name and
arguments, returning its result directly. Calls run on a private event loop in the calling
thread (cheapest), or, when that thread already runs a loop (Jupyter), on a loop in a
background thread.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from fstore.store import FeatureStore


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
    def __init__(self, store: FeatureStore) -> None:
        self.store = store
        try:
            asyncio.get_running_loop()
            in_loop = True
        except RuntimeError:
            in_loop = False
        self._thread = _LoopThread() if in_loop else None
        self._loop = None if in_loop else asyncio.new_event_loop()

    def _run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        if self._loop is not None:
            return self._loop.run_until_complete(coro)
        assert self._thread is not None
        return self._thread.run(coro)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.store, name)
        if not inspect.iscoroutinefunction(attr):
            return attr
        run = self._run

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            return run(attr(*args, **kwargs))

        setattr(self, name, call)  # later calls skip __getattr__
        return call

    def close(self) -> None:
        self._run(self.store.close())
        if self._loop is not None:
            self._loop.close()
            self._loop = None
        if self._thread is not None:
            self._thread.stop()
            self._thread = None

    def __enter__(self) -> Self:
        self._run(self.store.open())
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
