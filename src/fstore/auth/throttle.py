"""Failed-login throttling against guessing and password spraying, on the ``limits`` library.

Three moving windows of failed logins (each ``window`` seconds long):

* per (user name, address): ``max_failures`` — someone guessing one account from one place;
* per address, across user names: ``address_max_failures`` — one place spraying many accounts;
* per user name, across addresses: ``user_max_failures`` (looser) — many places guessing one
  account. It does not apply to an address the user logged in from successfully within the
  last ``known_seconds``, so an attacker who keeps it exhausted cannot lock the real user out.

A successful login clears its (user, address) and address counters. Every window is bounded:
a pause ends at most ``window`` seconds after the failure that caused it. The counters live
in memory (one server process) or, with a ``redis://`` URL, in Redis, shared by every process.
"""

from __future__ import annotations

import math
import time
from urllib.parse import parse_qsl, urlsplit

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisClusterStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from fstore.errors import ConfigurationError, StoreUnavailableError, TooManyRequestsError

_NAMESPACE = "fstore-login"


def storage_for(url: str | None) -> Storage:
    """Memory storage, or Redis storage for a ``redis://`` / ``rediss://`` URL (the online
    store's options apply: ``prefix=`` goes before the keys, ``cluster=true`` for a cluster;
    the others are dropped)."""
    if not url or url == "memory://":
        return MemoryStorage()
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ConfigurationError(f"the rate-limit store must be memory:// or redis://…, got {url!r}")
    options = dict(parse_qsl(parts.query))
    prefix = options.get("prefix", "") + _NAMESPACE
    plain = parts._replace(query="").geturl()
    if options.get("cluster", "").lower() in ("1", "true", "yes"):
        cluster = plain.replace(f"{parts.scheme}://", "redis+cluster://", 1)
        return RedisClusterStorage(f"async+{cluster}", implementation="redispy", key_prefix=prefix)
    return RedisStorage(f"async+{plain}", implementation="redispy", key_prefix=prefix)


class LoginThrottle:
    def __init__(
        self,
        max_failures: int,
        window: float,
        *,
        address_max_failures: int | None = None,
        user_max_failures: int | None = None,
        known_seconds: float = 30 * 86400,
        storage_url: str | None = None,
    ) -> None:
        seconds = max(1, math.ceil(window))
        self.window = seconds
        self._pair = RateLimitItemPerSecond(max_failures, seconds, namespace="pair")
        self._address = RateLimitItemPerSecond(
            address_max_failures or 4 * max_failures, seconds, namespace="addr"
        )
        self._user = RateLimitItemPerSecond(user_max_failures or 10 * max_failures, seconds, namespace="user")
        self._known = RateLimitItemPerSecond(1, max(1, math.ceil(known_seconds)), namespace="known")
        self._limiter = MovingWindowRateLimiter(storage_for(storage_url))

    async def check(self, name: str, address: str) -> None:
        """Raise TooManyRequestsError if a login of ``name`` from ``address`` must wait."""
        try:
            await self._check(name, address)
        except TooManyRequestsError:
            raise
        except Exception as exc:  # the shared store is down: refuse rather than allow unlimited guessing
            raise StoreUnavailableError(
                f"the login throttle's store is unavailable: {exc}", store="throttle"
            ) from exc

    async def _check(self, name: str, address: str) -> None:
        limiter = self._limiter
        if not await limiter.test(self._pair, name, address):
            await self._refuse(
                self._pair, f"too many failed logins for {name!r} from this address", name, address
            )
        if not await limiter.test(self._address, address):
            await self._refuse(self._address, "too many failed logins from this address", address)
        if not await limiter.test(self._user, name) and await limiter.test(self._known, name, address):
            await self._refuse(self._user, f"too many failed logins for {name!r}", name)

    async def _refuse(self, item: RateLimitItem, why: str, *ids: str) -> None:
        stats = await self._limiter.get_window_stats(item, *ids)
        wait = max(1, math.ceil(stats.reset_time - time.time()))
        raise TooManyRequestsError(f"{why}; try again in {wait} s", retry_after=wait)

    async def failed(self, name: str, address: str) -> None:
        limiter = self._limiter
        await limiter.hit(self._pair, name, address)
        await limiter.hit(self._address, address)
        await limiter.hit(self._user, name)

    async def succeeded(self, name: str, address: str) -> None:
        limiter = self._limiter
        await limiter.clear(self._pair, name, address)
        await limiter.clear(self._address, address)
        await limiter.clear(self._known, name, address)  # restart the known period
        await limiter.hit(self._known, name, address)
