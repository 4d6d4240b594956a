"""rTorrent's floor: system.multicall batches (a few hundred calls each: rTorrent
0.9.8 refuses requests over 512 KiB), d.multicall2 polls of every torrent.

load.raw adds stopped, d.open + d.start starts (a closed torrent can't
start), d.stop + d.close stops, d.check_hash verifies. d.state says what the
user asked for, also while the torrent is hashed.
"""

from __future__ import annotations

import xmlrpc.client
from collections.abc import Sequence
from typing import Any

from aiobtclientapi import APIBase
from aiobtclientapi.testing._torrents import TestTorrent

from . import poll_until

#: Calls per system.multicall.
_BATCH = 250


async def _multicall(api: APIBase, calls: list[tuple[str, list[Any]]]) -> None:
    for first in range(0, len(calls), _BATCH):
        batch = [{"methodName": method, "params": params} for method, params in calls[first : first + _BATCH]]
        for result in await api.call("system.multicall", batch):
            assert not isinstance(result, dict), result  # a fault


async def _until_state(api: APIBase, infohashes: Sequence[str], state: int, what: str) -> None:
    wanted = {h.upper() for h in infohashes}

    async def read() -> dict[str, int]:
        rows = await api.call("d.multicall2", "", "main", "d.hash=", "d.state=")
        return {row[0]: row[1] for row in rows if row[0] in wanted}

    await poll_until(read, lambda shown: len(shown) == len(wanted) and all(s == state for s in shown.values()), what)


async def add_stopped(api: APIBase, torrents: Sequence[TestTorrent], location: str) -> None:
    directory = f'd.directory.set="{location}"'
    calls = [("load.raw", ["", xmlrpc.client.Binary(t.torrent_path.read_bytes()), directory]) for t in torrents]
    await _multicall(api, calls)
    await _until_state(api, [t.infohash for t in torrents], 0, "add stopped")


async def _act(api: APIBase, infohashes: Sequence[str], commands: Sequence[str]) -> None:
    await _multicall(api, [(command, [h.upper()]) for h in infohashes for command in commands])


async def start(api: APIBase, infohashes: Sequence[str]) -> None:
    await _act(api, infohashes, ("d.open", "d.start"))
    await _until_state(api, infohashes, 1, "start")


async def stop(api: APIBase, infohashes: Sequence[str]) -> None:
    await _act(api, infohashes, ("d.stop", "d.close"))
    await _until_state(api, infohashes, 0, "stop")


async def verify(api: APIBase, infohashes: Sequence[str]) -> None:
    await _act(api, infohashes, ("d.check_hash",))


async def infohashes(api: APIBase) -> list[str]:
    return [h.lower() for h in await api.call("download_list", "", "main")]
