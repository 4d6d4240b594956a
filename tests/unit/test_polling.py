"""The adapters' batched polling: one question per round, only about what is pending."""

from __future__ import annotations

import time

from aiobtclientapi.adapters._polling import poll_batched


async def test_asks_only_about_pending_torrents_until_all_are_done() -> None:
    asked: list[list[str]] = []

    async def done(pending: list[str]) -> set[str]:
        asked.append(pending)
        return set(pending[:1])  # one more each round

    assert await poll_batched(["a", "b", "c", "a"], done, within=10) == {"a", "b", "c"}
    assert asked == [["a", "b", "c"], ["b", "c"], ["c"]]


async def test_gives_up_at_the_deadline_with_what_is_done() -> None:
    rounds = 0

    async def done(pending: list[str]) -> set[str]:
        nonlocal rounds
        rounds += 1
        return {"a"} & set(pending)

    started = time.monotonic()
    assert await poll_batched(["a", "b"], done, within=0.3, max_delay=0.05) == {"a"}
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 2.0
    assert rounds > 3  # backoff capped at max_delay: several rounds, the last at the deadline


async def test_nothing_to_wait_for_asks_nothing() -> None:
    async def done(pending: list[str]) -> set[str]:
        raise AssertionError("asked about nothing")

    assert await poll_batched([], done, within=1) == set()
