"""Deluge listing (torrents()) and change feed against real daemons."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

import aiobtclientapi
from aiobtclientapi import APIBase
from aiobtclientapi._registry import parse_url
from aiobtclientapi.adapters.deluge import DelugeAdapter
from aiobtclientapi.adapters.deluge._wire import ATTRIBUTE_KEYS
from aiobtclientapi.application.ports import ClientPort, ConnectionOptions, TorrentChanges
from aiobtclientapi.domain.torrent import (
    ATTRIBUTES,
    DEFAULT_ATTRIBUTES,
    FilePriority,
    Torrent,
    TorrentState,
    TrackerStatus,
)
from aiobtclientapi.testing._daemon import NativeRunner
from aiobtclientapi.testing._deluge import DelugeDaemon, DelugeTarget
from aiobtclientapi.testing._torrents import TestTorrent, make_torrent
from aiobtclientapi.testing._tracker import announce_url
from tests.waiting import poll_until

ALL = frozenset(ATTRIBUTES)
SCALARS = DEFAULT_ATTRIBUTES


@pytest.fixture(scope="module")
def daemon(runner: NativeRunner, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DelugeDaemon]:
    # Its own daemon: the restart test must not disturb others.
    deluged = DelugeDaemon(tmp_path_factory.mktemp("deluge-listing"), runner)
    deluged.start()
    try:
        yield deluged
    finally:
        deluged.stop()


@pytest.fixture
async def adapter(daemon: DelugeDaemon) -> AsyncIterator[DelugeAdapter]:
    url = parse_url("deluge", daemon.url)
    deluge = DelugeAdapter(url, ConnectionOptions(timeout=10))
    await deluge.connect()
    try:
        yield deluge
    finally:
        await deluge.disconnect()


@pytest.fixture
async def api(adapter: DelugeAdapter) -> APIBase:
    return APIBase(adapter)


async def _add(api: APIBase, daemon: DelugeDaemon, torrents: list[TestTorrent], *, stopped: bool = False) -> None:
    response = await api.add(
        *(str(t.torrent_path) for t in torrents), location=str(daemon.download_dir), stopped=stopped
    )
    assert sorted(response.added) == sorted(t.infohash for t in torrents), response.errors


async def _poll(read: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], what: str, timeout: float = 30) -> Any:
    return await poll_until(read, done, what, timeout)


async def _settled(adapter: DelugeAdapter, hashes: list[str]) -> dict[str, Torrent]:
    """The torrents with every attribute once none is verifying any more."""

    async def read() -> dict[str, Torrent]:
        return {t.infohash: t for t in await adapter.torrents(hashes, ALL)}

    return await _poll(  # type: ignore[no-any-return]
        read,
        lambda ts: (
            len(ts) == len(hashes)
            and all(t.state not in (TorrentState.verifying, TorrentState.queued) for t in ts.values())
        ),
        "torrents to settle",
    )


def _check_no_sentinels(torrent: Torrent) -> None:
    for name in ("size_total", "size_wanted", "size_done", "downloaded", "uploaded", "rate_down", "rate_up"):
        value = getattr(torrent, name)
        assert isinstance(value, int) and value >= 0, (name, value)
    for name in ("seeds_connected", "peers_connected", "seeds_swarm", "peers_swarm"):
        value = getattr(torrent, name)
        assert value is None or (isinstance(value, int) and value >= 0), (name, value)
    assert isinstance(torrent.progress, float) and 0.0 <= torrent.progress <= 1.0
    assert torrent.eta is None or (isinstance(torrent.eta, timedelta) and torrent.eta > timedelta(0))
    assert torrent.ratio is None or (isinstance(torrent.ratio, float) and torrent.ratio >= 0)
    for name in ("added_at", "completed_at"):
        value = getattr(torrent, name)
        assert value is None or (isinstance(value, datetime) and value.year > 2000 and value.tzinfo is UTC)


def test_adapter_fits_the_port(daemon: DelugeDaemon) -> None:
    port: ClientPort = DelugeAdapter(parse_url("deluge", daemon.url), ConnectionOptions())  # mypy checks
    assert port.change_feed(frozenset({"name"})).news is not None


# --- listing ------------------------------------------------------------------------------------
async def test_listing_values(adapter: DelugeAdapter, api: APIBase, daemon: DelugeDaemon, tmp_path: Path) -> None:
    started = datetime.now(UTC) - timedelta(seconds=5)
    multi = make_torrent(daemon.download_dir, tmp_path, files=3, size=3 * 64 * 1024)
    single = make_torrent(daemon.download_dir, tmp_path, size=128 * 1024)
    missing = make_torrent(daemon.download_dir, tmp_path, keep_content=False)
    await _add(api, daemon, [multi, single, missing])
    torrents = await _settled(adapter, [multi.infohash, single.infohash, missing.infohash])
    for torrent in torrents.values():
        _check_no_sentinels(torrent)
        assert torrent.infohash_v2 is None
        assert torrent.label is None  # the Label plugin is off
        assert torrent.tags == ()
        assert torrent.is_private is True
        assert torrent.error is None
        assert torrent.save_path == str(daemon.download_dir)
        assert isinstance(torrent.added_at, datetime) and torrent.added_at >= started
        assert torrent.seeds_connected == 0 and torrent.peers_connected == 0
        assert torrent.rate_down == 0 and torrent.rate_up == 0
        assert torrent.downloaded == 0 and torrent.uploaded == 0
        assert torrent.ratio == 0.0  # Deluge's -1 without data: nothing uploaded either
        assert torrent.eta is None
        [tracker] = torrent.trackers  # type: ignore[misc]
        assert tracker.url == announce_url() and tracker.tier == 0
        assert tracker.seeds is None and tracker.peers is None
        assert tracker.status in (TrackerStatus.working, TrackerStatus.updating, TrackerStatus.not_contacted)
        assert torrent.peers == ()

    seeding = torrents[multi.infohash]
    assert seeding.name == multi.name
    assert seeding.state is TorrentState.seeding
    assert seeding.progress == 1.0
    assert seeding.size_total == seeding.size_wanted == seeding.size_done == 3 * 64 * 1024
    assert seeding.content_path == str(daemon.download_dir / multi.name)
    assert isinstance(seeding.completed_at, datetime) and seeding.completed_at >= started
    assert seeding.files == tuple(
        aiobtclientapi.TorrentFileInfo(
            path=f"file{i}.bin", size=64 * 1024, progress=1.0, wanted=True, priority=FilePriority.normal
        )
        for i in range(3)
    )

    one = torrents[single.infohash]
    assert one.progress == 1.0 and one.size_total == 128 * 1024
    assert one.content_path == str(daemon.download_dir / single.name)
    assert [(f.path, f.size, f.progress) for f in one.files] == [(single.name, 128 * 1024, 1.0)]  # type: ignore[union-attr]

    empty = torrents[missing.infohash]
    assert empty.state is TorrentState.downloading
    assert empty.progress == 0.0 and empty.size_done == 0 and empty.size_total == 256 * 1024
    assert empty.completed_at is None
    assert [(f.path, f.progress, f.wanted) for f in empty.files] == [(missing.name, 0.0, True)]  # type: ignore[union-attr]

    # A file not wanted: no priority, still listed.
    await adapter.call("core.set_torrent_options", [multi.infohash], {"file_priorities": [0, 1, 7]})
    [changed] = await _poll(
        lambda: adapter.torrents([multi.infohash], frozenset({"files", "size_wanted"})),
        lambda ts: ts[0].files[0].wanted is False,
        "file priorities",
    )
    assert [(f.wanted, f.priority) for f in changed.files] == [
        (False, None),
        (True, FilePriority.low),
        (True, FilePriority.high),
    ]
    # libtorrent counts a torrent it has all of as wanted in full.
    assert changed.size_wanted == 3 * 64 * 1024
    assert changed.name is msgspec.UNSET

    # The facade: the same values, only the asked ones set.
    [facade] = await api.get_torrents(single.infohash, attributes="name,progress")
    assert (facade.name, facade.progress, facade.state) == (single.name, 1.0, msgspec.UNSET)


async def test_stopped_and_verifying_progress(
    adapter: DelugeAdapter, api: APIBase, daemon: DelugeDaemon, tmp_path: Path
) -> None:
    # Deluge's `progress` is the check's while Checking: ours stays the downloaded fraction.
    torrent = make_torrent(daemon.download_dir, tmp_path, size=4 * 1024 * 1024)
    await _add(api, daemon, [torrent])
    await _settled(adapter, [torrent.infohash])
    assert (await api.stop(torrent.infohash)).success
    [stopped] = await adapter.torrents([torrent.infohash], frozenset({"state", "progress"}))
    assert stopped.state is TorrentState.stopped and stopped.progress == 1.0
    await adapter.verify([torrent.infohash])
    seen: set[TorrentState] = set()
    for _ in range(40):
        [t] = await adapter.torrents([torrent.infohash], frozenset({"state", "progress"}))
        seen.add(t.state)  # type: ignore[arg-type]
        assert isinstance(t.progress, float) and 0.0 <= t.progress <= 1.0
        if t.state is TorrentState.stopped and len(seen) > 1:
            break
        await asyncio.sleep(0.05)
    [after] = await adapter.torrents([torrent.infohash], frozenset({"state", "progress"}))
    assert after.progress == 1.0


async def test_one_request_and_only_needed_keys(
    adapter: DelugeAdapter, api: APIBase, daemon: DelugeDaemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torrents = [make_torrent(daemon.download_dir, tmp_path, size=16 * 1024) for _ in range(30)]
    await _add(api, daemon, torrents, stopped=True)
    hashes = [t.infohash for t in torrents]
    sent: list[tuple[str, tuple[Any, ...]]] = []
    call = adapter.transport.call

    async def spy(method: str, *args: Any, **kwargs: Any) -> Any:
        sent.append((method, args))
        return await call(method, *args, **kwargs)

    monkeypatch.setattr(adapter.transport, "call", spy)
    before = adapter.request_counts.get("core.get_torrents_status", 0)
    listed = await adapter.torrents(hashes, ALL)
    assert sorted(t.infohash for t in listed) == sorted(hashes)
    everything = await adapter.torrents(None, SCALARS)
    assert {t.infohash for t in everything} >= set(hashes)
    assert adapter.request_counts["core.get_torrents_status"] - before == 2
    assert [method for method, _ in sent] == ["core.get_torrents_status"] * 2
    assert sent[0][1][0] == {"id": hashes}
    assert sent[1][1][0] == {}
    # The default attributes never fetch files, trackers or peers.
    assert not {"files", "file_progress", "file_priorities", "trackers", "peers"} & set(sent[1][1][1])

    async def keys_for(*attributes: str) -> list[str]:
        sent.clear()
        result = await adapter.torrents(hashes[:2], frozenset(attributes))
        assert all(t.infohash in hashes for t in result)
        for torrent in result:
            for name in ATTRIBUTES:
                assert (getattr(torrent, name) is msgspec.UNSET) is (name not in attributes), name
        [(_, args)] = sent
        return list(args[1])

    assert await keys_for("name") == ["name"]
    assert await keys_for("size_total", "rate_up") == ["total_size", "upload_payload_rate"]
    assert await keys_for("files") == ["file_priorities", "file_progress", "files"]
    assert await keys_for("peers") == ["peers"]
    # No key at all would mean every key to Deluge.
    assert await keys_for("tags", "infohash_v2") == ["hash"]
    assert await keys_for() == ["hash"]
    assert await keys_for("label") == ["hash", "label"]
    assert set(ATTRIBUTE_KEYS) == set(ATTRIBUTES)

    # Unknown ids are left out; an empty list asks nothing.
    sent.clear()
    assert await adapter.torrents([], ALL) == []
    assert sent == []
    unknown = "00000000000000000000000000000000000000aa"
    assert [t.infohash for t in await adapter.torrents([unknown, hashes[0]], ALL)] == [hashes[0]]


async def test_label_plugin(adapter: DelugeAdapter, api: APIBase, daemon: DelugeDaemon, tmp_path: Path) -> None:
    labelled, plain = (make_torrent(daemon.download_dir, tmp_path) for _ in range(2))
    await _add(api, daemon, [labelled, plain], stopped=True)
    hashes = [labelled.infohash, plain.infohash]
    await adapter.call("core.enable_plugin", "Label")
    try:
        await _poll(lambda: adapter.call("core.get_enabled_plugins"), lambda p: "Label" in p, "the Label plugin")
        labels = await adapter.call("label.get_labels")
        if "films" not in labels:
            await adapter.call("label.add", "films")
        await adapter.call("label.set_torrent", labelled.infohash, "films")
        listed = {t.infohash: t.label for t in await adapter.torrents(hashes, frozenset({"label"}))}
        assert listed == {labelled.infohash: "films", plain.infohash: None}

        # The plugin's key is not diffed: it comes in every row, and must not
        # make an unchanged torrent look changed.
        feed = adapter.change_feed(frozenset({"label", "name"}))
        try:
            first = await feed.poll()
            assert {t.infohash: t.label for t in first.changed if t.infohash in hashes} == listed
            assert (await feed.poll()).changed == []
            await adapter.call("label.set_torrent", plain.infohash, "films")
            [changed] = (await feed.poll()).changed
            assert (changed.infohash, changed.label) == (plain.infohash, "films")
        finally:
            await feed.close()
    finally:
        await adapter.call("core.disable_plugin", "Label")
        await _poll(lambda: adapter.call("core.get_enabled_plugins"), lambda p: "Label" not in p, "no Label plugin")
    listed = {t.infohash: t.label for t in await adapter.torrents(hashes, frozenset({"label"}))}
    assert listed == {labelled.infohash: None, plain.infohash: None}


async def test_peers_between_two_daemons(
    adapter: DelugeAdapter,
    api: APIBase,
    daemon: DelugeDaemon,
    runner: NativeRunner,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # A second daemon downloads from the first over loopback: real peers,
    # transfer totals, partial progress. The first has half the content, so
    # both stay connected with a known progress (libtorrent ignores rate
    # limits between local peers: a full download is over before anyone could look).
    mib = 1024 * 1024
    torrent = make_torrent(daemon.download_dir, tmp_path, files=2, size=8 * mib, piece_size=256 * 1024)
    second_file = daemon.download_dir / torrent.name / "file1.bin"
    aside = tmp_path / "file1.bin"
    second_file.rename(aside)
    await _add(api, daemon, [torrent])
    await _settled(adapter, [torrent.infohash])
    leecher = DelugeDaemon(tmp_path_factory.mktemp("deluge-leecher"), runner)
    leecher.start()
    leecher_port = DelugeAdapter(parse_url("deluge", leecher.url), ConnectionOptions(timeout=10))
    try:
        other = APIBase(leecher_port)
        await _add(other, leecher, [torrent])

        async def leecher_torrent() -> list[Torrent]:
            await leecher_port.call("core.connect_peer", torrent.infohash, "127.0.0.1", daemon.peer_port)
            return await leecher_port.torrents([torrent.infohash], ALL)

        # libtorrent adds to all_time_download a second after the bytes came.
        [half] = await _poll(
            leecher_torrent,
            lambda ts: ts[0].progress == 0.5 and len(ts[0].peers) == 1 and ts[0].downloaded >= 4 * mib,
            "half the download",
        )
        _check_no_sentinels(half)
        assert half.state is TorrentState.downloading
        assert half.size_done == 4 * mib and half.size_total == half.size_wanted == 8 * mib
        assert half.completed_at is None
        assert [(f.path, f.progress) for f in half.files] == [("file0.bin", 1.0), ("file1.bin", 0.0)]
        [peer] = half.peers
        assert peer.address.startswith("127.0.0.1:") and peer.progress == 0.5
        assert peer.client  # libtorrent's own name for Deluge
        assert (half.seeds_connected, half.peers_connected) == (0, 1)

        [seed_side] = await _poll(
            lambda: adapter.torrents([torrent.infohash], ALL),
            lambda ts: len(ts[0].peers) == 1 and ts[0].peers[0].progress == 0.5 and ts[0].uploaded >= 4 * mib,
            "the upload to show",
        )
        _check_no_sentinels(seed_side)
        assert seed_side.progress == 0.5 and seed_side.peers_connected == 1
        assert seed_side.ratio == pytest.approx(seed_side.uploaded / (4 * mib), rel=0.2)

    finally:
        await leecher_port.disconnect()
        leecher.stop()


# --- change feed --------------------------------------------------------------------------------
async def _wake(feed: Any, timeout: float = 10) -> float:
    """Seconds until the feed's news is set."""
    started = time.monotonic()
    await asyncio.wait_for(feed.news.wait(), timeout)
    return time.monotonic() - started


def _by_hash(changes: TorrentChanges) -> dict[str, Torrent]:
    return {t.infohash: t for t in changes.changed}


async def test_change_feed(adapter: DelugeAdapter, api: APIBase, daemon: DelugeDaemon, tmp_path: Path) -> None:
    target = DelugeTarget(daemon)
    torrents = [make_torrent(daemon.download_dir, tmp_path, size=32 * 1024) for _ in range(3)]
    await _add(api, daemon, torrents, stopped=True)
    hashes = [t.infohash for t in torrents]
    every = set(await adapter.list_infohashes())
    feed = adapter.change_feed(frozenset({"name", "state", "progress"}))
    try:
        first = await feed.poll()
        assert first.present == frozenset(every)
        assert {t.infohash for t in first.changed} == every  # the first poll is full
        for torrent in first.changed:
            assert torrent.state is not msgspec.UNSET and torrent.name is not msgspec.UNSET
            assert torrent.size_total is msgspec.UNSET
        assert _by_hash(first)[hashes[0]].state is TorrentState.stopped

        quiet = await feed.poll()
        assert quiet.changed == [] and quiet.removed == [] and quiet.present == frozenset(every)

        # Added: the event wakes the feed at once.
        assert feed.news is not None and not feed.news.is_set()
        new = make_torrent(daemon.download_dir, tmp_path, size=32 * 1024)
        await _add(api, daemon, [new], stopped=True)
        assert await _wake(feed) < 5
        added = await feed.poll()
        assert new.infohash in _by_hash(added)
        assert _by_hash(added)[new.infohash].name == new.name
        assert added.present == frozenset(every | {new.infohash})

        # Changed: only what changed comes back.
        await api.start(hashes[0])
        assert await _wake(feed) < 5
        changes: dict[str, Torrent] = {}
        while not changes.get(hashes[0]) or changes[hashes[0]].state is TorrentState.stopped:
            changes.update(_by_hash(await feed.poll()))
            await asyncio.sleep(0.2)
        assert changes[hashes[0]].state in (TorrentState.seeding, TorrentState.queued)
        assert set(changes) <= {hashes[0], new.infohash}

        # Removed: gone from `present` (every reply lists every torrent).
        await target.raw_remove(api, [hashes[1]])
        assert await _wake(feed) < 5
        gone = await feed.poll()
        assert gone.removed == []
        assert gone.present is not None and hashes[1] not in gone.present and hashes[0] in gone.present
    finally:
        await feed.close()
    assert await api.call("core.get_session_state") is not None


async def test_two_feeds_on_one_adapter(
    adapter: DelugeAdapter, api: APIBase, daemon: DelugeDaemon, tmp_path: Path
) -> None:
    # The daemon keeps one diff baseline per session: the second feed's poll
    # must not hide from the first what changed since the first's last poll.
    torrent = make_torrent(daemon.download_dir, tmp_path, size=32 * 1024)
    await _add(api, daemon, [torrent], stopped=True)
    one = adapter.change_feed(frozenset({"state"}))
    two = adapter.change_feed(frozenset({"state", "name"}))
    try:
        seen_by_one = {t.infohash: t.state for t in (await one.poll()).changed}
        await two.poll()
        await api.start(torrent.infohash)

        def started(changes: TorrentChanges) -> bool:
            seen = _by_hash(changes).get(torrent.infohash)
            return seen is not None and seen.state is not TorrentState.stopped

        state = await _poll(lambda: two.poll(), started, "feed two to see the start")
        assert _by_hash(state)[torrent.infohash].name == torrent.name
        seen = _by_hash(await one.poll())
        assert seen[torrent.infohash].state is not TorrentState.stopped
        assert seen[torrent.infohash].name is msgspec.UNSET
        seen_by_one.update((infohash, t.state) for infohash, t in seen.items())
        # Nothing comes twice. A torrent still on its way (checking, queued:
        # the module's daemon holds earlier tests' torrents too) may change again.
        again = (await one.poll()).changed
        assert [t for t in again if t.state is seen_by_one[t.infohash]] == []
    finally:
        await one.close()
        await two.close()


async def test_quiet_poll_costs_less_than_a_listing(
    adapter: DelugeAdapter, api: APIBase, daemon: DelugeDaemon, tmp_path: Path
) -> None:
    torrents = [make_torrent(daemon.download_dir, tmp_path, size=16 * 1024) for _ in range(50)]
    await _add(api, daemon, torrents, stopped=True)
    count = len(await adapter.list_infohashes())
    transport = adapter.transport

    async def cost(work: Callable[[], Awaitable[Any]]) -> int:
        before = transport.bytes_received + transport.bytes_sent
        await work()
        return transport.bytes_received + transport.bytes_sent - before

    full = await cost(lambda: adapter.torrents(None, SCALARS))
    feed = adapter.change_feed(SCALARS)
    try:
        first = await cost(feed.poll)
        quiet = min([await cost(feed.poll) for _ in range(3)])
    finally:
        await feed.close()
    print(f"\n{daemon.label}: {count} torrents: full listing {full} B, first poll {first} B, quiet poll {quiet} B")
    # A quiet diff still lists every infohash (40 hex digits, ~22 B each
    # compressed) with an empty row. These look-alike test torrents compress
    # a full listing to ~45 B each (real ones, with their own names, sizes
    # and times, far less well): the margin here is the least there is.
    assert quiet < full * 0.75, (quiet, full)
    assert quiet < 400 + 30 * count, (quiet, count)


async def test_feed_after_restart(daemon: DelugeDaemon, tmp_path: Path) -> None:
    # A reconnect is a new session: the first poll on it is full, and the
    # event interest is registered again.
    adapter = DelugeAdapter(parse_url("deluge", daemon.url), ConnectionOptions(timeout=10))
    api = APIBase(adapter)
    feed = adapter.change_feed(frozenset({"name", "state"}))
    try:
        torrent = make_torrent(daemon.download_dir, tmp_path, size=32 * 1024)
        await _add(api, daemon, [torrent], stopped=True)
        first = await feed.poll()
        assert torrent.infohash in _by_hash(first)
        assert (await feed.poll()).changed == []
        connections = adapter.connections

        await asyncio.to_thread(daemon.kill)
        with pytest.raises(aiobtclientapi.ConnectionError):
            await feed.poll()
        await asyncio.to_thread(daemon.start)
        # The daemon loads its torrents after it listens (a torrent added
        # since its last save of the session state is lost to the kill).
        loaded: list[int] = []

        async def count() -> int:
            loaded.append(len(await adapter.list_infohashes()))
            await asyncio.sleep(0.5)
            return loaded[-1]

        await _poll(count, lambda n: len(loaded) > 2 and n > 0 and loaded[-3:] == [n] * 3, "the torrents to load")
        assert adapter.connections > connections
        again = await feed.poll()
        every = set(await adapter.list_infohashes())
        assert again.present == frozenset(every)
        assert {t.infohash for t in again.changed} == every  # full again
        assert (await feed.poll()).changed == []

        assert feed.news is not None
        feed.news.clear()
        new = make_torrent(daemon.download_dir, tmp_path, size=32 * 1024)
        await _add(api, daemon, [new], stopped=True)
        assert await _wake(feed) < 5
        assert new.infohash in _by_hash(await feed.poll())
    finally:
        await feed.close()
        await adapter.disconnect()


async def test_watch(daemon: DelugeDaemon, tmp_path: Path) -> None:
    # The service over the feed: events wake it long before the interval.
    async with aiobtclientapi.api("deluge", daemon.url) as api:
        torrent = make_torrent(daemon.download_dir, tmp_path, size=32 * 1024)
        events = api.watch(["name", "state"], interval=60)
        try:
            first = await asyncio.wait_for(anext(events), 10)
            assert isinstance(first, aiobtclientapi.TorrentAdded)
            response = await api.add(str(torrent.torrent_path), location=str(daemon.download_dir), stopped=True)
            assert response.added == [torrent.infohash]
            started = time.monotonic()
            while True:
                event = await asyncio.wait_for(anext(events), 10)
                if isinstance(event, aiobtclientapi.TorrentAdded) and event.infohash == torrent.infohash:
                    break
            assert time.monotonic() - started < 10
            assert event.torrent.name == torrent.name
        finally:
            await events.aclose()


# --- the mapping, on rows as the daemons send them ----------------------------------------------
def test_row_mapping_has_no_sentinels() -> None:
    from aiobtclientapi.adapters.deluge._wire import decode_listing_row, listing_keys, to_torrent

    row = {
        "name": "n",
        "state": "Error",
        "message": "File missing",
        "progress": 100.0,  # Deluge's fixed value in Error
        "total_size": 200,
        "total_wanted": 200,
        "total_done": 50,
        "total_uploaded": 10,
        "ratio": -1.0,
        "eta": -1,
        "is_finished": False,
        "total_seeds": -1,
        "total_peers": -1,
        "completed_time": 0,
        "time_added": 1700000000,
        "label": "",
        "trackers": [{"url": "http://a/announce", "tier": 0}, {"url": "http://b/announce", "tier": 1}],
        "tracker_status": "Error: timed out",
        "tracker": "http://b/announce",
        "peers": [{"ip": "::1:6881", "client": "", "progress": 0.25, "down_speed": 1, "up_speed": 2, "seed": 0}],
    }
    names = frozenset(
        {"state", "error", "progress", "ratio", "eta", "seeds_swarm", "peers_swarm", "completed_at", "added_at"}
        | {"label", "trackers", "peers"}
    )
    assert set(listing_keys(names)) <= set(row)
    torrent = to_torrent("ab" * 20, decode_listing_row(row, "test"), names)
    assert torrent.state is TorrentState.error and torrent.error == "File missing"
    assert torrent.progress == 0.25
    assert torrent.ratio == math.inf  # uploaded with nothing done
    assert torrent.eta is None and torrent.completed_at is None
    assert torrent.seeds_swarm is None and torrent.peers_swarm is None
    assert torrent.added_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert torrent.label is None
    assert [(t.url, t.tier, t.status, t.message) for t in torrent.trackers] == [  # type: ignore[union-attr]
        ("http://a/announce", 0, TrackerStatus.unknown, None),
        ("http://b/announce", 1, TrackerStatus.error, "timed out"),
    ]
    [peer] = torrent.peers  # type: ignore[misc]
    assert (peer.address, peer.client, peer.progress) == ("[::1]:6881", None, 0.25)
    with pytest.raises(aiobtclientapi.ResponseError):
        decode_listing_row({**row, "total_size": "big"}, "test")


def test_mapping_covers_every_attribute() -> None:
    from aiobtclientapi.adapters.deluge._wire import _FIELDS, _VALUES, torrent_maker

    assert set(_FIELDS) | set(_VALUES) == set(ATTRIBUTES)
    assert not set(_FIELDS) & set(_VALUES)
    assert torrent_maker(frozenset({"name"})) is torrent_maker(frozenset({"name"}))  # made once per set
    with pytest.raises(KeyError):
        torrent_maker(frozenset({"name", "nonsense"}))
