"""qBittorrent: remove, move, reannounce, category, limits, session, export and
content_path, against real daemons; the daemon's state is read with raw calls
and from the disk.

What behaves the same on every version (one code path over the same
endpoints) runs against the native daemon only; what differs between versions
(the session's free space, export, content layout and renames) runs against
every daemon of the matrix.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import urllib.parse
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
import torf

import aiobtclientapi
from aiobtclientapi import APIBase
from aiobtclientapi.adapters.qbittorrent import QbittorrentAdapter
from aiobtclientapi.domain import errors
from aiobtclientapi.domain.session import RateLimits
from aiobtclientapi.domain.source import source_from_metainfo
from aiobtclientapi.testing._daemon import NativeRunner
from aiobtclientapi.testing._qbittorrent import QbittorrentDaemon
from aiobtclientapi.testing._torrents import TestTorrent, make_torrent
from tests.waiting import poll_until, until

T = TypeVar("T")
FILE_SIZE = 16 * 1024


@pytest.fixture(scope="module")
def native(tmp_path_factory: pytest.TempPathFactory) -> Iterator[QbittorrentDaemon]:
    daemon = QbittorrentDaemon(tmp_path_factory.mktemp("qbittorrent-manage"), NativeRunner())
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture(scope="module")
def daemon(
    runner: NativeRunner, native: QbittorrentDaemon, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[QbittorrentDaemon]:
    """The native daemon, and with BTC_CONTAINERS=1 each container's."""
    if type(runner) is NativeRunner:
        yield native
        return
    daemon = QbittorrentDaemon(tmp_path_factory.mktemp(f"qbittorrent-manage-{runner.name}"), runner)
    daemon.start()
    yield daemon
    daemon.stop()


async def _api(daemon: QbittorrentDaemon) -> AsyncIterator[APIBase]:
    api = aiobtclientapi.api("qbittorrent", daemon.url)
    async with api:
        yield api


@pytest.fixture
async def native_api(native: QbittorrentDaemon) -> AsyncIterator[APIBase]:
    async for api in _api(native):
        yield api


@pytest.fixture
async def api(daemon: QbittorrentDaemon) -> AsyncIterator[APIBase]:
    async for api in _api(daemon):
        yield api


def adapter_of(api: APIBase) -> QbittorrentAdapter:
    assert isinstance(api.port, QbittorrentAdapter)
    return api.port


def new_torrent(location: Path, tmp_path: Path, **kwargs: Any) -> TestTorrent:
    return make_torrent(location, tmp_path / "torrents", size=kwargs.pop("size", 3 * FILE_SIZE), **kwargs)


async def added(api: APIBase, *torrents: TestTorrent, verified: bool = True) -> None:
    """Added stopped; checked to the end unless `verified` is False."""
    response = await api.add(*(str(t.torrent_path) for t in torrents), location=str(torrents[0].location), stopped=True)
    assert response.success, response.errors
    if verified:
        infohashes = [t.infohash for t in torrents]
        assert (await api.verify(*infohashes)).success
        async for _, progress in api.verify_wait(*infohashes, interval=(0.05, 0.5)):
            assert not isinstance(progress, errors.Error), progress


async def raw_rows(api: APIBase, *infohashes: str) -> dict[str, dict[str, Any]]:
    rows = await api.call("torrents/info", hashes="|".join(infohashes))
    return {row["hash"]: row for row in rows}


def requests_of(api: APIBase, operation: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[Counter[str]]]:
    async def count() -> Counter[str]:
        before = Counter(api.port.request_counts)
        await operation()
        return Counter(api.port.request_counts) - before

    return count


# --- remove -----------------------------------------------------------------------------------
async def test_remove_with_and_without_data(native_api: APIBase, native: QbittorrentDaemon, tmp_path: Path) -> None:
    location = native.download_dir / f"remove-{tmp_path.name}"
    kept, deleted = (new_torrent(location, tmp_path, files=3) for _ in range(2))
    sibling = location / "sibling"
    sibling.mkdir()
    (sibling / "keep.bin").write_bytes(b"x")
    await added(native_api, kept, deleted, verified=False)

    response = await native_api.remove(kept.infohash)
    assert (response.success, response.removed) == (True, [kept.infohash])
    response = await native_api.remove(deleted.infohash, "00" * 20, delete_data=True)
    assert response.removed == [deleted.infohash]
    assert [type(e) for e in response.errors] == [errors.NoSuchTorrentError]

    assert await raw_rows(native_api, kept.infohash, deleted.infohash) == {}
    assert sorted(p.name for p in (location / kept.name).iterdir()) == ["file0.bin", "file1.bin", "file2.bin"]
    # The daemon deletes the files a moment after answering.
    await until(lambda: not (location / deleted.name).exists(), "the data deleted")
    assert (sibling / "keep.bin").read_bytes() == b"x"


# --- move ------------------------------------------------------------------------------------
async def test_move_moves_the_data(native_api: APIBase, native: QbittorrentDaemon, tmp_path: Path) -> None:
    torrent = new_torrent(native.download_dir, tmp_path, files=3)
    await added(native_api, torrent, verified=False)  # moved whatever it has
    target = native.download_dir / f"moved-{tmp_path.name}" / "deeper"  # created by the daemon

    response = await native_api.move(torrent.infohash, location=str(target))
    assert (response.success, response.moved) == (True, [torrent.infohash]), response.errors
    row = (await raw_rows(native_api, torrent.infohash))[torrent.infohash]
    assert row["save_path"].rstrip("/") == str(target)
    assert sorted(p.name for p in (target / torrent.name).iterdir()) == ["file0.bin", "file1.bin", "file2.bin"]
    assert not (native.download_dir / torrent.name).exists()

    again = await native_api.move(torrent.infohash, location=str(target))
    assert again.already_moved == [torrent.infohash] and again.moved == []


async def test_move_below_a_regular_file_fails_and_leaves_the_data(
    native_api: APIBase, native: QbittorrentDaemon, tmp_path: Path
) -> None:
    torrent = new_torrent(native.download_dir, tmp_path, files=2)
    await added(native_api, torrent, verified=False)
    regular = native.download_dir / f"regular-{tmp_path.name}"
    regular.write_bytes(b"not a folder")

    # The port reports the daemon's refusal per torrent.
    failures = await native_api.port.move([torrent.infohash], str(regular / "sub"))
    assert "Cannot make save path" in failures[torrent.infohash], failures

    response = await native_api.move(torrent.infohash, location=str(regular / "sub"))
    assert response.moved == [] and [type(e) for e in response.errors] == [errors.MoveTorrentError]
    assert "Cannot make save path" in str(response.errors[0])
    row = (await raw_rows(native_api, torrent.infohash))[torrent.infohash]
    assert row["save_path"].rstrip("/") == str(native.download_dir)
    assert (native.download_dir / torrent.name / "file0.bin").is_file()
    assert regular.read_bytes() == b"not a folder"


# --- categories and limits ----------------------------------------------------------------------
async def test_label_is_the_category_created_when_missing(
    native_api: APIBase, native: QbittorrentDaemon, tmp_path: Path
) -> None:
    torrents = [new_torrent(native.download_dir, tmp_path, size=FILE_SIZE) for _ in range(2)]
    await added(native_api, *torrents, verified=False)
    infohashes = [t.infohash for t in torrents]
    label = f"Movies {tmp_path.name}"
    assert label not in await native_api.call("torrents/categories")

    response = await native_api.set_label(*infohashes, label=label)
    assert (response.success, sorted(response.labeled)) == (True, sorted(infohashes)), response.errors
    assert label in await native_api.call("torrents/categories")
    assert {row["category"] for row in (await raw_rows(native_api, *infohashes)).values()} == {label}
    assert {t.label for t in await native_api.get_torrents(*infohashes, attributes=["label"])} == {label}

    # An existing category: no createCategory.
    other = new_torrent(native.download_dir, tmp_path, size=FILE_SIZE)
    await added(native_api, other, verified=False)
    sent = await requests_of(native_api, lambda: native_api.port.set_label([other.infohash], label))()
    assert sent == Counter({"torrents/setCategory": 1})

    # A name qBittorrent refuses: a failure saying so, nothing changed.
    refused = await native_api.set_label(*infohashes, label="a//b")
    assert refused.labeled == [] and len(refused.errors) == 2
    assert all("Incorrect category name" in str(e) for e in refused.errors), refused.errors

    cleared = await native_api.set_label(*infohashes, label=None)
    assert sorted(cleared.labeled) == sorted(infohashes)
    assert {row["category"] for row in (await raw_rows(native_api, *infohashes)).values()} == {""}
    assert {t.label for t in await native_api.get_torrents(*infohashes, attributes=["label"])} == {None}


async def test_limits_round_trip(native_api: APIBase, native: QbittorrentDaemon, tmp_path: Path) -> None:
    torrent = new_torrent(native.download_dir, tmp_path, size=FILE_SIZE)
    await added(native_api, torrent, verified=False)
    found = (await native_api.get_torrents(torrent.infohash, attributes=["limit_down", "limit_up"]))[0]
    assert (found.limit_down, found.limit_up) == (None, None)

    # KiB/s, the unit of its global limits: the nearest, at least one.
    assert native_api.port.limit_unit == 1024
    response = await native_api.set_limits(torrent.infohash, down=20_000, up=100)
    assert response.limited == [torrent.infohash], response.errors
    row = (await raw_rows(native_api, torrent.infohash))[torrent.infohash]
    assert (row["dl_limit"], row["up_limit"]) == (20 * 1024, 1024)
    found = (await native_api.get_torrents(torrent.infohash, attributes=["limit_down", "limit_up"]))[0]
    assert (found.limit_down, found.limit_up) == (20 * 1024, 1024)

    # UNSET stays, None is unlimited (0 on the wire).
    response = await native_api.set_limits(torrent.infohash, down=None)
    assert response.limited == [torrent.infohash], response.errors
    row = (await raw_rows(native_api, torrent.infohash))[torrent.infohash]
    assert (row["dl_limit"], row["up_limit"]) == (0, 1024)

    # The change feed reports them too.
    feed = native_api.port.change_feed(frozenset({"limit_down", "limit_up"}))
    changes = await feed.poll()
    assert [(t.limit_down, t.limit_up) for t in changes.changed if t.infohash == torrent.infohash] == [(None, 1024)]
    await native_api.port.set_limits([torrent.infohash], RateLimits(down=5 * 1024))
    changes = await poll_until(
        feed.poll, lambda c: any(t.infohash == torrent.infohash for t in c.changed), "the change fed", timeout=10
    )
    assert [(t.limit_down, t.limit_up) for t in changes.changed if t.infohash == torrent.infohash] == [(5 * 1024, 1024)]
    await feed.close()


# --- reannounce --------------------------------------------------------------------------------
class _CountingTracker(ThreadingHTTPServer):
    """A tracker on loopback that counts announces by infohash (hex)."""

    daemon_threads = True

    def __init__(self) -> None:
        self.announces: Counter[str] = Counter()
        tracker = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                for name, value in urllib.parse.parse_qsl(query, encoding="latin-1"):
                    if name == "info_hash":
                        tracker.announces[value.encode("latin-1").hex()] += 1
                # A short min interval: before 5.2 a forced announce waits for it.
                body = b"d8:intervali3600e12:min intervali1e5:peers0:e"
                self.send_response(200 if path == "/announce" else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/announce"


@pytest.fixture
def tracker() -> Iterator[_CountingTracker]:
    server = _CountingTracker()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


async def test_reannounce_announces_again(
    native_api: APIBase, native: QbittorrentDaemon, tmp_path: Path, tracker: _CountingTracker
) -> None:
    content = native.download_dir / f"announced-{tmp_path.name}.bin"
    content.write_bytes(b"a" * FILE_SIZE)
    metainfo = torf.Torrent(path=content, private=True, piece_size=FILE_SIZE, trackers=[tracker.url])
    metainfo.generate()
    infohash = str(metainfo.infohash).lower()
    metainfo.write(tmp_path / "announced.torrent")
    response = await native_api.add(str(tmp_path / "announced.torrent"), location=str(native.download_dir))
    assert response.success, response.errors
    try:
        first = await poll_until(
            lambda: asyncio.sleep(0, tracker.announces[infohash]), lambda count: count >= 1, "an announce"
        )

        reannounced = await native_api.reannounce(infohash)
        assert reannounced.reannounced == [infohash], reannounced.errors
        await poll_until(
            lambda: asyncio.sleep(0, tracker.announces[infohash]), lambda count: count > first, "a reannounce"
        )
    finally:
        # While its tracker still answers: qBittorrent 4.5.2 left with a torrent
        # whose tracker is gone takes 15 s to exit at the end of the module.
        await native_api.remove(infohash)


# --- what 500 torrents cost ----------------------------------------------------------------------
async def test_batches_cost_the_same_for_5_and_500(
    native_api: APIBase, native: QbittorrentDaemon, tmp_path: Path
) -> None:
    location = native.download_dir / f"many-{tmp_path.name}"
    torrents = [new_torrent(location, tmp_path, size=FILE_SIZE, keep_content=False) for _ in range(500)]
    await added(native_api, *torrents, verified=False)
    port = native_api.port
    label = f"many-{tmp_path.name}"
    await port.set_label([torrents[0].infohash], label)  # the category exists from here on

    def costs(infohashes: list[str]) -> list[Callable[[], Awaitable[Counter[str]]]]:
        return [
            requests_of(native_api, lambda: port.set_label(infohashes, label)),
            requests_of(native_api, lambda: port.set_limits(infohashes, RateLimits(down=10_000, up=None))),
            requests_of(native_api, lambda: port.reannounce(infohashes)),
            requests_of(native_api, lambda: port.remove(infohashes, False)),
        ]

    few = [t.infohash for t in torrents[:5]]
    many = [t.infohash for t in torrents[5:]]
    for cost_of_few, cost_of_many in zip(costs(few), costs(many), strict=True):
        assert await cost_of_few() == await cost_of_many()
    ours = {t.infohash for t in torrents}
    await poll_until(native_api.get_infohashes, lambda present: not ours & set(present), "the torrents removed")


# --- session (version-dependent: where the free space comes from) --------------------------------
async def test_session(api: APIBase, daemon: QbittorrentDaemon) -> None:
    session = await api.get_session()
    assert (session.client, session.version) == ("qbittorrent", daemon.version)
    assert session.save_path == str(daemon.download_dir)
    free = shutil.disk_usage(daemon.download_dir).free
    if daemon.major < 5 and session.free_space is None:
        pass  # 4.x measures it first when the Web API session is 30 s old
    else:
        assert session.free_space is not None and abs(session.free_space - free) < max(free // 10, 1 << 30)
    assert all(isinstance(v, int) and v >= 0 for v in (session.rate_down, session.rate_up))
    assert all(isinstance(v, int) and v >= 0 for v in (session.downloaded, session.uploaded))

    try:
        await api.set_session_limits(down=1_000_000, up=None)
        info = await api.call("transfer/info")
        assert (info["dl_rate_limit"], info["up_rate_limit"]) == (977 * 1024, 0)  # nearest KiB/s
        session = await api.get_session()
        assert (session.limit_down, session.limit_up) == (977 * 1024, None)
    finally:
        await api.set_session_limits(down=None, up=None)
    assert (await api.call("transfer/info"))["dl_rate_limit"] == 0


# --- the .torrent file --------------------------------------------------------------------------
async def test_torrent_file(api: APIBase, daemon: QbittorrentDaemon, tmp_path: Path) -> None:
    torrent = new_torrent(daemon.download_dir, tmp_path, files=2)
    await added(api, torrent, verified=False)
    data = await api.get_torrent_file(torrent.infohash)
    assert source_from_metainfo(data, "export").infohash == torrent.infohash
    with pytest.raises(errors.NoSuchTorrentError):
        await api.port.torrent_file("00" * 20)

    # A magnet without its metadata yet: 409, qBittorrent can't export it.
    magnet = new_torrent(daemon.download_dir, tmp_path, keep_content=False)
    response = await api.add(f"magnet:?xt=urn:btih:{magnet.infohash}", stopped=True)
    assert response.success, response.errors
    with pytest.raises(errors.NotImplementedError, match="could not export"):
        await api.get_torrent_file(magnet.infohash)
    await api.remove(magnet.infohash)


# --- content_path ------------------------------------------------------------------------------
def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


async def _added_in_place(api: APIBase, torrent: TestTorrent, content: Path, *, stopped: bool) -> None:
    before = _listing(content.parent)
    response = await api.add(str(torrent.torrent_path), content_path=str(content), stopped=stopped)
    assert response.success and response.added == [torrent.infohash], response.errors
    found = (await api.get_torrents(torrent.infohash, attributes=["name", "content_path", "save_path"]))[0]
    assert (found.name, found.content_path) == (torrent.name, str(content))

    if stopped:  # qBittorrent checks a torrent added stopped when it starts, or when asked
        assert (await api.verify(torrent.infohash)).success

    # Checked against the data there, nothing renamed or copied on disk.
    async def read() -> dict[str, Any]:
        return (await raw_rows(api, torrent.infohash))[torrent.infohash]

    def settled(row: dict[str, Any]) -> bool:
        return not row["state"].startswith(("checking", "moving")) and row["progress"] == 1

    row = await poll_until(read, settled, "the torrent settled", timeout=30)
    assert (row["state"] in ("pausedUP", "stoppedUP")) is stopped, row["state"]
    assert _listing(content.parent) == before


async def test_content_path_of_a_multifile_torrent(api: APIBase, daemon: QbittorrentDaemon, tmp_path: Path) -> None:
    location = daemon.download_dir / f"multi-{tmp_path.name}"
    torrent = new_torrent(location, tmp_path, files=3)
    content = location / "Named Otherwise"
    (location / torrent.name).rename(content)
    await _added_in_place(api, torrent, content, stopped=True)
    found = (await api.get_torrents(torrent.infohash, attributes=["save_path", "files"]))[0]
    assert sorted(f.path for f in found.files) == ["file0.bin", "file1.bin", "file2.bin"]  # type: ignore[union-attr]


async def test_content_path_of_a_single_file_torrent(api: APIBase, daemon: QbittorrentDaemon, tmp_path: Path) -> None:
    location = daemon.download_dir / f"single-{tmp_path.name}"
    torrent = new_torrent(location, tmp_path)
    content = location / "renamed.bin"
    (location / torrent.name).rename(content)
    await _added_in_place(api, torrent, content, stopped=False)
    assert sorted(f.path for f in (await api.get_torrents(torrent.infohash, attributes=["files"]))[0].files) == [  # type: ignore[union-attr]
        "renamed.bin"
    ]


async def test_content_path_of_one_file_in_a_folder(api: APIBase, daemon: QbittorrentDaemon, tmp_path: Path) -> None:
    """Its folder is renamed in the torrent (NoSubfolder would make the file its content_path)."""
    location = daemon.download_dir / f"folder-{tmp_path.name}"
    (location / "original").mkdir(parents=True)
    (location / "original" / "only.bin").write_bytes(b"f" * 3 * FILE_SIZE)
    metainfo = torf.Torrent(path=location / "original", private=True, piece_size=FILE_SIZE)
    metainfo.generate()
    metainfo.write(tmp_path / "folder.torrent")
    torrent = TestTorrent(
        torrent_path=tmp_path / "folder.torrent",
        infohash=str(metainfo.infohash).lower(),
        name="original",
        location=location,
        size=3 * FILE_SIZE,
    )
    content = location / "Other Name"
    (location / "original").rename(content)
    await _added_in_place(api, torrent, content, stopped=True)
    assert not (location / "original").exists()
