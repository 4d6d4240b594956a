"""transfer() between real daemons: every ordered pair of the native clients,
and a transfer whose target dies midway, run again to completion.

Each test checks the daemons' own state afterwards (raw calls) and the data
on disk: the same bytes and the same mtimes, as no client may write to it.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

import aiobtclientapi
from aiobtclientapi import APIBase, TransferProgress
from aiobtclientapi.domain import errors
from aiobtclientapi.testing._containers import is_container_target
from aiobtclientapi.testing._daemon import NativeRunner
from aiobtclientapi.testing._deluge import DelugeDaemon, DelugeTarget
from aiobtclientapi.testing._pool import TargetPool, all_target_ids, one_transport_per_daemon
from aiobtclientapi.testing._targets import Target
from aiobtclientapi.testing._torrents import TestTorrent, make_torrent

#: One native target per client (what moves is the same over every transport).
NATIVE = {
    target_id.split("-", 1)[0]: target_id
    for target_id in one_transport_per_daemon(all_target_ids(include_memory=False))
    if not is_container_target(target_id)
}
PAIRS = list(itertools.permutations(sorted(NATIVE), 2))


def _files(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under `folder`: its SHA-256 and mtime (ns)."""
    return {
        str(path.relative_to(folder)): (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


async def _cleanup(target: Target, api: APIBase, infohashes: list[str]) -> None:
    """Remove the test's torrents (never the data), whatever state the test left."""
    try:
        present = await target.raw_infohashes(api)
        if gone := [h for h in infohashes if h in present]:
            await target.raw_remove(api, gone)
    except errors.Error:
        pass


async def _seeded(api: APIBase, data: Path, torrents_dir: Path, label: str) -> tuple[TestTorrent, TestTorrent]:
    """A started multi-file torrent with `label` and a stopped single-file one, both
    verified complete on `api`'s client."""
    multi = make_torrent(data, torrents_dir, files=3, size=96 * 1024)
    single = make_torrent(data, torrents_dir, size=64 * 1024)
    added = await api.add(str(multi.torrent_path), location=str(data), label=label)
    assert added.success, added
    added = await api.add(str(single.torrent_path), location=str(data), stopped=True)
    assert added.success, added
    # Not every client checks a torrent added stopped: the source is to have both complete.
    hashes = [multi.infohash, single.infohash]
    asked = await api.verify(*hashes)
    assert asked.success, asked
    final = {infohash: value async for infohash, value in api.verify_wait(*hashes, interval=0.1)}
    assert final == {multi.infohash: 100.0, single.infohash: 100.0}
    assert (await api.start(multi.infohash)).success
    return multi, single


async def _assert_moved(
    target: Target,
    api: APIBase,
    data: Path,
    label: str,
    multi: TestTorrent,
    single: TestTorrent,
) -> None:
    """The target has both complete, in `data`, with their label and state."""
    hashes = [multi.infohash, single.infohash]
    assert await target.raw_states(api, hashes) == {multi.infohash: "active", single.infohash: "stopped"}
    shown = {t.infohash: t for t in await api.get_torrents(*hashes, attributes=["progress", "label", "save_path"])}
    assert {h: (t.progress, t.label or None, t.save_path) for h, t in shown.items()} == {
        multi.infohash: (1.0, label, str(data)),
        single.infohash: (1.0, None, str(data)),
    }


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.mark.parametrize(("source_client", "target_client"), PAIRS, ids=[f"{s}-to-{t}" for s, t in PAIRS])
async def test_transfer_between_clients(
    target_pool: TargetPool, source_client: str, target_client: str, data: Path, tmp_path: Path
) -> None:
    # Each client is a source and a target with and without remove_source; a
    # third of the pairs skip the target's check.
    index = PAIRS.index((source_client, target_client))
    remove_source, verify = index % 2 == 1, index % 3 != 2
    source_target, target_target = target_pool.get(NATIVE[source_client]), target_pool.get(NATIVE[target_client])
    label = f"moved-{index}"  # one every client keeps as it is
    async with source_target.make_api() as source, target_target.make_api() as target:
        hashes: list[str] = []
        try:
            multi, single = await _seeded(source, data, tmp_path / "torrents", label)
            hashes = [multi.infohash, single.infohash]
            on_disk = _files(data)
            steps: list[TransferProgress] = []

            response = await aiobtclientapi.transfer(
                source, target, *hashes, remove_source=remove_source, verify=verify, on_progress=steps.append
            )

            assert response.errors == []
            assert sorted(response.transferred) == sorted(hashes)
            skips = "verify" not in target.port.add_limitations
            assert response.warnings == (
                []
                if verify or skips
                else [aiobtclientapi.Warning(f"{target_client} can't skip verification: verify=False is ignored")]
            )
            await _assert_moved(target_target, target, data, label, multi, single)
            if remove_source:
                assert not set(hashes) & await source_target.raw_infohashes(source)
            else:
                assert await source_target.raw_states(source, hashes) == dict.fromkeys(hashes, "stopped")
            assert _files(data) == on_disk
            assert [s.step for s in steps if s.done == s.total] == [
                "reading",
                "adding",
                "verifying",
                "labeling",
                "stopping",
                "starting",
                *(["removing"] if remove_source else []),
            ]
        finally:
            await _cleanup(source_target, source, hashes)
            await _cleanup(target_target, target, hashes)


@pytest.fixture
def deluge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DelugeDaemon]:
    """A Deluge of this test's own: it is killed midway."""
    daemon = DelugeDaemon(tmp_path_factory.mktemp("deluge-transfer"), NativeRunner())
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture
async def qbittorrent(target_pool: TargetPool) -> AsyncIterator[tuple[Target, APIBase]]:
    target = target_pool.get(NATIVE["qbittorrent"])
    async with target.make_api() as api:
        yield target, api


async def test_interrupted_transfer_runs_again_to_completion(
    qbittorrent: tuple[Target, APIBase], deluge: DelugeDaemon, data: Path, tmp_path: Path
) -> None:
    source_target, source = qbittorrent
    deluge_target = DelugeTarget(deluge)
    label = "interrupted"
    hashes: list[str] = []
    try:
        multi, single = await _seeded(source, data, tmp_path / "torrents", label)
        hashes = [multi.infohash, single.infohash]
        on_disk = _files(data)

        def kill_target(progress: TransferProgress) -> None:
            # The source has just stopped the started one: the target dies before it starts it.
            if progress.step == "stopping":
                deluge.kill()

        async with deluge_target.make_api() as target:
            response = await aiobtclientapi.transfer(
                source, target, *hashes, remove_source=True, on_progress=kill_target
            )
        assert response.transferred == [] and response.already_transferred == []
        assert response.errors and all(isinstance(e, errors.TransferTorrentError) for e in response.errors)
        # The source as it was: the started one started again, nothing removed.
        assert await source_target.raw_states(source, hashes) == {multi.infohash: "active", single.infohash: "stopped"}

        deluge.start()
        async with deluge_target.make_api() as target:
            again = await aiobtclientapi.transfer(source, target, *hashes, remove_source=True)
            assert again.errors == [] and sorted(again.transferred) == sorted(hashes), again
            await _assert_moved(deluge_target, target, data, label, multi, single)
            assert not set(hashes) & await source_target.raw_infohashes(source)

            third = await aiobtclientapi.transfer(source, target, *hashes, remove_source=True)
            assert (third.errors, third.transferred, sorted(third.already_transferred)) == ([], [], sorted(hashes))
        assert _files(data) == on_disk
    finally:
        await _cleanup(source_target, source, hashes)
