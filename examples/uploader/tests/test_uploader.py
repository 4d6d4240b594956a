"""The uploader against real clients (bt_api) and the in-memory one (bt_memory_api)."""

from __future__ import annotations

from pathlib import Path

from conftest import MakeTorrent
from uploader import Upload, upload

from aiobtclientapi import APIBase, TorrentState
from aiobtclientapi.testing.plugin import BtDaemon


async def test_torrents_are_added_and_started(
    bt_api: APIBase, bt_api_daemon: BtDaemon, make_torrent: MakeTorrent
) -> None:
    # The content is where the daemon downloads to: the client finds it complete.
    first, first_infohash = make_torrent(bt_api_daemon.download_dir)
    second, second_infohash = make_torrent(bt_api_daemon.download_dir)

    uploads = await upload(bt_api, [first, second])

    assert uploads == [Upload(first, first_infohash, started=True), Upload(second, second_infohash, started=True)]
    assert sorted(await bt_api.get_infohashes()) == sorted([first_infohash, second_infohash])
    for torrent in await bt_api.get_torrents(first_infohash, second_infohash, attributes=["state"]):
        assert torrent.state != TorrentState.stopped, torrent


async def test_a_file_the_client_refuses_is_reported(
    bt_api: APIBase, bt_api_daemon: BtDaemon, make_torrent: MakeTorrent, tmp_path: Path
) -> None:
    good, infohash = make_torrent(bt_api_daemon.download_dir)
    bad = tmp_path / "bad.torrent"
    bad.write_bytes(b"not a torrent")

    uploads = await upload(bt_api, [bad, good])

    assert uploads[0].infohash is None and not uploads[0].started and uploads[0].problem
    assert uploads[1] == Upload(good, infohash, started=True)
    assert await bt_api.get_infohashes() == [infohash]


async def test_nothing_to_start(bt_memory_api: APIBase, tmp_path: Path) -> None:
    bad = tmp_path / "bad.torrent"
    bad.write_bytes(b"d4:infoe")

    [only] = await upload(bt_memory_api, [bad])

    assert only.infohash is None and only.problem
    assert await bt_memory_api.get_infohashes() == []


async def test_a_torrent_added_before_is_started(
    bt_memory_api: APIBase, make_torrent: MakeTorrent, tmp_path: Path
) -> None:
    torrent_file, infohash = make_torrent(tmp_path)
    await bt_memory_api.add(str(torrent_file), location=str(tmp_path), stopped=True)

    uploads = await upload(bt_memory_api, [torrent_file], location=str(tmp_path))

    assert uploads == [Upload(torrent_file, infohash, started=True)]
    [torrent] = await bt_memory_api.get_torrents(infohash, attributes=["state"])
    assert torrent.state != TorrentState.stopped
