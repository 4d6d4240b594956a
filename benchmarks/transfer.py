"""Moving a seedbox: ``transfer()`` of 500 torrents from qBittorrent to Deluge in one call.

Untimed first: the torrents are added to qBittorrent complete (without a
check), every other one started, every fourth labeled. Timed: one
``transfer(..., remove_source=True)`` of all of them, with the moment each
of its steps ended; Deluge checks every torrent's data (``verify=True``).
The Response is checked, and the daemons' own state afterwards: none left
on qBittorrent, all complete on Deluge.
"""

from __future__ import annotations

import time
from pathlib import Path

import msgspec

import aiobtclientapi
from aiobtclientapi import TransferProgress
from aiobtclientapi.testing._targets import Target
from aiobtclientapi.testing._torrents import make_torrent

from .ops import _clean, _settle, prepare_daemon

COUNT = 500


class TransferRun(msgspec.Struct, kw_only=True):
    """One timed transfer: its seconds, and when each step ended (seconds from the start)."""

    source: str
    target: str
    count: int
    seconds: float
    steps: dict[str, float]


async def bench_transfer(source: Target, target: Target, workdir: Path, count: int) -> TransferRun:
    data = workdir / "transfer-data"
    torrents = [make_torrent(data, workdir / "transfer-torrents", size=16 * 1024) for _ in range(count)]
    hashes = [t.infohash for t in torrents]
    async with source.make_api(timeout=120) as from_api, target.make_api(timeout=120) as to_api:
        try:
            await prepare_daemon(source, from_api)
            await prepare_daemon(target, to_api)
            added = await from_api.add(*(str(t.torrent_path) for t in torrents), location=str(data), stopped=True)
            assert added.success, added.errors[:3]
            # Complete on the source: checked there, untimed.
            assert (await from_api.verify(*hashes)).success
            await _settle(from_api, hashes)
            assert (await from_api.start(*hashes[::2])).success
            assert (await from_api.set_label(*hashes[::4], label="bench")).success
            await _settle(from_api, hashes)

            ended: dict[str, float] = {}
            began = time.monotonic()

            def note(progress: TransferProgress) -> None:
                if progress.done == progress.total:
                    ended[progress.step] = round(time.monotonic() - began, 3)

            response = await aiobtclientapi.transfer(from_api, to_api, *hashes, remove_source=True, on_progress=note)
            seconds = time.monotonic() - began

            assert response.success, response.errors[:3]
            assert sorted(response.transferred) == sorted(hashes)
            assert not set(hashes) & set(await from_api.get_infohashes())
            moved = await to_api.get_torrents(*hashes, attributes=["progress", "label"])
            assert len(moved) == count and all(t.progress == 1.0 for t in moved)
            assert sum(t.label == "bench" for t in moved) == len(hashes[::4])
        finally:
            await _clean(target, to_api, torrents)
            await _clean(source, from_api, torrents)
    return TransferRun(source=source.id, target=target.id, count=count, seconds=seconds, steps=ended)
