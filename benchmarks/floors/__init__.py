"""The raw floor of each bulk operation: what a bare script needs for the same effect.

One module per client, each with the same five coroutines, sending raw RPC
through ``api.call`` (the wire request as the client documents it, nothing of
the library's services): the fewest batched calls, then polling back to back
until the client shows the effect, with the same confirmation the library
gives. A floor knows what it asked for, so a state that only says "the request
was taken" (a torrent checking after a start) counts as done, as the library
should count it where the client is known to behave so.

- ``add_stopped(api, torrents, location)``: added stopped and shown by the client;
- ``start(api, infohashes)`` / ``stop(api, infohashes)``: shown running / stopped;
- ``verify(api, infohashes)``: the verification asked for and accepted;
- ``infohashes(api)``: every infohash the client has.
- optionally ``prepare(api)``: daemon settings the benchmark runs both sides with.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

#: How long a floor polls before it gives up (a floor that never confirms is a bug).
DEADLINE = 300.0
#: The pause between two polls: short, so the floor confirms as early as the client shows it.
POLL_PAUSE = 0.005


class FloorFailed(Exception):
    """The client never showed what the floor asked for."""


async def poll_until(read: Callable[[], Awaitable[T]], done: Callable[[T], bool], what: str) -> T:
    """Call `read` until `done` holds for its result; FloorFailed after DEADLINE seconds."""
    deadline = time.monotonic() + DEADLINE
    while True:
        value = await read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise FloorFailed(f"{what}: not confirmed within {DEADLINE} s")
        await asyncio.sleep(POLL_PAUSE)
