"""qBittorrent's floor: one multipart torrents/add for all, one
torrents/resume (start), /pause (stop) and /recheck for all, torrents/info
polls filtered by hash. WebAPI 2.11 (5.0) renamed resume/pause to start/stop
and paused to stopped.

A torrent checking hides whether it runs afterwards; the floor knows what it
asked for.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from aiobtclientapi import APIBase
from aiobtclientapi.testing._torrents import TestTorrent

from . import poll_until

_STOPPED = {"pausedUP", "pausedDL", "stoppedUP", "stoppedDL"}
_CHECKING = {"checkingUP", "checkingDL", "checkingResumeData", "queuedForChecking"}
_RUNNING = {"uploading", "stalledUP", "queuedUP", "forcedUP", "downloading", "stalledDL", "queuedDL", "forcedDL"}
_RUNNING |= {"metaDL", "forcedMetaDL"}


async def prepare(api: APIBase) -> None:
    """Let the daemon check every torrent at once, for ours and the floor alike.

    qBittorrent checks one torrent at a time by default and starts the next
    about a second later: at 1,000 torrents the untimed waits for the checks
    between two ops would take a quarter of an hour each.
    """
    await api.call("app/setPreferences", json=json.dumps({"max_active_checking_torrents": 100_000}))


async def _renamed(api: APIBase) -> bool:
    """Whether the daemon speaks WebAPI 2.11+ (start/stop, stopped)."""
    version = tuple(int(part) for part in str(await api.call("app/webapiVersion")).split("."))
    return version >= (2, 11)


async def _until(api: APIBase, infohashes: Sequence[str], states: set[str], what: str) -> None:
    async def read() -> dict[str, str]:
        rows: list[dict[str, Any]] = await api.call("torrents/info", hashes="|".join(infohashes))
        return {row["hash"]: row["state"] for row in rows}

    await poll_until(
        read, lambda shown: len(shown) == len(infohashes) and all(s in states for s in shown.values()), what
    )


async def add_stopped(api: APIBase, torrents: Sequence[TestTorrent], location: str) -> None:
    files = {f"t{index}": t.torrent_path.read_bytes() for index, t in enumerate(torrents)}
    stopped = "stopped" if await _renamed(api) else "paused"
    reply = await api.call("torrents/add", savepath=location, **{stopped: "true"}, **files)
    assert str(reply).strip() in ("Ok.", ""), reply
    await _until(api, [t.infohash for t in torrents], _STOPPED | _CHECKING, "add stopped")


async def start(api: APIBase, infohashes: Sequence[str]) -> None:
    await api.call("torrents/start" if await _renamed(api) else "torrents/resume", hashes="|".join(infohashes))
    await _until(api, infohashes, _RUNNING | _CHECKING, "start")


async def stop(api: APIBase, infohashes: Sequence[str]) -> None:
    await api.call("torrents/stop" if await _renamed(api) else "torrents/pause", hashes="|".join(infohashes))
    await _until(api, infohashes, _STOPPED | _CHECKING, "stop")


async def verify(api: APIBase, infohashes: Sequence[str]) -> None:
    await api.call("torrents/recheck", hashes="|".join(infohashes))


async def infohashes(api: APIBase) -> list[str]:
    rows: list[dict[str, Any]] = await api.call("torrents/info")
    return [row["hash"] for row in rows]
