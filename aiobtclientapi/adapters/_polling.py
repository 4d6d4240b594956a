"""Asking a client about many torrents, in one request per round, until they are ready."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Sequence


async def poll_batched(
    infohashes: Sequence[str],
    done: Callable[[list[str]], Awaitable[Collection[str]]],
    *,
    within: float,
    first_delay: float = 0.02,
    max_delay: float = 0.5,
) -> set[str]:
    """Which of `infohashes` `done` reports done within `within` seconds.

    `done` is given the infohashes not yet done (one batched request per
    round) and returns those that now are. Waits grow by half each round up
    to `max_delay`; the last round is asked at the deadline.
    """
    pending = list(dict.fromkeys(infohashes))
    finished: set[str] = set()
    deadline = time.monotonic() + within
    delay = first_delay
    while pending:
        finished.update(await done(pending))
        pending = [infohash for infohash in pending if infohash not in finished]
        remaining = deadline - time.monotonic()
        if not pending or remaining <= 0:
            break
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * 1.5, max_delay)
    return finished
