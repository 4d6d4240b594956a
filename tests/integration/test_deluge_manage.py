"""Deluge: remove, move, labels, limits, reannounce, session, .torrent files and
content_path against real daemons, checked by raw calls and on disk."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import torf

import aiobtclientapi
from aiobtclientapi import APIBase
from aiobtclientapi._registry import parse_url
from aiobtclientapi.adapters.deluge import DelugeAdapter
from aiobtclientapi.adapters.deluge._transport import DaemonError
from aiobtclientapi.application.ports import ConnectionOptions
from aiobtclientapi.domain.session import RateLimits
from aiobtclientapi.domain.source import source_from_metainfo
from aiobtclientapi.domain.torrent import Torrent, TorrentState
from aiobtclientapi.testing._daemon import NativeRunner
from aiobtclientapi.testing._deluge import DelugeDaemon
from aiobtclientapi.testing._torrents import TestTorrent, make_torrent
from tests.waiting import poll_until


# --- daemons ----------------------------------------------------------------------------------
def _start(workdir: Path, runner: NativeRunner, **kwargs: Any) -> DelugeDaemon:
    deluged = DelugeDaemon(workdir, runner, **kwargs)
    deluged.start()
    return deluged


@pytest.fixture(scope="module")
def daemon(runner: NativeRunner, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DelugeDaemon]:
    # Its own daemon: these tests enable the Label plugin and change global limits.
    deluged = _start(tmp_path_factory.mktemp("deluge-manage"), runner)
    try:
        yield deluged
    finally:
        deluged.stop()


@pytest.fixture(scope="module")
def daemon_without_label(runner: NativeRunner, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DelugeDaemon]:
    """A daemon whose plugin manager does not find the Label plugin, as if it were not installed."""
    deluged = _start(tmp_path_factory.mktemp("deluge-no-label"), runner, hidden_plugins=["Label"])
    try:
        yield deluged
    finally:
        deluged.stop()


async def _connected(daemon: DelugeDaemon) -> DelugeAdapter:
    adapter = DelugeAdapter(parse_url("deluge", daemon.url), ConnectionOptions(timeout=10))
    await adapter.connect()
    return adapter


@pytest.fixture
async def api(daemon: DelugeDaemon) -> AsyncIterator[APIBase]:
    adapter = await _connected(daemon)
    try:
        yield APIBase(adapter)
    finally:
        await adapter.disconnect()


def _adapter(api: APIBase) -> DelugeAdapter:
    port = api.port
    assert isinstance(port, DelugeAdapter)
    return port


# --- helpers ------------------------------------------------------------------------------------
def _wait_on_disk(done: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out waiting for {what}")
        time.sleep(0.05)


def _folder(daemon: DelugeDaemon, what: str) -> Path:
    """A fresh folder in the daemon's workdir (which a container sees at the same path)."""
    folder = daemon.download_dir / f"{what}-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    return folder


async def _add(api: APIBase, location: Path, torrents: list[TestTorrent], *, stopped: bool = False) -> list[str]:
    response = await api.add(*(str(t.torrent_path) for t in torrents), location=str(location), stopped=stopped)
    hashes = [t.infohash for t in torrents]
    assert sorted(response.added) == sorted(hashes), response.errors
    return hashes


async def _raw(api: APIBase, hashes: list[str], *keys: str) -> dict[str, dict[str, Any]]:
    rows = await api.call("core.get_torrents_status", {"id": hashes}, list(keys))
    return {infohash: row for infohash, row in rows.items() if row}


def _checked(row: dict[str, Any]) -> bool:
    # Queued: held by the queue behind earlier tests' torrents, or waiting to be checked.
    return row["state"] in ("Seeding", "Paused") or (row["state"] == "Queued" and row["progress"] == 100)


async def _settled(api: APIBase, hashes: list[str]) -> None:
    """Until every torrent is checked (a move or removal would race the check)."""
    await poll_until(
        lambda: _raw(api, hashes, "state", "progress"),
        lambda rows: len(rows) == len(hashes) and all(map(_checked, rows.values())),
        "torrents to be checked",
    )


def _files(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


# --- remove -----------------------------------------------------------------------------------
async def test_remove_keeps_or_deletes_data(api: APIBase, daemon: DelugeDaemon, tmp_path: Path) -> None:
    location = _folder(daemon, "remove")
    sibling = location / "sibling"
    sibling.mkdir()
    (sibling / "keep.bin").write_bytes(b"x")
    kept, multi, single = (make_torrent(location, tmp_path, files=files, size=48 * 1024) for files in (1, 3, 1))
    hashes = await _add(api, location, [kept, multi, single])
    await _settled(api, hashes)

    response = await api.remove(kept.infohash)
    assert response.success and response.removed == [kept.infohash], response.errors
    assert (location / kept.name).is_file()

    response = await api.remove(multi.infohash, single.infohash, delete_data=True)
    assert response.success and sorted(response.removed) == sorted([multi.infohash, single.infohash])
    assert not set(hashes) & set(await api.call("core.get_session_state"))
    # libtorrent deletes the files (and the folders they leave empty) after the daemon answered.
    _wait_on_disk(lambda: not (location / multi.name).exists() and not (location / single.name).exists(), "data gone")
    assert _files(location) == sorted([kept.name, "sibling", "sibling/keep.bin"])


async def test_remove_torrents_reports_unknown_ids(api: APIBase, daemon: DelugeDaemon, tmp_path: Path) -> None:
    location = _folder(daemon, "unknown")
    torrent = make_torrent(location, tmp_path, size=16 * 1024)
    await _add(api, location, [torrent], stopped=True)
    unknown = "ab" * 20
    # The port's call: the daemon removes the rest and names the unknown id.
    failures = await api.port.remove([unknown, torrent.infohash], False)
    assert list(failures) == [unknown]
    assert "not in session" in failures[unknown]
    assert torrent.infohash not in await api.call("core.get_session_state")
    # The service never sends an unknown id.
    response = await api.remove(unknown)
    assert response.removed == [] and response.errors == [aiobtclientapi.NoSuchTorrentError(unknown)]


# --- move -------------------------------------------------------------------------------------
async def test_move(api: APIBase, daemon: DelugeDaemon, tmp_path: Path) -> None:
    location = _folder(daemon, "move")
    multi, single = (make_torrent(location, tmp_path, files=files, size=48 * 1024) for files in (3, 1))
    hashes = await _add(api, location, [multi, single])
    await _settled(api, hashes)
    # A folder that doesn't exist yet: the daemon creates it.
    target = daemon.download_dir / f"moved-{uuid.uuid4().hex[:8]}" / "deeper"

    response = await api.move(*hashes, location=str(target))
    assert response.success and sorted(response.moved) == sorted(hashes), response.errors
    rows = await _raw(api, hashes, "download_location", "state")
    assert {row["download_location"] for row in rows.values()} == {str(target)}
    assert _files(target) == sorted([single.name, multi.name, *(f"{multi.name}/file{i}.bin" for i in range(3))])
    assert _files(location) == []

    again = await api.move(*hashes, location=str(target))
    assert sorted(again.already_moved) == sorted(hashes) and again.moved == []
    assert all(isinstance(w, aiobtclientapi.TorrentAlreadyMoved) for w in again.warnings)


async def test_move_under_a_file_fails_and_keeps_the_data(api: APIBase, daemon: DelugeDaemon, tmp_path: Path) -> None:
    location = _folder(daemon, "stay")
    torrent = make_torrent(location, tmp_path, files=2, size=32 * 1024)
    [infohash] = await _add(api, location, [torrent])
    await _settled(api, [infohash])
    blocker = location / "a-file"
    blocker.write_bytes(b"not a folder")

    # The daemon can't create the folder; it only logs that (move_storage
    # returns nothing): the service's grace finds the torrent never moving.
    response = await api.move(infohash, location=str(blocker / "sub"))
    assert response.moved == [] and len(response.errors) == 1, response
    [error] = response.errors
    assert isinstance(error, aiobtclientapi.MoveTorrentError) and torrent.name in str(error)
    rows = await _raw(api, [infohash], "download_location", "state")
    assert rows[infohash]["download_location"] == str(location)
    assert _files(location / torrent.name) == ["file0.bin", "file1.bin"]


# --- labels -----------------------------------------------------------------------------------
async def test_labels(api: APIBase, daemon: DelugeDaemon, tmp_path: Path) -> None:
    location = _folder(daemon, "labels")
    torrents = [make_torrent(location, tmp_path, size=16 * 1024) for _ in range(3)]
    hashes = await _add(api, location, torrents, stopped=True)
    label = f"films-{uuid.uuid4().hex[:6]}.hd_1"

    # The plugin is enabled and the label created on first use.
    response = await api.set_label(*hashes, label=label)
    assert response.success and sorted(response.labeled) == sorted(hashes), response.errors
    assert "Label" in await api.call("core.get_enabled_plugins")
    assert label in await api.call("label.get_labels")
    assert {row["label"] for row in (await _raw(api, hashes, "label")).values()} == {label}
    assert {t.label for t in await api.get_torrents(*hashes, attributes="label")} == {label}

    # A label the plugin would lower-case or refuse is an error; nothing changes.
    refused = await api.set_label(hashes[0], label="Movies 1")
    assert refused.labeled == [] and len(refused.errors) == 1
    assert "lower-case" in str(refused.errors[0]) and "Movies 1" in str(refused.errors[0])
    assert (await _raw(api, hashes[:1], "label"))[hashes[0]]["label"] == label
    assert "movies 1" not in await api.call("label.get_labels")

    # None clears.
    response = await api.set_label(*hashes[:2], label=None)
    assert response.success and sorted(response.labeled) == sorted(hashes[:2])
    assert [row["label"] for row in (await _raw(api, hashes, "label")).values()].count("") == 2
    listed = {t.infohash: t.label for t in await api.get_torrents(*hashes, attributes="label")}
    assert listed == {hashes[0]: None, hashes[1]: None, hashes[2]: label}

    # The label exists now ("Label already exists" is no failure); a no-op is a warning.
    response = await api.set_label(hashes[0], label=label)
    assert response.success and response.labeled == [hashes[0]], response.errors
    assert (await _raw(api, hashes[:1], "label"))[hashes[0]]["label"] == label
    again = await api.set_label(hashes[2], label=label)
    assert again.already_labeled == [hashes[2]]
    assert isinstance(again.warnings[0], aiobtclientapi.TorrentAlreadyLabeled)


async def test_missing_label_plugin(daemon_without_label: DelugeDaemon, tmp_path: Path) -> None:
    adapter = await _connected(daemon_without_label)
    try:
        api = APIBase(adapter)
        assert "Label" not in await api.call("core.get_available_plugins")
        location = _folder(daemon_without_label, "nolabel")
        torrents = [make_torrent(location, tmp_path, size=16 * 1024) for _ in range(2)]
        hashes = await _add(api, location, torrents, stopped=True)

        response = await api.set_label(*hashes, label="films")
        assert response.labeled == [] and len(response.errors) == 2
        for error in response.errors:
            assert isinstance(error, aiobtclientapi.LabelTorrentError)
            assert "Label plugin" in str(error) and "not available" in str(error)
        assert "Label" not in await api.call("core.get_enabled_plugins")
        assert {t.label for t in await api.get_torrents(*hashes, attributes="label")} == {None}

        # Added, with an error saying why it has no label.
        other = make_torrent(location, tmp_path, size=16 * 1024)
        added = await api.add(str(other.torrent_path), location=str(location), stopped=True, label="films")
        assert added.added == [other.infohash]
        assert len(added.errors) == 1 and "Label plugin" in str(added.errors[0])
    finally:
        await adapter.disconnect()


# --- limits and reannounce ------------------------------------------------------------------------
async def test_limits_round_trip(api: APIBase, daemon: DelugeDaemon, tmp_path: Path) -> None:
    location = _folder(daemon, "limits")
    torrents = [make_torrent(location, tmp_path, size=16 * 1024) for _ in range(2)]
    hashes = await _add(api, location, torrents, stopped=True)
    assert api.port.limit_unit == 1024

    response = await api.set_limits(*hashes, down=5000, up=None)  # 4.88 KiB/s: 5 KiB/s
    assert response.success and sorted(response.limited) == sorted(hashes), response.errors
    rows = await _raw(api, hashes, "max_download_speed", "max_upload_speed")
    assert {(row["max_download_speed"], row["max_upload_speed"]) for row in rows.values()} == {(5, -1)}
    listed = await api.get_torrents(*hashes, attributes="limit_down,limit_up")
    assert {(t.limit_down, t.limit_up) for t in listed} == {(5 * 1024, None)}

    # Below one KiB/s: one KiB/s, not unlimited; the limit not given stays.
    response = await api.set_limits(hashes[0], up=100)
    assert response.limited == [hashes[0]], response.errors
    row = (await _raw(api, hashes[:1], "max_download_speed", "max_upload_speed"))[hashes[0]]
    assert (row["max_download_speed"], row["max_upload_speed"]) == (5, 1)

    response = await api.set_limits(*hashes, down=None)
    assert response.success and sorted(response.limited) == sorted(hashes), response.errors
    rows = await _raw(api, hashes, "max_download_speed")
    assert {row["max_download_speed"] for row in rows.values()} == {-1}
    again = await api.set_limits(*hashes, down=None)
    assert sorted(again.already_limited) == sorted(hashes)


class _AnnounceCounter(ThreadingHTTPServer):
    """A tracker that counts announces by infohash and answers with no peers."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _AnnounceHandler)
        self.announces: Counter[str] = Counter()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/announce"


class _AnnounceHandler(BaseHTTPRequestHandler):
    server: _AnnounceCounter

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path != "/announce":
            self.send_error(404)
            return
        [info_hash] = parse_qs(query, encoding="latin-1")["info_hash"]
        self.server.announces[info_hash.encode("latin-1").hex()] += 1
        # No re-announce within the test: every announce after the first was
        # asked for. Min interval 0: libtorrent defers a forced announce until
        # the tracker's min interval (30 s when not given) has passed.
        body = b"d8:completei0e10:incompletei0e8:intervali3600e12:min intervali0e5:peers0:e"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def tracker() -> Iterator[_AnnounceCounter]:
    server = _AnnounceCounter()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


async def test_reannounce(api: APIBase, daemon: DelugeDaemon, tmp_path: Path, tracker: _AnnounceCounter) -> None:
    location = _folder(daemon, "announce")
    content = location / "announced.bin"
    content.write_bytes(b"a" * 32 * 1024)
    metainfo = torf.Torrent(path=content, private=True, trackers=[tracker.url], created_by=None)
    metainfo.generate()
    torrent_path = tmp_path / "announced.torrent"
    metainfo.write(torrent_path)
    infohash = str(metainfo.infohash).lower()
    added = await api.add(str(torrent_path), location=str(location))
    assert added.added == [infohash], added.errors
    await _settled(api, [infohash])
    first = await poll_until(lambda: asyncio.to_thread(lambda: tracker.announces[infohash]), bool, "the first announce")

    response = await api.reannounce(infohash)
    assert response.success and response.reannounced == [infohash], response.errors
    await poll_until(
        lambda: asyncio.to_thread(lambda: tracker.announces[infohash]), lambda n: n > first, "a reannounce"
    )


# --- session ----------------------------------------------------------------------------------
async def test_session(api: APIBase, daemon: DelugeDaemon, tmp_path: Path) -> None:
    torrent = make_torrent(_folder(daemon, "session"), tmp_path, size=16 * 1024)
    await _add(api, torrent.location, [torrent], stopped=True)
    session = await api.get_session()
    assert session.client == "deluge"
    assert session.version == await api.call("daemon.info")
    assert session.save_path == str(daemon.download_dir)
    free = shutil.disk_usage(daemon.download_dir).free
    assert session.free_space is not None and abs(session.free_space - free) < max(free // 20, 64 * 1024 * 1024)
    for value in (session.rate_down, session.rate_up, session.downloaded, session.uploaded):
        assert isinstance(value, int) and value >= 0
    assert session.torrents.get(TorrentState.stopped, 0) >= 1

    try:
        await api.set_session_limits(down=10_000, up=None)
        config = await api.call("core.get_config_values", ["max_download_speed", "max_upload_speed"])
        assert (config["max_download_speed"], config["max_upload_speed"]) == (10, -1)
        limited = await api.get_session()
        assert (limited.limit_down, limited.limit_up) == (10 * 1024, None)
        await api.set_session_limits(up=2048)  # down stays
        config = await api.call("core.get_config_values", ["max_download_speed", "max_upload_speed"])
        assert (config["max_download_speed"], config["max_upload_speed"]) == (10, 2)
    finally:
        await api.set_session_limits(down=None, up=None)
    config = await api.call("core.get_config_values", ["max_download_speed", "max_upload_speed"])
    assert (config["max_download_speed"], config["max_upload_speed"]) == (-1, -1)


# --- the .torrent file ------------------------------------------------------------------------------
async def test_torrent_file(api: APIBase, daemon: DelugeDaemon, tmp_path: Path) -> None:
    torrent = make_torrent(_folder(daemon, "export"), tmp_path, files=2, size=32 * 1024)
    await _add(api, torrent.location, [torrent], stopped=True)
    data = await api.get_torrent_file(torrent.infohash)
    assert source_from_metainfo(data, "state").infohash == torrent.infohash
    assert (daemon.config_dir / "state" / f"{torrent.infohash}.torrent").read_bytes() == data
    with pytest.raises(aiobtclientapi.NoSuchTorrentError):
        await api.get_torrent_file("cd" * 20)


async def test_torrent_file_not_on_this_host(
    api: APIBase, daemon: DelugeDaemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torrent = make_torrent(_folder(daemon, "remote"), tmp_path, size=16 * 1024)
    await _add(api, torrent.location, [torrent], stopped=True)
    # As a daemon on another host answers: its config folder is not here.
    transport = _adapter(api).transport
    call_many = transport.call_many

    async def elsewhere(calls: Any) -> list[Any]:
        replies = await call_many(calls)
        return [
            "/nowhere/deluge/plugins" if method == "core.get_config_value" else reply
            for (method, _, _), reply in zip(calls, replies, strict=True)
        ]

    monkeypatch.setattr(transport, "call_many", elsewhere)
    with pytest.raises(aiobtclientapi.NotImplementedError, match="not on this host"):
        await api.get_torrent_file(torrent.infohash)


# --- content_path -----------------------------------------------------------------------------
@pytest.mark.parametrize("files", [3, 1], ids=["multi-file", "single-file"])
async def test_content_path(api: APIBase, daemon: DelugeDaemon, tmp_path: Path, files: int) -> None:
    made = _folder(daemon, "made")
    torrent = make_torrent(made, tmp_path, files=files, size=48 * 1024)
    parent = _folder(daemon, "content")
    content = parent / ("Renamed Folder 1" if files > 1 else "renamed file.bin")
    (made / torrent.name).rename(content)
    before = _files(parent)

    response = await api.add(str(torrent.torrent_path), content_path=str(content))
    assert response.success and response.added == [torrent.infohash], response.errors

    def found_its_data(ts: list[Torrent]) -> bool:
        # Seeding, or queued behind the torrents of earlier tests.
        return bool(ts) and ts[0].state in (TorrentState.seeding, TorrentState.queued) and ts[0].progress == 1.0

    [listed] = await poll_until(
        lambda: api.get_torrents(torrent.infohash, attributes="content_path,save_path,state,progress"),
        found_its_data,
        "the torrent to find its data",
    )
    assert listed.content_path == str(content)
    assert listed.save_path == str(parent)
    rows = await _raw(api, [torrent.infohash], "download_location", "name", "files")
    assert rows[torrent.infohash]["download_location"] == str(parent)
    assert rows[torrent.infohash]["name"] == content.name
    assert _files(parent) == before  # nothing created, copied or renamed


# --- requests ---------------------------------------------------------------------------------
async def test_calls_in_one_frame(api: APIBase, daemon: DelugeDaemon) -> None:
    transport = _adapter(api).transport
    frames = transport.messages_sent
    version, refused, location = await transport.call_many(
        [
            ("daemon.info", (), {}),
            ("core.no_such_method", (), {}),
            ("core.get_config_value", ("download_location",), {}),
        ]
    )
    assert transport.messages_sent == frames + 1
    assert version == await api.call("daemon.info")
    assert isinstance(refused, DaemonError) and "core.no_such_method" in str(refused)
    assert location == str(daemon.download_dir)
    assert await transport.call_many([]) == []


async def test_batches_cost_the_same_for_5_and_500(runner: NativeRunner, daemon: DelugeDaemon, tmp_path: Path) -> None:
    if runner.name != "native":
        pytest.skip("the same protocol in every version: counted on the native daemon")
    location = _folder(daemon, "many")
    torrents = [make_torrent(location, tmp_path, size=16 * 1024, keep_content=False) for _ in range(505)]
    adapter = await _connected(daemon)
    try:
        api = APIBase(adapter)
        hashes = await _add(api, location, torrents, stopped=True)
        # The first label enables the plugin: not what is counted.
        assert await adapter.set_label(hashes[:1], "many") == {}
        cost: dict[int, tuple[dict[str, int], int]] = {}
        for batch in (hashes[:5], hashes[5:]):
            before, frames = dict(adapter.request_counts), adapter.messages_sent
            assert await adapter.set_limits(batch, RateLimits(down=2048, up=None)) == {}
            assert await adapter.reannounce(batch) == {}
            assert await adapter.set_label(batch, "many") == {}
            assert await adapter.remove(batch, False) == {}
            after = adapter.request_counts
            sent = {m: n - before.get(m, 0) for m, n in after.items() if n != before.get(m, 0)}
            cost[len(batch)] = (sent, adapter.messages_sent - frames)
        # The label plugin takes one torrent a call, but all of them in one frame.
        assert cost[5][0].pop("label.set_torrent") == 5 and cost[500][0].pop("label.set_torrent") == 500
        assert cost[500] == cost[5]
        assert cost[500][0]["core.remove_torrents"] == 1
        assert not set(hashes) & set(await adapter.call("core.get_session_state"))
    finally:
        await adapter.disconnect()
