"""The one place the library waits: polling with backoff and a deadline.

Every confirmation, resend and progress report of the services is driven by
:class:`PollPolicy` through :func:`poll_rounds`; nothing else sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import msgspec


class PollPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How services wait for a client to reflect what they asked.

    Polls start ``first_delay`` seconds apart and back off by ``factor`` up
    to ``max_delay``; after ``timeout`` seconds the torrents that still don't
    show the effect are reported as errors. A request the client seems to
    have dropped is sent again after ``resend_after`` seconds. Where the
    client can't tell (e.g. a torrent verifying that may or may not run
    afterwards) the request counts as done once that lasted ``ambiguous_grace``.
    A client that refreshes its states on a timer (``ClientTiming.refresh_interval``)
    is polled at an even pace instead, ``refresh_polls`` times per interval: the
    refresh that shows a change comes at any moment within it, so early polls
    close together would mostly find nothing new and late ones far apart would
    mostly be waited for after it.
    """

    first_delay: float = 0.02
    max_delay: float = 1.0
    factor: float = 1.5
    timeout: float = 30.0
    resend_after: float = 2.0
    ambiguous_grace: float = 1.5
    #: How long verify_wait() waits for a torrent we asked to verify to show it.
    verify_start_grace: float = 1.0
    #: Polls per refresh interval of a client that refreshes its states on a timer.
    refresh_polls: int = 5

    def refresh_pace(self, refresh_interval: float) -> float | None:
        """The even pause between polls of a client that refreshes its states every
        `refresh_interval` seconds; ``None`` (backoff) when it doesn't (``0``)."""
        if refresh_interval <= 0:
            return None
        return min(self.max_delay, refresh_interval / max(self.refresh_polls, 1))


async def poll_rounds(
    policy: PollPolicy,
    *,
    first_delay: float | None = None,
    max_delay: float | None = None,
    timeout: float | None = None,
    wake: asyncio.Event | None = None,
    restart: asyncio.Event | None = None,
) -> AsyncIterator[float]:
    """Yield the seconds elapsed before each poll, sleeping with backoff in between.

    The first round is immediate. Delays start at `first_delay` and grow by
    ``policy.factor`` up to `max_delay` (the policy's unless given). The
    rounds end after `timeout` seconds (the policy's unless given; ``0``
    for no deadline), with a last round at the deadline itself; the caller
    ends them earlier by breaking out. When `wake` is set during a pause, the
    next round starts at once (and `wake` is cleared). When `restart` is
    set between rounds (the caller sent its request again), the delays start
    again from `first_delay` (and `restart` is cleared).
    """
    first = delay = policy.first_delay if first_delay is None else first_delay
    ceiling = policy.max_delay if max_delay is None else max_delay
    limit = policy.timeout if timeout is None else timeout
    start = time.monotonic()
    while True:
        elapsed = time.monotonic() - start
        yield elapsed
        if limit and elapsed >= limit:
            return
        if restart is not None and restart.is_set():
            restart.clear()
            delay = first
        seconds = delay if not limit else min(delay, max(limit - (time.monotonic() - start), 0.0))
        await pause_for(seconds, wake)
        delay = min(delay * policy.factor, ceiling)


async def pause_for(seconds: float, wake: asyncio.Event | None = None) -> None:
    """Sleep `seconds`, or less when `wake` is set meanwhile (it is cleared then)."""
    if wake is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), seconds)
    wake.clear()
