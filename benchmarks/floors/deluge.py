"""Deluge's floor: core.add_torrent_file per torrent, all sent at once (the
batched core.add_torrent_files adds one after another and fails as a whole),
one core.resume_torrents / pause_torrents / force_recheck for all,
core.get_torrents_status polls by id.

Deluge's queue may start a torrent added or paused stopped (auto-managed
torrents): a stop, and an add stopped, pause again those it shows running,
as a correct stop must. A torrent checking shows `paused` as asked.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from typing import Any

from aiobtclientapi import APIBase
from aiobtclientapi.testing._torrents import TestTorrent

from . import poll_until

_RUNNING = {"Downloading", "Seeding", "Queued"}
_CHECKING = {"Checking", "Allocating"}


async def _rows(api: APIBase, infohashes: Sequence[str]) -> dict[str, dict[str, Any]]:
    reply = await api.call("core.get_torrents_status", {"id": list(infohashes)}, ["state", "paused"])
    return {h: row for h, row in reply.items() if row}


async def _until_stopped(api: APIBase, infohashes: Sequence[str], what: str) -> None:
    async def read() -> dict[str, dict[str, Any]]:
        rows = await _rows(api, infohashes)
        started = [h for h, row in rows.items() if row["state"] in _RUNNING]
        if started:
            await api.call("core.pause_torrents", started)
        return rows

    def done(rows: dict[str, dict[str, Any]]) -> bool:
        return len(rows) == len(infohashes) and all(
            row["state"] == "Paused" or (row["state"] in _CHECKING and row["paused"]) for row in rows.values()
        )

    await poll_until(read, done, what)


async def add_stopped(api: APIBase, torrents: Sequence[TestTorrent], location: str) -> None:
    options = {"add_paused": True, "download_location": location}

    async def add(torrent: TestTorrent) -> None:
        metainfo = base64.b64encode(torrent.torrent_path.read_bytes()).decode("ascii")
        await api.call("core.add_torrent_file", torrent.torrent_path.name, metainfo, options)

    await asyncio.gather(*(add(t) for t in torrents))
    await _until_stopped(api, [t.infohash for t in torrents], "add stopped")


async def start(api: APIBase, infohashes: Sequence[str]) -> None:
    await api.call("core.resume_torrents", list(infohashes))

    def done(rows: dict[str, dict[str, Any]]) -> bool:
        return len(rows) == len(infohashes) and all(
            row["state"] in _RUNNING or (row["state"] in _CHECKING and not row["paused"]) for row in rows.values()
        )

    await poll_until(lambda: _rows(api, infohashes), done, "start")


async def stop(api: APIBase, infohashes: Sequence[str]) -> None:
    await api.call("core.pause_torrents", list(infohashes))
    await _until_stopped(api, infohashes, "stop")


async def verify(api: APIBase, infohashes: Sequence[str]) -> None:
    await api.call("core.force_recheck", list(infohashes))


async def infohashes(api: APIBase) -> list[str]:
    return [str(h).lower() for h in await api.call("core.get_session_state")]
