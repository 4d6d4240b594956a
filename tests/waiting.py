"""Waiting in tests: poll with backoff until a condition holds, or fail at a deadline.

Daemons delete, move and report in the background; a test asks again
rather than sleeping a fixed time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def poll_until(read: Callable[[], Awaitable[T]], done: Callable[[T], bool], what: str, timeout: float = 20) -> T:
    """The first value of `read()` for which `done` holds; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        value = await read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out waiting for {what}: {value!r}")
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.5)


async def until(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    """Wait until `check()` (e.g. a look at the disk) is true."""

    async def read() -> bool:
        return check()

    await poll_until(read, bool, what, timeout)
