"""The contract of remove, move, reannounce, labels, limits, the session and torrent files.

Every test checks what the client and the disk say afterwards, not just the
Response: the listing (get_torrents, itself checked by test_listing against
the torrents the tests make), the raw infohash list and the files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path

import pytest

from aiobtclientapi import APIBase, Session, TorrentState
from aiobtclientapi.application.services import expected_limit
from aiobtclientapi.domain import errors
from aiobtclientapi.domain.source import source_from_metainfo
from aiobtclientapi.testing._targets import Target
from aiobtclientapi.testing._torrents import TestTorrent, make_torrent
from tests.contract.conftest import settle
from tests.contract.test_listing import added_and_verified, only
from tests.waiting import until

#: Once per daemon: none of this depends on how the bytes travel.
ONE_TRANSPORT = True
UNKNOWN = "0000000000000000000000000000000000000001"


async def added(target: Target, api: APIBase, *torrents: TestTorrent) -> None:
    """Add `torrents` stopped and wait until the client is done with any check it starts by
    itself: for tests that don't need the data checked to the end (cheaper than a verify)."""
    response = await api.add(*(str(t.torrent_path) for t in torrents), location=str(torrents[0].location), stopped=True)
    assert response.success, response.errors
    await settle(target, api, [t.infohash for t in torrents])


def folder(target: Target, name: str) -> Path:
    """A new folder the daemon can use, beside its download dir."""
    path = target.download_dir.parent / f"{name}-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    return path


def files_of(torrent: TestTorrent, location: Path) -> dict[str, int]:
    """Relative path → size of every file of the torrent's content under `location`."""
    content = location / torrent.name
    if content.is_file():
        return {torrent.name: content.stat().st_size}
    return {str(p.relative_to(location)): p.stat().st_size for p in sorted(content.rglob("*")) if p.is_file()}


# --- remove ------------------------------------------------------------------------------------
async def test_remove_with_and_without_data(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    kept: TestTorrent = new_torrent(files=2, size=64 * 1024)
    deleted: TestTorrent = new_torrent(files=3, size=96 * 1024)
    single: TestTorrent = new_torrent()
    await added(target, api, kept, deleted, single)
    # A sibling that shares the download dir and a name prefix must survive.
    sibling = target.download_dir / f"{deleted.name}-sibling"
    sibling.mkdir()
    (sibling / "keep.bin").write_bytes(b"x")

    response = await api.remove(kept.infohash, UNKNOWN)
    assert response.removed == [kept.infohash]
    assert response.errors == [errors.NoSuchTorrentError(UNKNOWN)]
    response = await api.remove(deleted.infohash, single.infohash, delete_data=True)
    assert response.success, response.errors
    assert sorted(response.removed) == sorted([deleted.infohash, single.infohash])

    assert not {kept.infohash, deleted.infohash, single.infohash} & await target.raw_infohashes(api)
    assert files_of(kept, kept.location)  # still there
    await until(
        lambda: not (deleted.location / deleted.name).exists() and not (single.location / single.name).exists(),
        "the data deleted",
    )
    assert (sibling / "keep.bin").read_bytes() == b"x"
    assert target.download_dir.is_dir()


# --- move --------------------------------------------------------------------------------------
async def test_move_moves_the_data_and_keeps_the_state(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    torrent: TestTorrent = new_torrent(files=2, size=64 * 1024)
    await added_and_verified(api, torrent)
    before = files_of(torrent, torrent.location)
    destination = folder(target, "moved")

    response = await api.move(torrent.infohash, location=str(destination))
    assert response.success, response.errors
    assert response.moved == [torrent.infohash]
    moved = await only(api, torrent.infohash, ["save_path", "content_path", "state", "progress"])
    assert moved.save_path == str(destination)
    assert moved.content_path == str(destination / torrent.name)
    assert moved.state is TorrentState.stopped and moved.progress == 1.0
    await until(
        lambda: files_of(torrent, destination) == before and not (torrent.location / torrent.name).exists(),
        "the data moved",
    )

    again = await api.move(torrent.infohash, location=str(destination) + "/")
    assert again.already_moved == [torrent.infohash] and not again.moved
    assert again.warnings == [errors.TorrentAlreadyMoved(torrent.infohash, torrent.name)]


async def test_a_move_that_cannot_happen_leaves_the_data(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    torrent: TestTorrent = new_torrent(files=2, size=64 * 1024)
    await added_and_verified(api, torrent)
    before = files_of(torrent, torrent.location)
    blocker = folder(target, "blocker") / "a-file"
    blocker.write_bytes(b"not a folder")

    response = await api.move(torrent.infohash, location=str(blocker / "sub"))
    assert not response.moved
    assert [type(e) for e in response.errors] == [errors.MoveTorrentError], response.errors
    relative = await api.move(torrent.infohash, location="relative/path")
    assert relative.errors == [errors.ValueError("Not an absolute path: 'relative/path'")]

    found = await only(api, torrent.infohash, ["save_path", "state", "progress"])
    assert found.save_path == str(torrent.location)
    assert files_of(torrent, torrent.location) == before
    assert blocker.read_bytes() == b"not a folder"


# --- reannounce --------------------------------------------------------------------------------
async def test_reannounce(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    running: TestTorrent = new_torrent()
    stopped: TestTorrent = new_torrent()
    await added(target, api, running, stopped)
    assert (await api.start(running.infohash)).success
    response = await api.reannounce(running.infohash, stopped.infohash, UNKNOWN)
    assert response.reannounced == [running.infohash]
    assert response.errors == [
        errors.NoSuchTorrentError(UNKNOWN),
        errors.ReannounceTorrentError(f"{stopped.name}: Torrent is stopped"),
    ]


# --- labels --------------------------------------------------------------------------------------
async def test_labels(api: APIBase, new_torrent, tmp_path: Path, target: Target) -> None:  # type: ignore[no-untyped-def]
    torrent: TestTorrent = new_torrent()
    await added(target, api, torrent)
    label = f"tv-{uuid.uuid4().hex[:6]}"

    response = await api.set_label(torrent.infohash, UNKNOWN, label=label)
    assert response.labeled == [torrent.infohash]
    assert response.errors == [errors.NoSuchTorrentError(UNKNOWN)]
    assert (await only(api, torrent.infohash, ["label"])).label == label
    again = await api.set_label(torrent.infohash, label=label)
    assert again.already_labeled == [torrent.infohash] and again.success

    cleared = await api.set_label(torrent.infohash, label=None)
    assert cleared.labeled == [torrent.infohash], cleared.errors
    assert (await only(api, torrent.infohash, ["label"])).label is None

    # A label given to add() is set like set_label's.
    other = make_torrent(target.download_dir, tmp_path / "torrents")
    with_label = await api.add(str(other.torrent_path), location=str(other.location), stopped=True, label=label)
    assert with_label.added == [other.infohash], with_label.errors
    assert with_label.success, with_label.errors
    assert (await only(api, other.infohash, ["label"])).label == label


# --- limits --------------------------------------------------------------------------------------
async def test_limits(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    torrent: TestTorrent = new_torrent()
    await added(target, api, torrent)
    unit = api.port.limit_unit
    response = await api.set_limits(torrent.infohash, UNKNOWN, down=100_000, up=50_000)
    assert response.limited == [torrent.infohash]
    assert response.errors == [errors.NoSuchTorrentError(UNKNOWN)]
    found = await only(api, torrent.infohash, ["limit_down", "limit_up"])
    assert (found.limit_down, found.limit_up) == (expected_limit(100_000, unit), expected_limit(50_000, unit))

    # Only the given one changes; None is unlimited.
    response = await api.set_limits(torrent.infohash, down=None)
    assert response.limited == [torrent.infohash], response.errors
    found = await only(api, torrent.infohash, ["limit_down", "limit_up"])
    assert (found.limit_down, found.limit_up) == (None, expected_limit(50_000, unit))
    again = await api.set_limits(torrent.infohash, up=50_000)
    assert again.already_limited == [torrent.infohash] and again.success


# --- session -------------------------------------------------------------------------------------
async def test_session(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    torrent: TestTorrent = new_torrent()
    await added(target, api, torrent)
    session = await api.get_session()
    assert isinstance(session, Session)
    assert session.client == target.client
    assert session.version
    for value in (session.rate_down, session.rate_up, session.downloaded, session.uploaded):
        assert value is None or (isinstance(value, int) and value >= 0), session
    assert session.torrents.get(TorrentState.stopped, 0) >= 1
    assert sum(session.torrents.values()) == len(await api.get_infohashes())
    assert session.free_space is None or session.free_space > 0
    if session.free_space is not None:
        assert abs(session.free_space - shutil.disk_usage(target.download_dir).free) < 1 << 30

    unit = api.port.limit_unit
    try:
        await api.set_session_limits(down=300_000, up=200_000)
        session = await api.get_session()
        assert (session.limit_down, session.limit_up) == (expected_limit(300_000, unit), expected_limit(200_000, unit))
    finally:
        await api.set_session_limits(down=None, up=None)
    session = await api.get_session()
    assert (session.limit_down, session.limit_up) == (None, None)


# --- torrent files -----------------------------------------------------------------------------
async def test_torrent_file(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    torrent: TestTorrent = new_torrent(files=2)
    await added(target, api, torrent)
    data = await api.get_torrent_file(torrent.infohash)
    assert source_from_metainfo(data, "exported").infohash == torrent.infohash
    with pytest.raises(errors.NoSuchTorrentError):
        await api.get_torrent_file(UNKNOWN)


# --- content in a folder of another name --------------------------------------------------------
@pytest.mark.parametrize("files", [3, 1])
async def test_content_path(target: Target, api: APIBase, new_torrent, files: int) -> None:  # type: ignore[no-untyped-def]
    torrent: TestTorrent = new_torrent(files=files, size=96 * 1024)
    # The content as another tracker named it, elsewhere.
    renamed = folder(target, "cross") / f"Other Name {uuid.uuid4().hex[:6]}"
    os.rename(torrent.location / torrent.name, renamed)
    before = sorted(str(p.relative_to(renamed.parent)) for p in [renamed, *renamed.rglob("*")])
    digest = {p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in [renamed, *renamed.rglob("*")] if p.is_file()}

    response = await api.add(str(torrent.torrent_path), content_path=str(renamed), stopped=True)
    if files == 1 and target.client == "rtorrent":
        # rTorrent names a single file after the torrent, and has no way to rename it.
        assert response.errors == [
            errors.AddTorrentError(
                f"{torrent.torrent_path}: rTorrent names a single-file torrent's file after the torrent "
                f"({torrent.name!r}): it can't use {renamed.name!r}"
            )
        ]
        assert torrent.infohash not in await api.get_infohashes()
        assert [p.name for p in renamed.parent.iterdir()] == [renamed.name]
        return
    assert response.added == [torrent.infohash] and response.success, response.errors
    verified = await api.verify(torrent.infohash)
    assert verified.success, verified.errors
    async for _, progress in api.verify_wait(torrent.infohash, interval=(0.1, 1.0)):
        assert not isinstance(progress, errors.Error), progress

    found = await only(api, torrent.infohash, ["content_path", "progress"])
    assert found.content_path == str(renamed)
    assert found.progress == 1.0
    # Nothing on disk was renamed, copied or added.
    after = sorted(str(p.relative_to(renamed.parent)) for p in [renamed, *renamed.rglob("*")])
    assert after == before
    assert {
        p.name: hashlib.sha1(p.read_bytes()).hexdigest() for p in [renamed, *renamed.rglob("*")] if p.is_file()
    } == digest
    assert not (torrent.location / torrent.name).exists()


async def test_content_path_must_be_absolute_and_alone(api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    torrent: TestTorrent = new_torrent()
    response = await api.add(str(torrent.torrent_path), content_path="relative")
    assert response.errors == [errors.ValueError("Not an absolute path: 'relative'")]
    response = await api.add(str(torrent.torrent_path), content_path="/x", location="/y")
    assert response.errors == [errors.ValueError("Give location or content_path, not both")]
    assert torrent.infohash not in await api.get_infohashes()
