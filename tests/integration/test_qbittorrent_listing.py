"""qBittorrent listing (get_torrents) and change feed (sync/maindata), against real daemons."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
import torf

import aiobtclientapi
from aiobtclientapi import APIBase, TorrentState
from aiobtclientapi.adapters.qbittorrent import QbittorrentAdapter
from aiobtclientapi.adapters.qbittorrent.client import INCLUDE_FILES, INCLUDE_TRACKERS, PER_TORRENT_REQUESTS
from aiobtclientapi.application.ports import TorrentChanges
from aiobtclientapi.domain.torrent import DEFAULT_ATTRIBUTES, FilePriority, Torrent, TrackerStatus
from aiobtclientapi.testing._daemon import NativeRunner
from aiobtclientapi.testing._qbittorrent import QbittorrentDaemon, QbittorrentTarget
from aiobtclientapi.testing._torrents import TestTorrent, make_torrent
from aiobtclientapi.testing._tracker import announce_url
from tests.contract.test_listing import added_and_verified

FILES = 3
FILE_SIZE = 64 * 1024
FEED_ATTRIBUTES = frozenset({"name", "state", "progress"})


@pytest.fixture(scope="module")
def daemon(runner: NativeRunner, tmp_path_factory: pytest.TempPathFactory) -> Iterator[QbittorrentDaemon]:
    daemon = QbittorrentDaemon(tmp_path_factory.mktemp("qbittorrent-listing"), runner)
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture
async def api(daemon: QbittorrentDaemon) -> AsyncIterator[APIBase]:
    api = aiobtclientapi.api("qbittorrent", daemon.url)
    async with api:
        yield api


def adapter_of(api: APIBase) -> QbittorrentAdapter:
    assert isinstance(api.port, QbittorrentAdapter)
    return api.port


def webapi_version(api: APIBase) -> tuple[int, ...]:
    return adapter_of(api)._version


def new_torrent(daemon: QbittorrentDaemon, tmp_path: Path, **kwargs: Any) -> TestTorrent:
    return make_torrent(daemon.download_dir, tmp_path / "torrents", **kwargs)


def one_file_in_folder(daemon: QbittorrentDaemon, tmp_path: Path, *, private: bool) -> TestTorrent:
    """A torrent of one file inside its own folder (qBittorrent's content_path gives the file)."""
    name = f"folder-{os.urandom(6).hex()}"
    folder = daemon.download_dir / name
    folder.mkdir(parents=True)
    (folder / "only.bin").write_bytes(os.urandom(40_000))
    torrent = torf.Torrent(path=folder, private=private, piece_size=16 * 1024, trackers=[announce_url()])
    torrent.generate()
    path = tmp_path / f"{name}.torrent"
    torrent.write(path)
    return TestTorrent(
        torrent_path=path,
        infohash=str(torrent.infohash).lower(),
        name=name,
        location=daemon.download_dir,
        size=40_000,
    )


async def added(api: APIBase, *torrents: TestTorrent) -> None:
    response = await api.add(*(str(t.torrent_path) for t in torrents), location=str(torrents[0].location), stopped=True)
    assert response.success, response.errors


async def only(api: APIBase, infohash: str, attributes: Any = None) -> Torrent:
    torrents = await api.get_torrents(infohash, attributes=attributes)
    assert [t.infohash for t in torrents] == [infohash]
    return torrents[0]


def assert_recent(moment: object, since: datetime) -> None:
    assert isinstance(moment, datetime) and moment.utcoffset() == timedelta(0), moment
    assert since - timedelta(seconds=2) <= moment <= datetime.now(UTC) + timedelta(seconds=2), (moment, since)


class Recorder:
    """Wraps the adapter's transport: requests in flight at most, reply bytes by method."""

    def __init__(self, adapter: QbittorrentAdapter) -> None:
        self.bytes: Counter[str] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        transport = adapter._transport
        send = transport.request

        async def request(verb: str, method: str, **kwargs: Any) -> Any:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                reply = await send(verb, method, **kwargs)
            finally:
                self.in_flight -= 1
            self.bytes[method] += len(reply.body)
            return reply

        transport.request = request  # type: ignore[method-assign]


# --- torrents/info ------------------------------------------------------------------------------
async def test_fields_of_a_complete_multifile_torrent(api: APIBase, daemon: QbittorrentDaemon, tmp_path: Path) -> None:
    since = datetime.now(UTC)
    torrent = new_torrent(daemon, tmp_path, files=FILES, size=FILES * FILE_SIZE)
    await added_and_verified(api, torrent)
    await api.call("torrents/createCategory", category=f"cat-{torrent.name}", savePath="")
    await api.call("torrents/setCategory", hashes=torrent.infohash, category=f"cat-{torrent.name}")
    await api.call("torrents/addTags", hashes=torrent.infohash, tags="t 2,t1")
    size = FILES * FILE_SIZE

    found = await only(api, torrent.infohash)
    assert {name for name in Torrent.__struct_fields__ if getattr(found, name) is not msgspec.UNSET} == (
        DEFAULT_ATTRIBUTES | {"infohash"}
    )
    assert (found.name, found.infohash_v2, found.state, found.progress) == (
        torrent.name,
        None,
        TorrentState.stopped,
        1.0,
    )
    assert (found.size_total, found.size_wanted, found.size_done) == (size, size, size)
    assert (found.downloaded, found.uploaded, found.rate_down, found.rate_up, found.ratio) == (0, 0, 0, 0, 0.0)
    assert found.eta is None  # qBittorrent says 8640000
    assert (found.seeds_connected, found.peers_connected) == (0, 0)
    assert isinstance(found.seeds_swarm, int) and found.seeds_swarm >= 0
    assert isinstance(found.peers_swarm, int) and found.peers_swarm >= 0
    assert found.save_path == str(daemon.download_dir)
    assert found.content_path == str(daemon.download_dir / torrent.name)
    assert found.label == f"cat-{torrent.name}"
    assert sorted(found.tags) == ["t 2", "t1"]  # type: ignore[arg-type]
    assert_recent(found.added_at, since)
    assert_recent(found.completed_at, since)
    assert found.error is None
    assert found.is_private is True


async def test_fields_without_data_have_no_sentinels(api: APIBase, daemon: QbittorrentDaemon, tmp_path: Path) -> None:
    torrent = new_torrent(daemon, tmp_path, files=FILES, size=FILES * FILE_SIZE, keep_content=False)
    await added_and_verified(api, torrent)
    found = await only(api, torrent.infohash)
    assert (found.state, found.progress, found.size_done) == (TorrentState.stopped, 0.0, 0)
    assert found.size_total == FILES * FILE_SIZE
    assert found.eta is None
    assert found.completed_at is None  # not 1970
    assert found.label is None and found.tags == ()
    assert found.ratio == 0.0


async def test_files_trackers_and_peers(api: APIBase, daemon: QbittorrentDaemon, tmp_path: Path) -> None:
    multi = new_torrent(daemon, tmp_path, files=FILES, size=FILES * FILE_SIZE)
    single = new_torrent(daemon, tmp_path)
    folder = one_file_in_folder(daemon, tmp_path, private=False)
    await added_and_verified(api, multi, single, folder)
    found = {
        t.infohash: t
        for t in await api.get_torrents(
            multi.infohash,
            single.infohash,
            folder.infohash,
            attributes=["files", "trackers", "peers", "content_path", "is_private"],
        )
    }
    files = found[multi.infohash].files
    assert isinstance(files, tuple)
    assert sorted((f.path, f.size, f.progress, f.wanted, f.priority) for f in files) == [
        (f"file{i}.bin", FILE_SIZE, 1.0, True, FilePriority.normal) for i in range(FILES)
    ]
    assert [(f.path, f.size) for f in found[single.infohash].files] == [(single.name, single.size)]  # type: ignore[union-attr]
    # One file in a folder: the folder is the content, the file's path is below it.
    assert [(f.path, f.size) for f in found[folder.infohash].files] == [("only.bin", 40_000)]  # type: ignore[union-attr]
    assert found[folder.infohash].content_path == str(daemon.download_dir / folder.name)
    assert found[single.infohash].content_path == str(daemon.download_dir / single.name)
    assert (found[folder.infohash].is_private, found[multi.infohash].is_private) == (False, True)
    for torrent in found.values():
        # No "** [DHT] **" pseudo rows.
        trackers = torrent.trackers
        assert isinstance(trackers, tuple)
        assert [(t.url, t.tier) for t in trackers] == [(announce_url(), 0)]
        assert isinstance(trackers[0].status, TrackerStatus)
        assert all(count is None or count >= 0 for count in (trackers[0].seeds, trackers[0].peers))
        assert torrent.peers == ()
        assert torrent.name is msgspec.UNSET


async def test_scalars_are_one_request(api: APIBase, daemon: QbittorrentDaemon, tmp_path: Path) -> None:
    torrents = [new_torrent(daemon, tmp_path, size=16 * 1024) for _ in range(5)]
    await added(api, *torrents)
    adapter = adapter_of(api)
    before = Counter(adapter.request_counts)
    found = await api.get_torrents(*(t.infohash for t in torrents), attributes=DEFAULT_ATTRIBUTES - {"is_private"})
    assert len(found) == len(torrents)
    assert Counter(adapter.request_counts) - before == Counter({"torrents/info": 1})

    # is_private: in torrents/info from 5.0; on 4.x once per torrent, then remembered.
    await api.get_torrents(*(t.infohash for t in torrents), attributes=["is_private"])
    before = Counter(adapter.request_counts)
    again = await api.get_torrents(*(t.infohash for t in torrents), attributes=["is_private"])
    assert all(t.is_private is True for t in again)
    assert Counter(adapter.request_counts) - before == Counter({"torrents/info": 1})


async def test_per_torrent_requests_are_bounded(api: APIBase, daemon: QbittorrentDaemon, tmp_path: Path) -> None:
    count = 3 * PER_TORRENT_REQUESTS
    torrents = [new_torrent(daemon, tmp_path, size=16 * 1024) for _ in range(count)]
    await added(api, *torrents)
    adapter = adapter_of(api)
    recorder = Recorder(adapter)
    before = Counter(adapter.request_counts)
    found = await api.get_torrents(*(t.infohash for t in torrents), attributes=["files", "trackers"])
    assert len(found) == count and all(len(t.files) == 1 for t in found)  # type: ignore[arg-type]
    sent = Counter(adapter.request_counts) - before
    version = webapi_version(api)
    assert sent["torrents/info"] == 1
    assert sent["torrents/files"] == (0 if version >= INCLUDE_FILES else count)
    assert sent["torrents/trackers"] == (0 if version >= INCLUDE_TRACKERS else count)
    assert recorder.max_in_flight <= PER_TORRENT_REQUESTS


async def test_unknown_and_removed_torrents_are_absent(api: APIBase, daemon: QbittorrentDaemon, tmp_path: Path) -> None:
    torrent = new_torrent(daemon, tmp_path)
    await added_and_verified(api, torrent)
    assert await api.get_torrents("00" * 20, attributes=["files"]) == []
    target = QbittorrentTarget(daemon)
    await target.raw_remove(api, [torrent.infohash])
    assert torrent.infohash not in await target.raw_infohashes(api)
    assert (torrent.location / torrent.name).exists()  # data kept
    assert await api.get_torrents(torrent.infohash, attributes=["name", "files"]) == []


# --- sync/maindata ----------------------------------------------------------------------------
async def poll_until(feed: Any, infohash: str, want: Any, timeout: float = 20) -> TorrentChanges:
    """Poll until a poll's changes satisfy `want`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        changes: TorrentChanges = await feed.poll()
        if want(changes):
            return changes
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no such change of {infohash} within {timeout}s: {changes}")
        await asyncio.sleep(0.5)


def changed(changes: TorrentChanges, infohash: str) -> Torrent | None:
    return next((t for t in changes.changed if t.infohash == infohash), None)


async def test_change_feed(api: APIBase, daemon: QbittorrentDaemon, tmp_path: Path) -> None:
    before = new_torrent(daemon, tmp_path)
    await added_and_verified(api, before)
    feed = api.port.change_feed(FEED_ATTRIBUTES | {"is_private"})
    assert feed.news is None
    first = await feed.poll()
    assert first.present is not None and before.infohash in first.present
    found = changed(first, before.infohash)
    assert found is not None and (found.name, found.state, found.progress) == (before.name, TorrentState.stopped, 1.0)
    assert found.is_private is True and found.size_total is msgspec.UNSET
    assert {t.infohash for t in first.changed} == first.present

    # Quiet: nothing about it, and less than a listing costs.
    recorder = Recorder(adapter_of(api))
    quiet = await feed.poll()
    assert changed(quiet, before.infohash) is None and quiet.present is None and quiet.removed == []
    await api.get_torrents(attributes=FEED_ATTRIBUTES)
    assert recorder.bytes["sync/maindata"] < recorder.bytes["torrents/info"], recorder.bytes

    # Added, changed, removed.
    torrent = new_torrent(daemon, tmp_path)
    response = await api.add(str(torrent.torrent_path), location=str(torrent.location), stopped=True)
    assert response.success, response.errors
    added = await poll_until(feed, torrent.infohash, lambda c: changed(c, torrent.infohash) is not None)
    assert added.present is None
    assert (await api.start(torrent.infohash)).success
    seeding = await poll_until(
        feed, torrent.infohash, lambda c: getattr(changed(c, torrent.infohash), "state", None) is TorrentState.seeding
    )
    assert changed(seeding, torrent.infohash).progress == 1.0  # type: ignore[union-attr]
    await QbittorrentTarget(daemon).raw_remove(api, [torrent.infohash])
    removed = await poll_until(feed, torrent.infohash, lambda c: torrent.infohash in c.removed)
    assert changed(removed, torrent.infohash) is None
    await feed.close()


async def test_change_feed_after_daemon_restart(api: APIBase, daemon: QbittorrentDaemon, tmp_path: Path) -> None:
    torrent = new_torrent(daemon, tmp_path)
    await added_and_verified(api, torrent)
    feed = api.port.change_feed(FEED_ATTRIBUTES)
    assert (await feed.poll()).present is not None
    assert (await feed.poll()).present is None
    # A response ID the daemon never gave: a full update, on the same connection.
    feed._rid += 1000  # type: ignore[attr-defined]
    connections = adapter_of(api).connections
    changes = await feed.poll()
    assert changes.present is not None and torrent.infohash in changes.present
    assert adapter_of(api).connections == connections
    assert (await feed.poll()).present is None

    await asyncio.to_thread(daemon.restart)
    # Its rid means nothing to the restarted daemon: a full update again.
    changes = await feed.poll()
    assert changes.present is not None and torrent.infohash in changes.present
    assert changed(changes, torrent.infohash) is not None

    # Down: ConnectionError; back: everything again.
    await asyncio.to_thread(daemon.stop)
    with pytest.raises(aiobtclientapi.ConnectionError):
        await feed.poll()
    await asyncio.to_thread(daemon.start)
    changes = await feed.poll()
    assert changes.present is not None and torrent.infohash in changes.present
    await feed.close()


async def test_watch_reports_removal(api: APIBase, daemon: QbittorrentDaemon, tmp_path: Path) -> None:
    torrent = new_torrent(daemon, tmp_path)
    await added_and_verified(api, torrent)
    events = []
    async with asyncio.timeout(30):
        async for event in api.watch(attributes=["name"], interval=0.2):
            if event.infohash != torrent.infohash:
                continue
            events.append(type(event).__name__)
            if len(events) == 1:
                await QbittorrentTarget(daemon).raw_remove(api, [torrent.infohash])
            else:
                break
    assert events == ["TorrentAdded", "TorrentRemoved"]
