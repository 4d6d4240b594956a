"""rTorrent listing (get_torrents) and change feed (watch), against real daemons.

On the native 0.9.8 daemons and, with ``BTC_CONTAINERS=1``, each container
image's (0.9.8 of Debian 13, 0.16.x of forky).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from aiobtclientapi import APIBase
from aiobtclientapi._registry import parse_url
from aiobtclientapi.adapters.rtorrent import RtorrentAdapter
from aiobtclientapi.adapters.rtorrent import _transport as rtorrent_transport
from aiobtclientapi.application.ports import ConnectionOptions
from aiobtclientapi.domain.events import TorrentAdded, TorrentChanged, TorrentEvent, TorrentRemoved
from aiobtclientapi.domain.torrent import (
    ATTRIBUTES,
    DEFAULT_ATTRIBUTES,
    FilePriority,
    Torrent,
    TorrentState,
    TrackerInfo,
    TrackerStatus,
)
from aiobtclientapi.testing._pool import TargetPool
from aiobtclientapi.testing._rtorrent import RtorrentTarget
from aiobtclientapi.testing._torrents import TestTorrent, make_torrent
from aiobtclientapi.testing._tracker import announce_url
from tests.integration.test_rtorrent import ids

ALL = frozenset(ATTRIBUTES)
#: What a listing UI shows: the fields the change feed is measured with.
COMMON = frozenset(
    {"name", "state", "progress", "size_total", "size_done", "rate_down", "rate_up", "ratio", "save_path", "added_at"}
)


@contextlib.asynccontextmanager
async def session(pool: TargetPool, target_id: str) -> AsyncIterator[tuple[RtorrentTarget, RtorrentAdapter, APIBase]]:
    """The target, an adapter of our own (for its request counts) and an API for setting things up."""
    rt = pool.get(target_id)
    assert isinstance(rt, RtorrentTarget)
    adapter = RtorrentAdapter(parse_url("rtorrent", rt.url), ConnectionOptions(timeout=30))
    api = rt.make_api()
    try:
        yield rt, adapter, api
    finally:
        await adapter.disconnect()
        await api.disconnect()


async def add_verified(api: APIBase, torrents: list[TestTorrent]) -> list[str]:
    """Add stopped and verify: progress reflects the data on disk."""
    hashes = [t.infohash for t in torrents]
    added = await api.add(*(str(t.torrent_path) for t in torrents), stopped=True)
    assert sorted(added.added) == sorted(hashes), added.errors
    assert (await api.verify(*hashes)).success
    async for _ in api.verify_wait(*hashes, interval=0.05):
        pass
    return hashes


def by_hash(torrents: list[Torrent]) -> dict[str, Torrent]:
    return {t.infohash: t for t in torrents}


def recent(moment: datetime | None) -> bool:
    assert moment is not None
    assert moment.tzinfo is UTC
    return abs(datetime.now(UTC) - moment) < timedelta(minutes=10)


@pytest.mark.parametrize("target_id", ids("scgi", "socket"))
async def test_listing_values(target_pool: TargetPool, target_id: str, tmp_path: Path) -> None:
    async with session(target_pool, target_id) as (rt, adapter, api):
        single = make_torrent(rt.download_dir, tmp_path)
        multi = make_torrent(rt.download_dir, tmp_path, files=3, size=3 * 100_000)
        missing = make_torrent(rt.download_dir, tmp_path, keep_content=False)
        hashes = await add_verified(api, [single, multi, missing])
        try:
            # ruTorrent's convention: custom1 holds the label percent-encoded.
            await api.call("d.custom1.set", multi.infohash, "my%20label%2Fx")
            listed = by_hash(await adapter.torrents(None, ALL))
            assert set(hashes) <= listed.keys()
            s, m, x = listed[single.infohash], listed[multi.infohash], listed[missing.infohash]

            for t, made in ((s, single), (m, multi), (x, missing)):
                assert t.name == made.name
                assert t.state is TorrentState.stopped
                assert t.infohash_v2 is None
                assert t.is_private is True
                assert t.tags == ()
                assert t.error is None
                assert (t.rate_down, t.rate_up, t.downloaded, t.uploaded) == (0, 0, 0, 0)
                assert t.ratio == 0.0
                assert t.eta is None
                assert (t.seeds_connected, t.peers_connected) == (0, 0)
                # Stopped since added: never announced, so no swarm counts.
                assert (t.seeds_swarm, t.peers_swarm) == (None, None)
                assert recent(t.added_at or None)
                assert t.peers == ()
                assert t.trackers == (
                    TrackerInfo(
                        url=announce_url(),
                        tier=0,
                        status=TrackerStatus.not_contacted,
                        seeds=None,
                        peers=None,
                        message=None,
                    ),
                )
                # Closed (stopped): d.base_path is empty, content_path is derived.
                assert t.save_path == str(rt.download_dir)
                assert t.content_path == str(rt.download_dir / made.name)

            assert (m.size_total, m.size_wanted, m.size_done, m.progress) == (300_000, 300_000, 300_000, 1.0)
            assert (s.size_total, s.size_done, s.progress) == (single.size, single.size, 1.0)
            assert (x.size_total, x.size_done, x.progress) == (missing.size, 0, 0.0)
            assert m.label == "my label/x"
            assert s.label is None
            # rTorrent stamps "finished" when a check finds the data complete.
            assert recent(s.completed_at or None)
            assert x.completed_at is None

            assert isinstance(m.files, tuple)
            assert [(f.path, f.size, f.progress, f.wanted, f.priority) for f in m.files] == [
                (f"file{i}.bin", 100_000, 1.0, True, FilePriority.normal) for i in range(3)
            ]
            assert isinstance(s.files, tuple) and [(f.path, f.size) for f in s.files] == [(single.name, single.size)]
            assert isinstance(x.files, tuple) and [f.progress for f in x.files] == [0.0]

            # A file not to download: priority 0 → not wanted, no priority; size_wanted shrinks.
            await api.call("f.priority.set", f"{multi.infohash}:f1", 0)
            await api.call("f.priority.set", f"{multi.infohash}:f2", 2)
            await api.call("d.update_priorities", multi.infohash)
            [m2] = await adapter.torrents([multi.infohash], frozenset({"files", "size_wanted"}))
            assert isinstance(m2.files, tuple)
            assert [(f.wanted, f.priority) for f in m2.files] == [
                (True, FilePriority.normal),
                (False, None),
                (True, FilePriority.high),
            ]
            assert m2.size_wanted == 200_000

            # Only the asked attributes are set.
            [only] = await adapter.torrents([single.infohash, "0" * 40], frozenset({"name", "label"}))
            assert (only.infohash, only.name, only.label) == (single.infohash, single.name, None)
            assert all(getattr(only, a) is msgspec.UNSET for a in ATTRIBUTES if a not in ("name", "label"))

            # The same values through the given-infohashes path (system.multicall).
            given = by_hash(await adapter.torrents([*hashes, "f" * 40], ALL))
            assert given.keys() == set(hashes)
            assert given[single.infohash] == s and given[missing.infohash] == x

            # Started: open, so base_path is set; announced to our tracker (0 seeds, 0 peers).
            assert (await api.start(single.infohash, multi.infohash)).success
            deadline = time.monotonic() + 30
            while True:
                started = by_hash(await adapter.torrents([single.infohash, multi.infohash], ALL))
                trackers = [t.trackers[0] for t in started.values() if isinstance(t.trackers, tuple)]
                if all(tr.status is TrackerStatus.working for tr in trackers) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            for infohash, made in ((single.infohash, single), (multi.infohash, multi)):
                t = started[infohash]
                assert t.state is TorrentState.seeding
                assert t.save_path == str(rt.download_dir)
                assert t.content_path == str(rt.download_dir / made.name)
                assert isinstance(t.trackers, tuple)
                assert (t.trackers[0].status, t.trackers[0].seeds, t.trackers[0].peers) == (TrackerStatus.working, 0, 0)
                assert (t.seeds_swarm, t.peers_swarm) == (0, 0)
                assert t.ratio == 0.0 and t.eta is None
        finally:
            await rt.raw_remove(api, hashes)


@pytest.mark.parametrize("target_id", ids("scgi"))
async def test_location_elsewhere(target_pool: TargetPool, target_id: str, tmp_path: Path) -> None:
    # save_path is where the content is, not d.directory (multi-file: the torrent's own folder).
    async with session(target_pool, target_id) as (rt, adapter, api):
        location = rt.download_dir / "else where"
        single = make_torrent(location, tmp_path)
        multi = make_torrent(location, tmp_path, files=2)
        added = await api.add(str(single.torrent_path), str(multi.torrent_path), location=str(location), stopped=True)
        hashes = [single.infohash, multi.infohash]
        assert sorted(added.added) == sorted(hashes), added.errors
        try:
            listed = by_hash(await adapter.torrents(hashes, frozenset({"save_path", "content_path"})))
            for made in (single, multi):
                assert listed[made.infohash].save_path == str(location)
                assert listed[made.infohash].content_path == str(location / made.name)
        finally:
            await rt.raw_remove(api, hashes)


@pytest.mark.parametrize("target_id", ids("scgi"))
async def test_requests_do_not_grow_with_torrents(target_pool: TargetPool, target_id: str, tmp_path: Path) -> None:
    async with session(target_pool, target_id) as (rt, adapter, api):
        torrents = [make_torrent(rt.download_dir, tmp_path, size=16 * 1024) for _ in range(60)]
        hashes = [t.infohash for t in torrents]
        await adapter.connect()
        try:
            costs: list[dict[str, int]] = []
            for count in (1, 30, 60):
                added = await api.add(*(str(t.torrent_path) for t in torrents[:count]), stopped=True)
                assert added.success, added.errors
                for infohashes in (None, hashes[:count]):
                    before = dict(adapter.request_counts)
                    listed = await adapter.torrents(infohashes, ALL)
                    assert set(hashes[:count]) <= {t.infohash for t in listed}
                    costs.append(
                        {k: v - before.get(k, 0) for k, v in adapter.request_counts.items() if v != before.get(k)}
                    )
            # Files, trackers and peers included: one request either way, for 1, 30 or 60
            # torrents. Asked by infohash, their getters go in one system.multicall (12 calls
            # a torrent, the integer getters packed in one); given more than one such request
            # would take (60 torrents), one d.multicall2 over all.
            assert costs == [
                {"d.multicall2": 1},
                {"system.multicall": 1},
                {"d.multicall2": 1},
                {"system.multicall": 1},
                {"d.multicall2": 1},
                {"d.multicall2": 1},
            ]
            before = dict(adapter.request_counts)
            assert len(await adapter.torrents(hashes[:30], COMMON)) == 30
            assert adapter.request_counts["system.multicall"] == before["system.multicall"] + 1
        finally:
            await rt.raw_remove(api, hashes)


def reply_bytes(adapter: RtorrentAdapter) -> list[int]:
    """Record the size of every reply the adapter receives (appended to the returned list)."""
    sizes: list[int] = []
    transport: rtorrent_transport.RtorrentTransport = adapter._transport
    send = transport.send

    async def measured(body: bytes, method: str) -> rtorrent_transport.ReplyBody:
        reply = await send(body, method)
        sizes.append(len(reply))
        return reply

    transport.send = measured  # type: ignore[method-assign]
    return sizes


@pytest.mark.parametrize("target_id", ids("scgi"))
async def test_change_feed(target_pool: TargetPool, target_id: str, tmp_path: Path) -> None:
    async with session(target_pool, target_id) as (rt, adapter, api):
        first = make_torrent(rt.download_dir, tmp_path, files=2)
        later = make_torrent(rt.download_dir, tmp_path)
        hashes = await add_verified(api, [first])
        await adapter.connect()
        sizes = reply_bytes(adapter)
        feed = adapter.change_feed(COMMON)
        try:
            changes = await feed.poll()
            assert changes.present is not None and first.infohash in changes.present
            assert changes.present == {t.infohash for t in changes.changed}
            seen = by_hash(changes.changed)[first.infohash]
            # Every asked attribute, the same values as a listing's.
            [listed] = await adapter.torrents([first.infohash], COMMON)
            assert seen == listed
            assert seen.name == first.name and seen.size_total == first.size and seen.progress == 1.0
            assert recent(seen.added_at or None)
            await adapter.torrents(None, COMMON)  # every torrent, as the quiet poll lists them
            full_listing = sizes[-1]

            # A quiet poll: one d.multicall2, smaller than a full listing.
            counts = dict(adapter.request_counts)
            quiet = await feed.poll()
            assert {k: v - counts.get(k, 0) for k, v in adapter.request_counts.items()} == {
                **{k: 0 for k in counts},
                "d.multicall2": 1,
            }
            assert sizes[-1] < full_listing
            assert by_hash(quiet.changed)[first.infohash] == seen

            # Added: its never-changing attributes are read once, in a second request.
            added = await api.add(str(later.torrent_path), stopped=True)
            assert added.added == [later.infohash], added.errors
            hashes.append(later.infohash)
            counts = dict(adapter.request_counts)
            changes = await feed.poll()
            # The listing, and the fixed getters of just the new torrent.
            assert {k: v - counts.get(k, 0) for k, v in adapter.request_counts.items() if v != counts.get(k, 0)} == {
                "d.multicall2": 1,
                "system.multicall": 1,
            }
            new = by_hash(changes.changed)[later.infohash]
            assert (new.name, new.size_total, new.progress, new.state) == (
                later.name,
                later.size,
                0.0,
                TorrentState.stopped,
            )
            assert new.save_path == str(rt.download_dir)

            # Changed: the varying attributes are read on every poll.
            assert (await api.start(first.infohash)).success
            deadline = time.monotonic() + 30
            while by_hash((await feed.poll()).changed)[first.infohash].state is not TorrentState.seeding:
                assert time.monotonic() < deadline, "never seeding"
                await asyncio.sleep(0.1)

            # Removed: absent from present.
            await rt.raw_remove(api, [later.infohash])
            changes = await feed.poll()
            assert changes.present is not None
            assert later.infohash not in changes.present and first.infohash in changes.present
            assert later.infohash not in by_hash(changes.changed)
        finally:
            await feed.close()
            await rt.raw_remove(api, hashes)


@pytest.mark.parametrize("target_id", ids("scgi"))
async def test_watch(target_pool: TargetPool, target_id: str, tmp_path: Path) -> None:
    # The services over the feed: added, changed (label), removed.
    async with session(target_pool, target_id) as (rt, _, api):
        made = make_torrent(rt.download_dir, tmp_path)
        events: list[TorrentEvent] = []

        async def watch() -> None:
            async for event in api.watch(["name", "label", "state"], interval=0.1):
                events.append(event)

        async def seen(kind: type, **changes: Any) -> TorrentEvent:
            deadline = time.monotonic() + 20
            while True:
                for event in events:
                    mine = isinstance(event, kind) and event.infohash == made.infohash
                    if mine and (not changes or (isinstance(event, TorrentChanged) and event.changes == changes)):
                        return event
                assert time.monotonic() < deadline, (kind, changes, events)
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(watch())
        try:
            added = await api.add(str(made.torrent_path), stopped=True)
            assert added.added == [made.infohash], added.errors
            event = await seen(TorrentAdded)
            assert isinstance(event, TorrentAdded)
            assert (event.torrent.name, event.torrent.label) == (made.name, None)
            await api.call("d.custom1.set", made.infohash, "caf%C3%A9")
            await seen(TorrentChanged, label="café")
            await rt.raw_remove(api, [made.infohash])
            await seen(TorrentRemoved)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await rt.raw_remove(api, [made.infohash])


@pytest.mark.parametrize("target_id", ids("scgi"))
async def test_default_attributes_in_one_request(target_pool: TargetPool, target_id: str, tmp_path: Path) -> None:
    async with session(target_pool, target_id) as (rt, adapter, api):
        made = make_torrent(rt.download_dir, tmp_path)
        hashes = await add_verified(api, [made])
        try:
            listed = by_hash(await api.get_torrents())
            t = listed[made.infohash]
            before = dict(adapter.request_counts)
            assert (await adapter.torrents(None, DEFAULT_ATTRIBUTES))[-1] == listed[made.infohash]
            assert adapter.request_counts["d.multicall2"] == before.get("d.multicall2", 0) + 1
            assert sum(adapter.request_counts.values()) == sum(before.values()) + 2  # with connect's
            assert all(getattr(t, a) is not msgspec.UNSET for a in DEFAULT_ATTRIBUTES)
            assert t.files is msgspec.UNSET
            # No sentinel anywhere: numbers are non-negative, unknowns None.
            for name in DEFAULT_ATTRIBUTES:
                value = getattr(t, name)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    assert value >= 0, (name, value)
        finally:
            await rt.raw_remove(api, hashes)
