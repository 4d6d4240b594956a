"""The contract of get_torrents() and watch(): every field in its one unit, on every client.

The expected values come from the torrents the tests make (their sizes,
files, tracker and folder), never from what the adapter reports elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from aiobtclientapi import APIBase, PollPolicy, TorrentState
from aiobtclientapi.domain import errors
from aiobtclientapi.domain.events import TorrentAdded, TorrentChanged, TorrentEvent, TorrentRemoved
from aiobtclientapi.domain.torrent import (
    ATTRIBUTES,
    DEFAULT_ATTRIBUTES,
    FilePriority,
    Torrent,
    TrackerStatus,
)
from aiobtclientapi.testing._containers import target_param
from aiobtclientapi.testing._pool import TargetPool, all_target_ids
from aiobtclientapi.testing._targets import Target
from aiobtclientapi.testing._torrents import TestTorrent, make_torrent
from aiobtclientapi.testing._tracker import announce_url
from tests.contract.test_faults import restart_gracefully, until_listed

#: Once per daemon: the fields don't depend on the transport, which test_contract covers.
ONE_TRANSPORT = True
UNKNOWN = "0000000000000000000000000000000000000001"
FILES = 3
FILE_SIZE = 64 * 1024
#: Seconds a watch may take to report what a client did.
EVENT_WITHIN = 30.0


async def added_and_verified(api: APIBase, *torrents: TestTorrent, location: Path | None = None) -> None:
    """Add `torrents` stopped in one call and have the client check their data to the end."""
    paths = [str(t.torrent_path) for t in torrents]
    response = await api.add(*paths, location=str(location or torrents[0].location), stopped=True)
    assert response.success, response.errors
    infohashes = [t.infohash for t in torrents]
    verified = await api.verify(*infohashes)
    assert verified.success, verified.errors
    async for _, progress in api.verify_wait(*infohashes, interval=(0.1, 1.0)):
        assert not isinstance(progress, errors.Error), progress


async def only(api: APIBase, infohash: str, attributes: Any = None) -> Torrent:
    torrents = await api.get_torrents(infohash, attributes=attributes)
    assert [t.infohash for t in torrents] == [infohash]
    return torrents[0]


def assert_recent(moment: object, since: datetime) -> None:
    assert isinstance(moment, datetime), moment
    assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0), moment
    # Clients keep whole seconds; container clocks are the host's.
    assert since - timedelta(seconds=2) <= moment <= datetime.now(UTC) + timedelta(seconds=2), (moment, since)


# --- every field, in its unit ------------------------------------------------------------------
async def test_fields_of_a_complete_stopped_multifile_torrent(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    since = datetime.now(UTC)
    torrent: TestTorrent = new_torrent(files=FILES, size=FILES * FILE_SIZE)
    await added_and_verified(api, torrent)
    found = await only(api, torrent.infohash)
    size = FILES * FILE_SIZE

    assert {name for name in ATTRIBUTES if getattr(found, name) is not msgspec.UNSET} == DEFAULT_ATTRIBUTES
    assert found.name == torrent.name
    assert found.infohash_v2 is None  # a v1 torrent
    assert found.state is TorrentState.stopped
    assert found.progress == 1.0
    assert (found.size_total, found.size_wanted, found.size_done) == (size, size, size)
    # Verified, not downloaded: nothing transferred.
    assert (found.downloaded, found.uploaded, found.rate_down, found.rate_up) == (0, 0, 0, 0)
    assert found.ratio == 0.0
    assert found.eta is None  # done: no sentinel
    assert found.seeds_connected in (0, None) and found.peers_connected in (0, None)
    for swarm in (found.seeds_swarm, found.peers_swarm):
        assert swarm is None or (isinstance(swarm, int) and swarm >= 0)
    assert os.path.normpath(str(found.save_path)) == str(torrent.location)
    assert os.path.normpath(str(found.content_path)) == str(torrent.location / torrent.name)
    assert found.label is None
    assert found.tags == ()
    assert_recent(found.added_at, since)
    # Complete once verified: the clients that record it say when.
    assert found.completed_at is None or isinstance(found.completed_at, datetime)
    if found.completed_at is not None:
        assert_recent(found.completed_at, since)
    assert found.error is None
    assert found.is_private is True


async def test_fields_of_a_torrent_without_data(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    torrent: TestTorrent = new_torrent(files=FILES, size=FILES * FILE_SIZE, keep_content=False)
    await added_and_verified(api, torrent)
    found = await only(api, torrent.infohash, ("state", "progress", "size_total", "size_done", "eta", "completed_at"))
    assert found.state is TorrentState.stopped
    assert found.progress == 0.0
    assert (found.size_total, found.size_done) == (FILES * FILE_SIZE, 0)
    assert found.eta is None  # stopped: no sentinel
    assert found.completed_at is None  # never completed: not 1970


async def test_files(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    multi: TestTorrent = new_torrent(files=FILES, size=FILES * FILE_SIZE)
    single: TestTorrent = new_torrent()
    for torrent in (multi, single):
        await added_and_verified(api, torrent)
    found = {t.infohash: t for t in await api.get_torrents(multi.infohash, single.infohash, attributes=["files"])}
    files = found[multi.infohash].files
    assert isinstance(files, tuple)
    assert sorted((f.path, f.size) for f in files) == [(f"file{i}.bin", FILE_SIZE) for i in range(FILES)]
    for file in files:
        assert (file.progress, file.wanted, file.priority) == (1.0, True, FilePriority.normal)
    files = found[single.infohash].files
    assert isinstance(files, tuple)
    assert [(f.path, f.size, f.progress) for f in files] == [(single.name, single.size, 1.0)]
    assert found[single.infohash].name is msgspec.UNSET


async def test_trackers_and_peers(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    torrent: TestTorrent = new_torrent()
    await added_and_verified(api, torrent)
    found = await only(api, torrent.infohash, ("trackers", "peers"))
    assert isinstance(found.trackers, tuple)
    assert [(t.url, t.tier) for t in found.trackers] == [(announce_url(), 0)]
    tracker = found.trackers[0]
    assert isinstance(tracker.status, TrackerStatus)
    for count in (tracker.seeds, tracker.peers):
        assert count is None or count >= 0
    assert found.peers == ()  # the loopback tracker knows no peers


async def test_only_what_was_asked_is_set(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    torrent: TestTorrent = new_torrent()
    await added_and_verified(api, torrent)
    found = await only(api, torrent.infohash, "name,progress")
    assert (found.name, found.progress) == (torrent.name, 1.0)
    assert {name for name in ATTRIBUTES if getattr(found, name) is not msgspec.UNSET} == {"name", "progress"}


async def test_unknown_torrents_are_absent_and_bad_arguments_raise(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    torrent: TestTorrent = new_torrent()
    await added_and_verified(api, torrent)
    assert [t.infohash for t in await api.get_torrents(UNKNOWN, torrent.infohash, attributes=["name"])] == [
        torrent.infohash
    ]
    assert await api.get_torrents(UNKNOWN) == []
    assert torrent.infohash in {t.infohash for t in await api.get_torrents(attributes=["name"])}
    with pytest.raises(errors.ValueError, match="Unknown torrent attribute: speed"):
        await api.get_torrents(attributes=["name", "speed"])


async def test_requests_do_not_grow_with_the_number_of_torrents(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    torrents: list[TestTorrent] = [new_torrent(size=16 * 1024) for _ in range(12)]
    response = await api.add(*(str(t.torrent_path) for t in torrents), location=str(torrents[0].location), stopped=True)
    assert response.success, response.errors

    async def requests_for(infohashes: list[str]) -> int:
        before = sum(api.port.request_counts.values())
        found = await api.get_torrents(*infohashes, attributes=("name", "state", "progress", "size_total"))
        assert len(found) == len(infohashes)
        return sum(api.port.request_counts.values()) - before

    assert await requests_for([torrents[0].infohash]) == await requests_for([t.infohash for t in torrents])


async def test_get_torrents_raises_connection_error(target: Target) -> None:
    api = target.make_api_closed_port()
    with pytest.raises(errors.ConnectionError):
        await api.get_torrents()


# --- one torrent, every client ------------------------------------------------------------
def _generation(target_id: str) -> str:
    for codename in ("trixie", "forky"):
        if f"-{codename}" in target_id:
            return codename
    return "bookworm"


def _generations() -> list[Any]:
    ids = all_target_ids()
    params = []
    for generation in ("bookworm", "trixie", "forky"):
        members = [i for i in ids if _generation(i) == generation]
        if members:
            # Marked like its first container target, so `-m containers` selects it.
            marked = next((target_param(i) for i in members if generation != "bookworm"), None)
            marks = marked.marks if marked is not None else ()
            params.append(pytest.param(generation, marks=marks, id=generation))
    return params


@pytest.mark.parametrize("generation", _generations())
async def test_one_torrent_reads_the_same_on_every_client(
    generation: str, target_pool: TargetPool, tmp_path: Path
) -> None:
    # One target per client (one transport is enough: they carry the same replies).
    chosen: dict[str, Target] = {}
    for target_id in all_target_ids():
        if _generation(target_id) == generation:
            target = target_pool.get(target_id)
            chosen.setdefault(target.client, target)
    torrent = make_torrent(tmp_path / "content", tmp_path / "torrents", files=FILES, size=FILES * FILE_SIZE)
    size = FILES * FILE_SIZE
    readings: dict[str, dict[str, Any]] = {}
    expected: dict[str, dict[str, Any]] = {}
    for client, target in chosen.items():
        shutil.copytree(torrent.location / torrent.name, target.download_dir / torrent.name)
        api = target.make_api()
        async with api:
            await added_and_verified(api, torrent, location=target.download_dir)
            found = await only(api, torrent.infohash, list(ATTRIBUTES))
        assert isinstance(found.files, tuple) and isinstance(found.trackers, tuple)
        readings[client] = {
            "name": found.name,
            "state": found.state,
            "progress": found.progress,
            "sizes": (found.size_total, found.size_wanted, found.size_done),
            "files": sorted((f.path, f.size, f.progress, f.wanted) for f in found.files),
            "trackers": [t.url for t in found.trackers],
            "is_private": found.is_private,
            "save_path": os.path.normpath(str(found.save_path)),
            "content_path": os.path.normpath(str(found.content_path)),
            "label": found.label,
            "eta": found.eta,
            "error": found.error,
        }
        expected[client] = {
            "name": torrent.name,
            "state": TorrentState.stopped,
            "progress": 1.0,
            "sizes": (size, size, size),
            "files": [(f"file{i}.bin", FILE_SIZE, 1.0, True) for i in range(FILES)],
            "trackers": [announce_url()],
            "is_private": True,
            "save_path": str(target.download_dir),
            "content_path": str(target.download_dir / torrent.name),
            "label": None,
            "eta": None,
            "error": None,
        }
    assert len(chosen) >= 4, sorted(chosen)
    assert readings == expected


# --- watch -----------------------------------------------------------------------------------
class Watcher:
    """Collects a watch's events about some torrents in the background."""

    def __init__(self, api: APIBase, infohash: str | set[str], attributes: tuple[str, ...]) -> None:
        self.infohashes = {infohash} if isinstance(infohash, str) else infohash
        self.events: list[TorrentEvent] = []
        self._arrived = asyncio.Condition()
        self._stream = api.watch(attributes=attributes, interval=0.5)
        self._task: asyncio.Task[None] | None = None
        self.first_round = asyncio.Event()
        self._cursor = 0

    async def _run(self) -> None:
        async with contextlib.aclosing(self._stream) as stream:
            async for event in stream:
                self.first_round.set()  # a client with no torrents yet sends nothing: see start()
                if event.infohash in self.infohashes:
                    async with self._arrived:
                        self.events.append(event)
                        self._arrived.notify_all()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        # The first round reports the torrents already there; wait for it to be done.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.first_round.wait(), 5)

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    @property
    def mark(self) -> int:
        """Where the next expect() starts looking."""
        return self._cursor

    async def expect(
        self, what: str, matches: Callable[[TorrentEvent], bool], *, since: int | None = None
    ) -> TorrentEvent:
        """The first event after the last one expected (or from `since`) that
        `matches` (it may have come while the action that caused it still ran);
        fails after EVENT_WITHIN seconds."""
        deadline = time.monotonic() + EVENT_WITHIN
        start = self._cursor if since is None else since
        async with self._arrived:
            while True:
                for index in range(start, len(self.events)):
                    if matches(self.events[index]):
                        self._cursor = max(self._cursor, index + 1)
                        return self.events[index]
                left = deadline - time.monotonic()
                if left <= 0 or (self._task is not None and self._task.done()):
                    raise AssertionError(f"no event {what} within {EVENT_WITHIN}s; got {self.events}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), left)


def _state(event: TorrentEvent) -> TorrentState | None:
    if isinstance(event, TorrentChanged):
        state = event.changes.get("state")
        return state if isinstance(state, TorrentState) else None
    return None


@pytest.fixture
async def watched(target: Target, new_torrent) -> AsyncIterator[tuple[APIBase, TestTorrent, Watcher]]:  # type: ignore[no-untyped-def]
    torrent: TestTorrent = new_torrent()
    api = target.make_api()
    async with api:
        watcher = Watcher(api, torrent.infohash, ("name", "state", "progress"))
        await watcher.start()
        try:
            yield api, torrent, watcher
        finally:
            await watcher.stop()


async def test_watch_follows_a_torrent_from_added_to_removed(target: Target, watched) -> None:  # type: ignore[no-untyped-def]
    api, torrent, watcher = watched
    response = await api.add(str(torrent.torrent_path), location=str(torrent.location), stopped=True)
    assert response.success, response.errors
    added = await watcher.expect("added", lambda e: isinstance(e, TorrentAdded))
    assert isinstance(added, TorrentAdded) and added.torrent.name == torrent.name

    started = await api.start(torrent.infohash)
    assert started.success, started.errors
    await watcher.expect(
        "started", lambda e: _state(e) in (TorrentState.seeding, TorrentState.downloading, TorrentState.queued)
    )

    stopped = await api.stop(torrent.infohash)
    assert stopped.success, stopped.errors
    await watcher.expect("stopped", lambda e: _state(e) is TorrentState.stopped)

    await target.raw_remove(api, [torrent.infohash])
    await watcher.expect("removed", lambda e: isinstance(e, TorrentRemoved))
    # Nothing about it after it was removed.
    last = watcher.events.index(next(e for e in watcher.events if isinstance(e, TorrentRemoved)))
    assert watcher.events[last + 1 :] == []


async def test_watch_reports_what_a_verification_found(target: Target, watched, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    api, torrent, watcher = watched
    aside = tmp_path / "aside"
    shutil.move(torrent.location / torrent.name, aside)
    response = await api.add(str(torrent.torrent_path), location=str(torrent.location), stopped=True)
    assert response.success, response.errors
    await watcher.expect("added", lambda e: isinstance(e, TorrentAdded))
    await api.verify(torrent.infohash)
    async for _ in api.verify_wait(torrent.infohash):
        pass
    # The data shows up afterwards (copied there); verifying finds all of it.
    shutil.move(aside, torrent.location / torrent.name)
    verified = await api.verify(torrent.infohash)
    assert verified.success, verified.errors
    await watcher.expect("complete", lambda e: isinstance(e, TorrentChanged) and e.changes.get("progress") == 1.0)
    await target.raw_remove(api, [torrent.infohash])
    await watcher.expect("removed", lambda e: isinstance(e, TorrentRemoved))


async def test_watch_rides_out_a_daemon_restart(target: Target, new_torrent) -> None:  # type: ignore[no-untyped-def]
    if target.daemon is None:
        pytest.skip("the memory client has no daemon to restart")
    daemon = target.daemon
    kept: TestTorrent = new_torrent()
    removed: TestTorrent = new_torrent()
    added: TestTorrent = new_torrent()
    actions = target.make_api()
    # Torrents missing after the reconnect are asked again after policy.timeout.
    watching = target.make_api(policy=PollPolicy(timeout=5))
    async with actions, watching:
        watcher = Watcher(watching, {kept.infohash, removed.infohash, added.infohash}, ("name", "state"))
        await watcher.start()
        try:
            response = await actions.add(
                str(kept.torrent_path), str(removed.torrent_path), location=str(kept.location), stopped=True
            )
            assert response.success, response.errors
            await watcher.expect("both added", lambda e: _added(e, kept.infohash) or _added(e, removed.infohash))
            await watcher.expect("both added", lambda e: _added(e, kept.infohash) or _added(e, removed.infohash))
            await asyncio.to_thread(restart_gracefully, daemon)
            # Changed while the watch was cut off or still reconnecting, once the
            # daemon has loaded its torrents again (Deluge does so after it answers).
            await until_listed(target, actions, [kept.infohash, removed.infohash])
            await target.raw_remove(actions, [removed.infohash])
            assert removed.infohash not in await target.raw_infohashes(actions)
            response = await actions.add(str(added.torrent_path), location=str(added.location), stopped=True)
            assert response.success, response.errors
            # In either order: a torrent missing after the reconnect is asked about again later.
            mark = watcher.mark
            gone = await watcher.expect("removed while away", lambda e: isinstance(e, TorrentRemoved), since=mark)
            new = await watcher.expect(f"{added.name} added", lambda e: _added(e, added.infohash), since=mark)
            assert (gone.infohash, new.infohash) == (removed.infohash, added.infohash)
            # The torrent that stayed is not reported again as added.
            assert len([e for e in watcher.events if _added(e, kept.infohash)]) == 1
        finally:
            await watcher.stop()
            await target.raw_remove(actions, [kept.infohash, added.infohash])


async def test_a_restart_between_two_polls_is_a_break(target: Target, new_torrent) -> None:  # type: ignore[no-untyped-def]
    # The daemon restarts while nothing polls (a watch waiting out its
    # interval): the next poll must say it follows a break, or a torrent the
    # daemon has not loaded again yet would be reported removed. rTorrent
    # serves no request before its session is loaded; the other three can
    # answer first, and each shows a restart in its own way (a new session id,
    # a refused cookie and a forgotten rid, a closed connection).
    if target.daemon is None:
        pytest.skip("the memory client has no daemon to restart")
    daemon = target.daemon
    torrent: TestTorrent = new_torrent()
    api = target.make_api()
    async with api:
        response = await api.add(str(torrent.torrent_path), location=str(torrent.location), stopped=True)
        assert response.success, response.errors
        feed = api.port.change_feed(frozenset({"name", "state"}))
        try:
            first = await feed.poll()
            assert first.present is not None and torrent.infohash in first.present
            assert not first.resumed  # nothing was known before it
            assert not (await feed.poll()).resumed
            await asyncio.to_thread(restart_gracefully, daemon)
            after = await feed.poll()
            assert after.present is not None
            if target.client == "rtorrent":
                assert torrent.infohash in after.present
            else:
                assert after.resumed
            # Back to telling changes only: the next poll follows no break.
            await until_listed(target, api, [torrent.infohash])
            assert not (await feed.poll()).resumed
        finally:
            await feed.close()
            await target.raw_remove(api, [torrent.infohash])


def _added(event: TorrentEvent, infohash: str) -> bool:
    return isinstance(event, TorrentAdded) and event.infohash == infohash
