"""Transmission listing and change feed, against the real daemons."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from aiobtclientapi.adapters.transmission import TransmissionAdapter
from aiobtclientapi.application.ports import TorrentChanges
from aiobtclientapi.domain.torrent import ATTRIBUTES, DEFAULT_ATTRIBUTES, FilePriority, TorrentState, TrackerStatus
from aiobtclientapi.testing import _transmission as transmission
from aiobtclientapi.testing._containers import target_param
from aiobtclientapi.testing._pool import TargetPool
from aiobtclientapi.testing._torrents import TestTorrent, make_torrent
from aiobtclientapi.testing._tracker import announce_url
from tests.contract.conftest import settle

#: recently-active's window on every version (RECENTLY_ACTIVE_SECONDS).
_WINDOW = 60


@pytest.fixture(scope="module", params=[target_param(i) for i in transmission.target_ids()])
def tm_target(request: pytest.FixtureRequest, target_pool: TargetPool) -> transmission.TransmissionTarget:
    target = target_pool.get(request.param)
    assert isinstance(target, transmission.TransmissionTarget)
    return target


#: The change feed's two ways: the native 3.00 sweeps labels itself, 4.1.0 and later show
#: them in recently-active; the newest image stands for the later ones (the test waits
#: out the daemon's minute-long window: 64 s per version).
_FEED_IDS = transmission.target_ids()[:1] + transmission.target_ids()[1:][-1:]


@pytest.fixture(scope="module", params=[target_param(i) for i in _FEED_IDS])
def feed_target(request: pytest.FixtureRequest, target_pool: TargetPool) -> transmission.TransmissionTarget:
    target = target_pool.get(request.param)
    assert isinstance(target, transmission.TransmissionTarget)
    return target


def _port(api: Any) -> TransmissionAdapter:
    port = api._port
    assert isinstance(port, TransmissionAdapter)
    return port


async def _added(
    target: transmission.TransmissionTarget, api: Any, tmp_path: Path, count: int = 1, **kwargs: Any
) -> list[TestTorrent]:
    torrents = [make_torrent(target.download_dir, tmp_path, **kwargs) for _ in range(count)]
    response = await api.add(*(str(t.torrent_path) for t in torrents), location=str(target.download_dir), stopped=True)
    assert response.success, response.errors
    await settle(target, api, [t.infohash for t in torrents])
    return torrents


def _record_rpc(port: TransmissionAdapter) -> list[tuple[str, dict[str, Any] | None]]:
    """Every RPC request the adapter sends from now on: (method, arguments)."""
    sent: list[tuple[str, dict[str, Any] | None]] = []
    transport = port._transport
    original = transport.request

    async def request(method: str, arguments: dict[str, Any] | None) -> bytearray:
        sent.append((method, arguments))
        return await original(method, arguments)

    transport.request = request  # type: ignore[method-assign]
    return sent


async def test_values_of_complete_and_empty_torrents(
    tm_target: transmission.TransmissionTarget, tmp_path: Path
) -> None:
    async with tm_target.make_api() as api:
        (multi,) = await _added(tm_target, api, tmp_path, files=3, size=3 * 16 * 1024)
        (empty,) = await _added(tm_target, api, tmp_path, keep_content=False)
        torrents = {
            t.infohash: t for t in await _port(api).torrents([multi.infohash, empty.infohash], frozenset(ATTRIBUTES))
        }
    now = datetime.now(UTC)
    download_dir = str(tm_target.download_dir)

    full = torrents[multi.infohash]
    assert full.name == multi.name
    assert full.infohash_v2 is None
    assert full.state is TorrentState.stopped
    assert (full.progress, full.size_total, full.size_wanted, full.size_done) == (1.0, 49152, 49152, 49152)
    assert (full.downloaded, full.uploaded, full.rate_down, full.rate_up, full.ratio) == (0, 0, 0, 0, 0.0)
    assert full.eta is None  # done: no sentinel, no time to the seed ratio
    assert (full.seeds_connected, full.peers_connected, full.seeds_swarm, full.peers_swarm) == (0, 0, None, None)
    assert full.save_path == download_dir
    assert full.content_path == f"{download_dir}/{multi.name}"
    assert (full.label, full.tags, full.error, full.is_private) == (None, (), None, True)
    assert isinstance(full.added_at, datetime)
    assert now - timedelta(minutes=5) < full.added_at <= now + timedelta(seconds=5)
    # 3.00 leaves doneDate 0 for a torrent complete when added; 4.x sets it.
    completed = full.completed_at
    assert completed is None or (
        isinstance(completed, datetime) and full.added_at - timedelta(seconds=5) <= completed <= now
    )
    assert full.files and [(f.path, f.size, f.progress, f.wanted, f.priority) for f in full.files] == [
        (f"file{i}.bin", 16384, 1.0, True, FilePriority.normal) for i in range(3)
    ]
    assert full.trackers and len(full.trackers) == 1
    tracker = full.trackers[0]
    assert (tracker.url, tracker.tier, tracker.status) == (announce_url(), 0, TrackerStatus.not_contacted)
    assert (tracker.seeds, tracker.peers, tracker.message) == (None, None, None)
    assert full.peers == ()

    none = torrents[empty.infohash]
    assert (none.progress, none.size_total, none.size_done) == (0.0, empty.size, 0)
    assert (none.eta, none.completed_at) == (None, None)  # stopped: no eta; never complete
    assert none.content_path == f"{download_dir}/{empty.name}"
    assert none.files and [(f.path, f.size, f.progress) for f in none.files] == [(empty.name, empty.size, 0.0)]


async def test_progress_follows_verification(tm_target: transmission.TransmissionTarget, tmp_path: Path) -> None:
    async with tm_target.make_api() as api:
        (torrent,) = await _added(tm_target, api, tmp_path, files=2, size=64 * 1024)
        port = _port(api)
        assert (await port.torrents([torrent.infohash], frozenset({"progress"})))[0].progress == 1.0
        # Half the data corrupt: 2 of the 4 pieces fail. (Transmission won't
        # verify at all when every file is gone: "No data found!".)
        (tm_target.download_dir / torrent.name / "file0.bin").write_bytes(bytes(32 * 1024))
        response = await api.verify(torrent.infohash)
        assert response.success, response.errors
        await settle(tm_target, api, [torrent.infohash])
        (after,) = await port.torrents([torrent.infohash], frozenset({"progress", "size_done", "completed_at", "eta"}))
        assert (after.progress, after.size_done, after.eta, after.completed_at) == (0.5, 32 * 1024, None, None)


async def test_first_label_and_the_others_as_tags(tm_target: transmission.TransmissionTarget, tmp_path: Path) -> None:
    async with tm_target.make_api() as api:
        (torrent,) = await _added(tm_target, api, tmp_path)
        await api.call("torrent-set", ids=[torrent.infohash], labels=["first", "second", "third"])
        (got,) = await _port(api).torrents([torrent.infohash], frozenset({"label", "tags"}))
        assert (got.label, got.tags) == ("first", ("second", "third"))
        assert got.name is msgspec.UNSET  # not asked


async def test_one_request_with_only_the_needed_fields(
    tm_target: transmission.TransmissionTarget, tmp_path: Path
) -> None:
    async with tm_target.make_api() as api:
        torrents = await _added(tm_target, api, tmp_path, count=12)
        hashes = [t.infohash for t in torrents]
        port = _port(api)
        sent = _record_rpc(port)
        got = await api.get_torrents(*hashes, attributes=("name",))
        assert sorted(t.infohash for t in got) == sorted(hashes)
        assert all(isinstance(t.name, str) and t.name.startswith("content-") for t in got)
        assert all(t.state is msgspec.UNSET for t in got)
        assert len(sent) == 1
        method, arguments = sent[0]
        assert method == "torrent-get"
        assert arguments is not None and arguments["fields"] == ["hashString", "name"]

        before = port.request_counts.get("torrent-get", 0)
        got = await api.get_torrents(*hashes, attributes=("files", "trackers", "peers", *DEFAULT_ATTRIBUTES))
        assert len(got) == len(hashes) and all(t.files and t.trackers is not None for t in got)
        assert port.request_counts["torrent-get"] == before + 1
        assert math.isfinite(got[0].ratio or 0.0)


async def _poll_until(feed: Any, check: Callable[[TorrentChanges], bool], what: str) -> TorrentChanges:
    """The first poll whose changes pass `check` (the daemon may show a change a moment late)."""
    for _ in range(20):
        changes: TorrentChanges = await feed.poll()
        if check(changes):
            return changes
        await asyncio.sleep(0.25)
    raise AssertionError(f"never reported: {what}")


def _changed(changes: TorrentChanges) -> set[str]:
    return {t.infohash for t in changes.changed}


async def test_change_feed(feed_target: transmission.TransmissionTarget, tmp_path: Path) -> None:
    """What recently-active reports after a quiet minute, and what it costs."""
    tm_target = feed_target
    attributes = frozenset({"name", "state", "label", "tags", "save_path"})
    async with tm_target.make_api() as api:
        port = _port(api)
        started, stopped, verified, labelled, removed, idle = await _added(tm_target, api, tmp_path, count=6)
        assert (await api.start(stopped.infohash)).success
        feed = port.change_feed(attributes)

        bytes_before = port._transport.http.bytes_received
        first = await feed.poll()
        full_bytes = port._transport.http.bytes_received - bytes_before
        assert first.present is not None and {t.infohash for t in (started, idle)} <= first.present
        assert first.present == {t.infohash for t in first.changed}

        # Stay within the window (the feed lists everything after a longer pause)
        # until nothing we did is recent.
        for _ in range(3):
            await asyncio.sleep(_WINDOW / 3 + 1)
            await feed.poll()
        bytes_before = port._transport.http.bytes_received
        quiet = await feed.poll()
        quiet_bytes = port._transport.http.bytes_received - bytes_before
        assert (quiet.changed, quiet.removed, quiet.present) == ([], [], None)
        assert quiet_bytes < full_bytes, (quiet_bytes, full_bytes)

        # Each change shows on its own, in the next poll.
        async def shows(action: Awaitable[Any], torrent: TestTorrent, what: str) -> TorrentChanges:
            await action
            changes = await _poll_until(feed, lambda c: torrent.infohash in _changed(c), what)
            assert idle.infohash not in _changed(changes)
            return changes

        changes = await shows(api.start(started.infohash), started, "start")
        assert next(t for t in changes.changed if t.infohash == started.infohash).state is not TorrentState.stopped
        await shows(api.stop(stopped.infohash), stopped, "stop")
        await shows(api.verify(verified.infohash), verified, "verify")
        # Not in recently-active before 4.1.0: the feed sweeps labels itself there.
        changes = await shows(api.call("torrent-set", ids=[labelled.infohash], labels=["l1", "l2"]), labelled, "labels")
        assert [(t.label, t.tags) for t in changes.changed if t.infohash == labelled.infohash] == [("l1", ("l2",))]
        new = make_torrent(tm_target.download_dir, tmp_path)
        changes = await shows(api.add(str(new.torrent_path), location=str(tm_target.download_dir)), new, "add")
        assert next(t for t in changes.changed if t.infohash == new.infohash).name == new.name

        await tm_target.raw_remove(api, [removed.infohash])
        changes = await _poll_until(feed, lambda c: removed.infohash in c.removed, "remove")
        assert removed.infohash not in _changed(changes)
        assert (await feed.poll()).removed == []  # said once, though the daemon repeats it for a minute

        # A new connection voids the ids: the next poll lists everything.
        await port.disconnect()
        again = await feed.poll()
        assert again.present is not None and new.infohash in again.present and removed.infohash not in again.present
        assert (await feed.poll()).present is None
        await feed.close()


async def test_change_feed_after_a_daemon_restart(target_pool: TargetPool, tmp_path: Path) -> None:
    target = target_pool.get(transmission.target_ids()[0])
    assert isinstance(target, transmission.TransmissionTarget)
    async with target.make_api() as api:
        torrents = await _added(target, api, tmp_path, count=3)
        feed = _port(api).change_feed(frozenset({"name"}))
        await feed.poll()
        await target.raw_remove(api, [torrents[0].infohash])
        target.daemon.restart()  # the ids are given out again, in another order
        changes = await feed.poll()
        assert changes.present is not None
        assert torrents[0].infohash not in changes.present
        assert {t.infohash for t in torrents[1:]} <= changes.present
        assert changes.removed == []
