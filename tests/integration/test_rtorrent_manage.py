"""rTorrent: remove (with data), move, labels, limits, reannounce, session, .torrent
export and content paths, against real daemons, checked by raw calls and on disk.

On the native 0.9.8 daemons and, with ``BTC_CONTAINERS=1``, each container
image's (0.9.8 of Debian 13, 0.16.x of forky): data is deleted and moved by
the daemon's own programs (execute.capture), so the containers matter here.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import bencode2
import pytest
import torf

from aiobtclientapi import APIBase, NoSuchTorrentError
from aiobtclientapi.adapters.rtorrent import _wire as rtorrent_wire
from aiobtclientapi.adapters.rtorrent import client as rtorrent_client
from aiobtclientapi.domain.session import RateLimits
from aiobtclientapi.domain.torrent import TorrentState
from aiobtclientapi.testing._pool import TargetPool
from aiobtclientapi.testing._torrents import TestTorrent, make_torrent
from aiobtclientapi.testing._tracker import announce_url
from tests.integration.test_rtorrent import ids
from tests.integration.test_rtorrent_listing import session
from tests.waiting import poll_until

LIMITS = frozenset({"limit_down", "limit_up"})


async def add_checked(api: APIBase, torrents: list[TestTorrent], *, stopped: bool = True) -> list[str]:
    """Add and let rTorrent check the data (as a start does); stopped ones verified."""
    hashes = [t.infohash for t in torrents]
    added = await api.add(*(str(t.torrent_path) for t in torrents), stopped=stopped)
    assert sorted(added.added) == sorted(hashes), added.errors
    if stopped:
        assert (await api.verify(*hashes)).success
        async for _ in api.verify_wait(*hashes, interval=0.05):
            pass
    return hashes


async def raw(api: APIBase, infohash: str, *getters: str) -> list[Any]:
    calls = [{"methodName": getter, "params": [infohash.upper()]} for getter in getters]
    return [item[0] for item in await api.call("system.multicall", calls)]


async def started_state(api: APIBase, infohash: str) -> tuple[int, int, int]:
    """d.state, d.is_open, d.is_active."""
    state, is_open, is_active = await raw(api, infohash, "d.state", "d.is_open", "d.is_active")
    return state, is_open, is_active


@pytest.mark.parametrize("target_id", ids("scgi"))
async def test_remove(target_pool: TargetPool, target_id: str, tmp_path: Path) -> None:
    async with session(target_pool, target_id) as (rt, _, api):
        place = rt.download_dir / f"remove-{uuid.uuid4().hex[:8]}"
        keep = make_torrent(place, tmp_path, files=2, size=2 * 16384)
        multi = make_torrent(place, tmp_path, files=3, size=3 * 16384)
        single = make_torrent(place, tmp_path)
        sibling = place / "sibling"
        sibling.mkdir()
        (sibling / "x").write_bytes(b"x")
        # A file of the torrent that is a symlink: deleted as a link, its target stays.
        outside = place / "outside.bin"
        shutil.move(place / multi.name / "file0.bin", outside)
        (place / multi.name / "file0.bin").symlink_to(outside)
        added = await api.add(*(str(t.torrent_path) for t in (keep, multi, single)), location=str(place), stopped=True)
        assert added.success, added.errors
        hashes = [keep.infohash, multi.infohash, single.infohash]
        try:
            assert (await api.start(multi.infohash)).success  # an open one too: frozen paths set

            removed = await api.remove(keep.infohash)
            assert removed.removed == [keep.infohash], removed.errors
            assert (place / keep.name / "file0.bin").is_file()

            removed = await api.remove(multi.infohash, single.infohash, delete_data=True)
            assert sorted(removed.removed) == sorted([multi.infohash, single.infohash]), removed.errors
            assert removed.errors == []
            assert not set(hashes) & set(await rt.raw_infohash_list(api))
            assert not (place / multi.name).exists() and not (place / multi.name).is_symlink()
            assert not (place / single.name).exists()
            assert outside.read_bytes() and (sibling / "x").read_bytes() == b"x"
            assert (place / keep.name / "file1.bin").is_file()

            unknown = await api.remove("0" * 40, delete_data=True)
            assert unknown.removed == [] and len(unknown.errors) == 1
        finally:
            await rt.raw_remove(api, hashes)


def make_nested_torrent(location: Path, torrent_dir: Path) -> tuple[str, Path, Path]:
    """A torrent of ``NAME/sub/a.bin`` and ``NAME/b.bin``: its infohash, .torrent and content folder."""
    content = location / f"nested-{uuid.uuid4().hex[:8]}"
    (content / "sub").mkdir(parents=True)
    (content / "sub" / "a.bin").write_bytes(os.urandom(20000))
    (content / "b.bin").write_bytes(os.urandom(20000))
    torrent = torf.Torrent(path=content, private=True, piece_size=16384, created_by=None, trackers=[announce_url()])
    torrent.generate()
    torrent_path = torrent_dir / f"{content.name}.torrent"
    torrent.write(torrent_path)
    return str(torrent.infohash).lower(), torrent_path, content


@pytest.mark.parametrize("target_id", ids("scgi"))
async def test_remove_never_through_a_symlinked_folder(target_pool: TargetPool, target_id: str, tmp_path: Path) -> None:
    async with session(target_pool, target_id) as (rt, adapter, api):
        place = rt.download_dir / f"remove-{uuid.uuid4().hex[:8]}"
        place.mkdir()
        infohash, torrent_path, content = make_nested_torrent(place, tmp_path)
        added = await api.add(str(torrent_path), location=str(place), stopped=True)
        assert added.added == [infohash], added.errors
        elsewhere = place / "elsewhere"
        (content / "sub").rename(elsewhere)
        (content / "sub").symlink_to(elsewhere)
        try:
            failures = await adapter.remove([infohash], delete_data=True)
            assert "its folder is a symlink" in failures[infohash]
            assert (elsewhere / "a.bin").is_file()
            assert not (content / "b.bin").exists() and (content / "sub").is_symlink()
        finally:
            await rt.raw_remove(api, [infohash])


@pytest.mark.parametrize("target_id", ids("scgi"))
async def test_move(target_pool: TargetPool, target_id: str, tmp_path: Path) -> None:
    async with session(target_pool, target_id) as (rt, _, api):
        place = rt.download_dir / f"move-{uuid.uuid4().hex[:8]}"
        multi = make_torrent(place, tmp_path, files=2, size=2 * 16384)
        single = make_torrent(place, tmp_path)
        added = await api.add(str(multi.torrent_path), str(single.torrent_path), location=str(place), stopped=True)
        assert added.success, added.errors
        hashes = [multi.infohash, single.infohash]
        try:
            assert (await api.start(multi.infohash)).success
            assert (await api.verify(single.infohash)).success
            async for _ in api.verify_wait(single.infohash, interval=0.05):
                pass
            single_before = await started_state(api, single.infohash)
            assert single_before[0] == 0  # stopped (a check leaves it open)
            target = place / "new place"
            moved = await api.move(*hashes, location=str(target))
            assert sorted(moved.moved) == sorted(hashes), moved.errors
            assert (target / multi.name / "file1.bin").is_file() and (target / single.name).is_file()
            assert not (place / multi.name).exists() and not (place / single.name).exists()
            assert await raw(api, multi.infohash, "d.directory") == [str(target / multi.name)]
            assert await raw(api, single.infohash, "d.directory") == [str(target)]
            # The started one started again (it may check its data first); the stopped one as it was.
            assert (await started_state(api, multi.infohash))[:2] == (1, 1)
            assert await started_state(api, single.infohash) == single_before
            [m, s] = await api.get_torrents(*hashes, attributes=["save_path", "state", "progress"])
            assert (m.save_path, s.save_path) == (str(target), str(target))

            async def seeding() -> bool:
                [m] = await api.get_torrents(multi.infohash, attributes=["state", "progress"])
                return m.state is TorrentState.seeding and m.progress == 1.0

            await poll_until(seeding, bool, "seeding in its new place")

            # Under a regular file: can't be made. Data and directory stay; started again.
            blocker = place / "a file"
            blocker.write_bytes(b"")
            failed = await api.move(*hashes, location=str(blocker / "sub"))
            assert failed.moved == [] and len(failed.errors) == 2
            assert all("Not a directory" in str(error) for error in failed.errors), failed.errors
            assert (target / multi.name / "file1.bin").is_file() and (target / single.name).is_file()
            assert await raw(api, multi.infohash, "d.directory") == [str(target / multi.name)]
            assert (await started_state(api, multi.infohash))[:2] == (1, 1)
            assert await started_state(api, single.infohash) == single_before
            await poll_until(seeding, bool, "seeding again")
        finally:
            await rt.raw_remove(api, hashes)


# The same on every version: native only.
@pytest.mark.parametrize("target_id", ids("scgi")[:1])
async def test_labels_percent_encoded(target_pool: TargetPool, target_id: str, tmp_path: Path) -> None:
    async with session(target_pool, target_id) as (rt, _, api):
        torrent = make_torrent(rt.download_dir, tmp_path, size=16384)
        hashes = await add_checked(api, [torrent])
        try:
            label = "Movies 100%/ü,x"
            labeled = await api.set_label(torrent.infohash, label=label)
            assert labeled.labeled == [torrent.infohash], labeled.errors
            # As ruTorrent writes it (PHP rawurlencode).
            assert await raw(api, torrent.infohash, "d.custom1") == ["Movies%20100%25%2F%C3%BC%2Cx"]
            assert urllib.parse.unquote("Movies%20100%25%2F%C3%BC%2Cx") == label
            [listed] = await api.get_torrents(torrent.infohash, attributes=["label"])
            assert listed.label == label
            cleared = await api.set_label(torrent.infohash, label=None)
            assert cleared.labeled == [torrent.infohash], cleared.errors
            assert await raw(api, torrent.infohash, "d.custom1") == [""]
        finally:
            await rt.raw_remove(api, hashes)


@pytest.mark.parametrize("target_id", ids("scgi"))
async def test_limits(target_pool: TargetPool, target_id: str, tmp_path: Path) -> None:
    async with session(target_pool, target_id) as (rt, _, api):
        started = make_torrent(rt.download_dir, tmp_path, size=16384)
        stopped = make_torrent(rt.download_dir, tmp_path, size=16384)
        hashes = await add_checked(api, [started, stopped])
        before = await api.call("system.multicall", [
            {"methodName": "throttle.global_down.max_rate", "params": [""]},
            {"methodName": "throttle.global_up.max_rate", "params": [""]},
        ])  # fmt: skip
        try:
            assert (await api.start(started.infohash)).success
            limited = await api.set_limits(*hashes, down=100_000, up=None)
            assert sorted(limited.limited) == sorted(hashes), limited.errors
            # KiB/s, the nearest: 98 KiB/s; one group per (down, up) pair.
            for infohash in hashes:
                assert await raw(api, infohash, "d.throttle_name") == ["aiobtc_d98_u0"]
            assert await api.call("throttle.down.max", "", "aiobtc_d98_u0") == 98 * 1024
            # Its group can't change while active: stopped, set, started again.
            assert await started_state(api, started.infohash) == (1, 1, 1)
            assert (await started_state(api, stopped.infohash))[0] == 0

            # Up only: down stays.
            limited = await api.set_limits(*hashes, up=1)
            assert sorted(limited.limited) == sorted(hashes), limited.errors
            listed = await api.get_torrents(*hashes, attributes=LIMITS)
            assert {(t.limit_down, t.limit_up) for t in listed} == {(98 * 1024, 1024)}
            assert await started_state(api, started.infohash) == (1, 1, 1)

            cleared = await api.set_limits(*hashes, down=None, up=None)
            assert sorted(cleared.limited) == sorted(hashes), cleared.errors
            listed = await api.get_torrents(*hashes, attributes=LIMITS)
            assert {(t.limit_down, t.limit_up) for t in listed} == {(None, None)}
            assert await raw(api, started.infohash, "d.throttle_name") == [""]
            assert await started_state(api, started.infohash) == (1, 1, 1)
        finally:
            await rt.raw_remove(api, hashes)
            await api.call("system.multicall", [
                {"methodName": "throttle.global_down.max_rate.set", "params": ["", before[0][0]]},
                {"methodName": "throttle.global_up.max_rate.set", "params": ["", before[1][0]]},
            ])  # fmt: skip


@pytest.mark.parametrize("target_id", ids("scgi"))
async def test_reannounce_session_and_torrent_file(target_pool: TargetPool, target_id: str, tmp_path: Path) -> None:
    async with session(target_pool, target_id) as (rt, _, api):
        torrent = make_torrent(rt.download_dir, tmp_path, size=16384)
        hashes = await add_checked(api, [torrent], stopped=False)
        try:
            [before] = await api.call("t.multicall", torrent.infohash.upper(), "", "t.success_counter=")

            async def announced(count: int) -> bool:
                [[successes]] = await api.call("t.multicall", torrent.infohash.upper(), "", "t.success_counter=")
                return bool(successes >= count)

            await poll_until(lambda: announced(1), bool, "announced when started")
            [[count]] = await api.call("t.multicall", torrent.infohash.upper(), "", "t.success_counter=")
            reannounced = await api.reannounce(torrent.infohash)
            assert reannounced.reannounced == [torrent.infohash], reannounced.errors
            await poll_until(lambda: announced(count + 1), bool, "announced again")
            assert before is not None

            sess = await api.get_session()
            assert (sess.client, sess.version) == ("rtorrent", rt.daemon.version)
            assert sess.save_path == str(rt.download_dir)
            assert isinstance(sess.free_space, int) and sess.free_space > 0
            free = shutil.disk_usage(rt.download_dir).free
            assert abs(sess.free_space - free) < max(free // 10, 1 << 30)
            for value in (sess.rate_down, sess.rate_up, sess.downloaded, sess.uploaded):
                assert isinstance(value, int) and value >= 0
            assert sess.torrents.get(TorrentState.seeding, 0) >= 1

            data = await api.get_torrent_file(torrent.infohash)
            info = bencode2.bdecode(data)[b"info"]
            assert hashlib.sha1(bencode2.bencode(info)).hexdigest() == torrent.infohash
        finally:
            await rt.raw_remove(api, hashes)


@pytest.mark.parametrize("target_id", ids("scgi"))
async def test_session_limits(target_pool: TargetPool, target_id: str) -> None:
    async with session(target_pool, target_id) as (_, _, api):
        try:
            await api.set_session_limits(down=1_000_000, up=None)
            sess = await api.get_session()
            assert (sess.limit_down, sess.limit_up) == (977 * 1024, None)
            assert await api.call("throttle.global_down.max_rate", "") == 977 * 1024
        finally:
            await api.set_session_limits(down=None, up=None)
        assert await api.call("throttle.global_down.max_rate", "") == 0


@pytest.mark.parametrize("target_id", ids("scgi"))
async def test_content_path(target_pool: TargetPool, target_id: str, tmp_path: Path) -> None:
    async with session(target_pool, target_id) as (rt, _, api):
        place = rt.download_dir / f"content-{uuid.uuid4().hex[:8]}"
        multi = make_torrent(place, tmp_path, files=2, size=2 * 16384)
        single = make_torrent(place, tmp_path)
        folder = place / "another name"
        (place / multi.name).rename(folder)
        elsewhere = place / "elsewhere"
        elsewhere.mkdir()
        (place / single.name).rename(elsewhere / single.name)
        hashes = [multi.infohash, single.infohash]
        try:
            added = await api.add(str(multi.torrent_path), content_path=str(folder), stopped=True)
            assert added.added == [multi.infohash], added.errors
            added = await api.add(str(single.torrent_path), content_path=str(elsewhere / single.name), stopped=True)
            assert added.added == [single.infohash], added.errors
            assert await raw(api, multi.infohash, "d.directory") == [str(folder)]
            assert (await api.verify(*hashes)).success
            async for _ in api.verify_wait(*hashes, interval=0.05):
                pass
            listed = await api.get_torrents(*hashes, attributes=["content_path", "progress"])
            assert {(t.content_path, t.progress) for t in listed} == {
                (str(folder), 1.0),
                (str(elsewhere / single.name), 1.0),
            }
            assert sorted(p.name for p in folder.iterdir()) == ["file0.bin", "file1.bin"]

            # A single file named otherwise than the torrent: rTorrent can't.
            other = make_torrent(place, tmp_path)
            (place / other.name).rename(place / "renamed.bin")
            refused = await api.add(str(other.torrent_path), content_path=str(place / "renamed.bin"), stopped=True)
            assert refused.added == [] and "can't use 'renamed.bin'" in str(refused.errors)
        finally:
            await rt.raw_remove(api, hashes)


@pytest.mark.parametrize("target_id", ids("scgi")[:1])
async def test_requests_do_not_grow_with_torrents(target_pool: TargetPool, target_id: str, tmp_path: Path) -> None:
    async with session(target_pool, target_id) as (rt, adapter, api):
        place = rt.download_dir / f"many-{uuid.uuid4().hex[:8]}"
        torrents = [make_torrent(place, tmp_path, size=1024, piece_size=16384, keep_content=False) for _ in range(500)]
        hashes = [t.infohash for t in torrents]
        await adapter.connect()
        costs: dict[int, list[int]] = {}
        try:
            for count in (5, 500):
                todo = hashes[:count] if count == 5 else hashes[5:]
                added = await api.add(*(str(t.torrent_path) for t in torrents if t.infohash in todo), stopped=True)
                assert sorted(added.added) == sorted(todo), added.errors[:3]
                steps: list[Callable[[], Awaitable[object]]] = [
                    functools.partial(adapter.set_label, todo, "many"),
                    functools.partial(adapter.set_limits, todo, RateLimits(down=10_000, up=20_000)),
                    functools.partial(adapter.reannounce, todo),
                    functools.partial(adapter.remove, todo, delete_data=True),
                ]
                costs[count] = []
                for step in steps:
                    before = sum(adapter.request_counts.values())
                    failures = await step()
                    assert failures == {}
                    costs[count].append(sum(adapter.request_counts.values()) - before)
                assert not set(todo) & set(await rt.raw_infohash_list(api))
            # label 1, limits 2 (read, set), reannounce 1, remove with data 3 (read, erase, delete).
            assert costs[5] == costs[500] == [1, 2, 1, 3]
        finally:
            await rt.raw_remove(api, hashes)
            await api.set_session_limits(down=None, up=None)


@pytest.mark.parametrize("target_id", ids("scgi")[:1])
async def test_without_execute_nothing_is_erased_nor_moved(
    target_pool: TargetPool, target_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As when rTorrent won't run programs (0.16 refuses execute.* on untrusted connections).
    monkeypatch.setattr(rtorrent_wire, "PROBE_SCRIPT", "exit 3")
    async with session(target_pool, target_id) as (rt, _, api):
        torrent = make_torrent(rt.download_dir, tmp_path, size=16384)
        hashes = await add_checked(api, [torrent])
        try:
            removed = await api.remove(torrent.infohash, delete_data=True)
            assert removed.removed == [] and "can't delete data: rTorrent did not run a program" in str(removed.errors)
            moved = await api.move(torrent.infohash, location=str(rt.download_dir / "elsewhere"))
            assert moved.moved == [] and "can't move data" in str(moved.errors)
            assert torrent.infohash in await rt.raw_infohash_list(api)
            assert (rt.download_dir / torrent.name).is_file()
            assert await raw(api, torrent.infohash, "d.directory") == [str(rt.download_dir)]
        finally:
            await rt.raw_remove(api, hashes)


@pytest.mark.parametrize("target_id", ids("scgi")[:1])
async def test_torrent_file_read_by_the_daemon(
    target_pool: TargetPool, target_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The session folder not readable from here (a daemon on another host): its own base64 reads it.
    def unreadable(path: str) -> bytes:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(rtorrent_client, "_read_file", unreadable)
    async with session(target_pool, target_id) as (rt, _, api):
        torrent = make_torrent(rt.download_dir, tmp_path, size=16384)
        hashes = await add_checked(api, [torrent])
        try:
            data = await api.get_torrent_file(torrent.infohash)
            assert data == (rt.daemon.session_dir / f"{torrent.infohash.upper()}.torrent").read_bytes()
            with pytest.raises(NoSuchTorrentError):
                await api.get_torrent_file("0" * 40)
        finally:
            await rt.raw_remove(api, hashes)
