"""Password hashing with argon2id (argon2-cffi's defaults follow RFC 9106).

Hashing costs tens of milliseconds of CPU and 64 MiB by design. The server calls the
``*_async`` forms: they run argon2 on a small thread pool (argon2-cffi releases the GIL) behind
a semaphore of one slot per spare core, so a flood of logins queues for those slots while the
event loop keeps serving everyone else; beyond ``MAX_WAITING`` queued checks a login is refused
at once (429) instead of piling up.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from fstore.errors import TooManyRequestsError, ValidationError

MIN_PASSWORD_LENGTH = 8
# One core stays for the event loop; at least one slot.
SLOTS = max(1, (os.cpu_count() or 2) - 1)
MAX_WAITING = 256

T = TypeVar("T")


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters", field="password")


def hash_password(password: str) -> str:
    check_password_policy(password)
    return _hasher().hash(password)


def verify_password(hashed: str, password: str) -> bool:
    try:
        return _hasher().verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(hashed: str) -> bool:
    return _hasher().check_needs_rehash(hashed)


@cache
def dummy_hash() -> str:
    """Verified against when the user does not exist, so a wrong name takes as long as a
    wrong password (no user enumeration by timing)."""
    return _hasher().hash("fstore-no-such-user")


class _Pool:
    """The threads and the semaphore of one event loop (a semaphore belongs to its loop)."""

    def __init__(self) -> None:
        self.executor = ThreadPoolExecutor(SLOTS, thread_name_prefix="fstore-argon2")
        self.slots = asyncio.Semaphore(SLOTS)
        self.waiting = 0


_pools: dict[int, _Pool] = {}


def _pool() -> _Pool:
    loop_id = id(asyncio.get_running_loop())
    pool = _pools.get(loop_id)
    if pool is None:
        if len(_pools) > 16:  # loops of finished tests or CLI runs: their threads are idle
            for old in _pools.values():
                old.executor.shutdown(wait=False)
            _pools.clear()
        pool = _pools[loop_id] = _Pool()
    return pool


async def _off_loop(fn: Callable[..., T], *args: str) -> T:
    pool = _pool()
    if pool.waiting >= MAX_WAITING:
        raise TooManyRequestsError("the server is busy checking passwords; try again shortly", retry_after=1)
    pool.waiting += 1
    try:
        async with pool.slots:
            return await asyncio.get_running_loop().run_in_executor(pool.executor, fn, *args)
    finally:
        pool.waiting -= 1


async def hash_password_async(password: str) -> str:
    check_password_policy(password)
    return await _off_loop(_hasher().hash, password)


async def verify_password_async(hashed: str | None, password: str) -> bool:
    """``verify_password`` off the loop; with ``hashed`` None (no such user) against the dummy
    hash, so that takes as long."""
    if hashed is None:
        hashed = await _off_loop(dummy_hash)
    return await _off_loop(verify_password, hashed, password)
