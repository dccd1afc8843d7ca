"""Failed-login throttling: after ``max_failures`` wrong passwords for one user name from one
address within ``window`` seconds, that pair may not try again until the oldest failure
leaves the window. Kept in memory, per server process."""

from __future__ import annotations

import math
import time
from collections import deque

from fstore.errors import TooManyRequestsError

_MAX_KEYS = 100_000  # beyond this many (name, address) pairs the memory starts over


class LoginThrottle:
    def __init__(self, max_failures: int, window: float) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        failures = self._failures.get(key)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def check(self, name: str, address: str) -> None:
        """Raise TooManyRequestsError if this pair has used up its attempts."""
        now = time.monotonic()
        failures = self._recent((name, address), now)
        if len(failures) >= self.max_failures:
            wait = math.ceil(failures[0] + self.window - now)
            raise TooManyRequestsError(
                f"too many failed logins for {name!r}; try again in {wait} s", retry_after=wait
            )

    def failed(self, name: str, address: str) -> None:
        if len(self._failures) >= _MAX_KEYS:
            self._failures.clear()
        self._failures.setdefault((name, address), deque()).append(time.monotonic())

    def succeeded(self, name: str, address: str) -> None:
        self._failures.pop((name, address), None)
