"""Transmission's floor: torrent-add per torrent (it has no batched add), one
torrent-start / -stop / -verify for all, torrent-get polls by hash.

tr_stat status: 0 stopped, 1 check-wait, 2 check, 3 download-wait,
4 download, 5 seed-wait, 6 seed. A torrent checking hides whether it runs
afterwards; the floor knows what it asked for, and Transmission applies
start and stop within the RPC reply (a start during a check runs after it).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from typing import Any

from aiobtclientapi import APIBase
from aiobtclientapi.testing._torrents import TestTorrent

from . import poll_until

_STOPPED, _CHECKING, _RUNNING = {0}, {1, 2}, {3, 4, 5, 6}


async def _statuses(api: APIBase, infohashes: Sequence[str]) -> dict[str, int]:
    reply = await api.call("torrent-get", ids=list(infohashes), fields=["hashString", "status"])
    return {row["hashString"]: row["status"] for row in reply["arguments"]["torrents"]}


async def _until(api: APIBase, infohashes: Sequence[str], statuses: set[int], what: str) -> None:
    await poll_until(
        lambda: _statuses(api, infohashes),
        lambda shown: len(shown) == len(infohashes) and all(s in statuses for s in shown.values()),
        what,
    )


async def add_stopped(api: APIBase, torrents: Sequence[TestTorrent], location: str) -> None:
    async def add(torrent: TestTorrent) -> None:
        metainfo = base64.b64encode(torrent.torrent_path.read_bytes()).decode("ascii")
        reply = await api.call("torrent-add", metainfo=metainfo, paused=True, **{"download-dir": location})
        assert reply["result"] == "success", reply

    await asyncio.gather(*(add(t) for t in torrents))
    await _until(api, [t.infohash for t in torrents], _STOPPED | _CHECKING, "add stopped")


async def _act(api: APIBase, method: str, infohashes: Sequence[str]) -> None:
    reply: dict[str, Any] = await api.call(method, ids=list(infohashes))
    assert reply["result"] == "success", reply


async def start(api: APIBase, infohashes: Sequence[str]) -> None:
    await _act(api, "torrent-start", infohashes)
    await _until(api, infohashes, _RUNNING | _CHECKING, "start")


async def stop(api: APIBase, infohashes: Sequence[str]) -> None:
    await _act(api, "torrent-stop", infohashes)
    await _until(api, infohashes, _STOPPED | _CHECKING, "stop")


async def verify(api: APIBase, infohashes: Sequence[str]) -> None:
    await _act(api, "torrent-verify", infohashes)


async def infohashes(api: APIBase) -> list[str]:
    reply = await api.call("torrent-get", fields=["hashString"])
    return [row["hashString"] for row in reply["arguments"]["torrents"]]
