"""Fixtures for the contract suite."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aiobtclientapi import APIBase
from aiobtclientapi.testing._targets import RawState, Target
from aiobtclientapi.testing._torrents import TestTorrent, make_torrent


@pytest.fixture
async def api(target: Target) -> AsyncIterator[APIBase]:
    api = target.make_api()
    async with api:
        yield api


@pytest.fixture
def new_torrent(target: Target, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Factory: a new torrent whose content is where the client looks for it."""

    def factory(**kwargs: object) -> TestTorrent:
        return make_torrent(target.download_dir, tmp_path / "torrents", **kwargs)  # type: ignore[arg-type]

    return factory


async def settle(target: Target, api: APIBase, infohashes: list[str], timeout: float = 60) -> dict[str, RawState]:
    """Wait until the client verifies none of these torrents; their raw states."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        states = await target.raw_states(api, infohashes)
        if all(states.get(h) != "verifying" for h in infohashes):
            return states
        if time.monotonic() > deadline:
            raise AssertionError(f"Still verifying after {timeout}s: {states}")
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 1.0)
