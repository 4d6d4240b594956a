"""Managing torrents on Transmission: remove, move, labels, limits, reannounce,
session, .torrent export and content_path, against the real daemons.

The adapter's port methods are called directly; each test then reads the
daemon's own state with raw calls (original spelling on every version) and
looks at the disk.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import torf

from aiobtclientapi import APIBase
from aiobtclientapi.application.ports import AddOptions, AddStatus
from aiobtclientapi.domain import errors
from aiobtclientapi.domain.session import RateLimits
from aiobtclientapi.domain.source import source_from_magnet, source_from_metainfo
from aiobtclientapi.domain.torrent import TorrentState
from aiobtclientapi.testing import _transmission as transmission
from aiobtclientapi.testing._containers import target_param
from aiobtclientapi.testing._pool import TargetPool
from aiobtclientapi.testing._torrents import TestTorrent, make_torrent
from aiobtclientapi.testing._tracker import announce_url
from tests.contract.conftest import settle
from tests.integration.test_transmission_listing import _added, _port
from tests.waiting import poll_until, until

T = TypeVar("T")


@pytest.fixture(scope="module", params=[target_param(i) for i in transmission.target_ids()])
def tm_target(request: pytest.FixtureRequest, target_pool: TargetPool) -> transmission.TransmissionTarget:
    target = target_pool.get(request.param)
    assert isinstance(target, transmission.TransmissionTarget)
    return target


@pytest.fixture
def native_target(target_pool: TargetPool) -> transmission.TransmissionTarget:
    target = target_pool.get(transmission.target_ids()[0])
    assert isinstance(target, transmission.TransmissionTarget)
    return target


async def _raw(api: APIBase, infohashes: list[str], *fields: str) -> dict[str, dict[str, Any]]:
    """torrent-get as the daemon answers it (original spelling), by infohash."""
    reply = await api.call("torrent-get", ids=infohashes, fields=["hashString", *fields])
    assert reply["result"] == "success", reply
    return {row["hashString"].lower(): row for row in reply["arguments"]["torrents"]}


def _unique(parent: Path, prefix: str) -> Path:
    return parent / f"{prefix}-{uuid.uuid4().hex[:8]}"


# --- remove -----------------------------------------------------------------------------


async def test_remove_with_and_without_data(tm_target: transmission.TransmissionTarget, tmp_path: Path) -> None:
    download_dir = tm_target.download_dir
    sibling = _unique(download_dir, "sibling")
    sibling.mkdir()
    (sibling / "keep.bin").write_bytes(b"keep")
    async with tm_target.make_api() as api:
        port = _port(api)
        kept, multi, single = [
            *await _added(tm_target, api, tmp_path, files=2, size=32 * 1024),
            *await _added(tm_target, api, tmp_path, files=3, size=48 * 1024),
            *await _added(tm_target, api, tmp_path),
        ]
        assert await port.remove([kept.infohash], delete_data=False) == {}
        await poll_until(lambda: _raw(api, [kept.infohash]), lambda rows: not rows, "removed without data")
        assert sorted(p.name for p in (download_dir / kept.name).iterdir()) == ["file0.bin", "file1.bin"]

        # Not the torrent's: stays, and so does its folder.
        (download_dir / multi.name / "notes.txt").write_bytes(b"mine")
        assert await port.remove([multi.infohash, single.infohash], delete_data=True) == {}
        hashes = [multi.infohash, single.infohash]
        await poll_until(lambda: _raw(api, hashes), lambda rows: not rows, "removed with data")
        await until(
            lambda: (
                not (download_dir / multi.name / "file0.bin").exists() and not (download_dir / single.name).exists()
            ),
            "data deleted",
        )
        assert [p.name for p in (download_dir / multi.name).iterdir()] == ["notes.txt"]
        # Nothing else: the sibling folder and the other torrent's data stay.
        assert (sibling / "keep.bin").read_bytes() == b"keep"
        assert (download_dir / kept.name / "file0.bin").is_file()


# --- move -------------------------------------------------------------------------------


async def test_move_data_and_a_location_that_cannot_be(
    tm_target: transmission.TransmissionTarget, tmp_path: Path
) -> None:
    download_dir = tm_target.download_dir
    target_dir = _unique(download_dir.parent, "moved")
    target_dir.mkdir()
    async with tm_target.make_api() as api:
        port = _port(api)
        multi, single = [
            *await _added(tm_target, api, tmp_path, files=2, size=32 * 1024),
            *await _added(tm_target, api, tmp_path),
        ]
        hashes = [multi.infohash, single.infohash]
        assert await port.move(hashes, str(target_dir)) == {}
        rows = await poll_until(
            lambda: _raw(api, hashes, "downloadDir"),
            lambda rows: all(row["downloadDir"] == str(target_dir) for row in rows.values()),
            "moved",
        )
        assert len(rows) == 2
        assert sorted(p.name for p in (target_dir / multi.name).iterdir()) == ["file0.bin", "file1.bin"]
        assert (target_dir / single.name).stat().st_size == single.size
        assert not (download_dir / multi.name).exists() and not (download_dir / single.name).exists()
        (moved,) = await port.torrents([multi.infohash], frozenset({"save_path", "content_path"}))
        assert (moved.save_path, moved.content_path) == (str(target_dir), str(target_dir / multi.name))

        # Under a regular file: Transmission accepts the request and fails the
        # move afterwards (the services see no move); the data stays.
        blocker = _unique(download_dir.parent, "file")
        blocker.write_bytes(b"")
        assert await port.move([multi.infohash], str(blocker / "sub")) == {}
        # The daemon moved (or failed to) before it replied.
        row = (await _raw(api, [multi.infohash], "downloadDir", "error", "errorString"))[multi.infohash]
        assert row["downloadDir"] == str(target_dir)
        # 4.x says why, as a local error (3.00 only logs it).
        assert row["error"] == 0 or "Couldn't move" in row["errorString"], row
        assert sorted(p.name for p in (target_dir / multi.name).iterdir()) == ["file0.bin", "file1.bin"]
        assert blocker.is_file()


# --- labels -----------------------------------------------------------------------------


async def test_labels(tm_target: transmission.TransmissionTarget, tmp_path: Path) -> None:
    async with tm_target.make_api() as api:
        port = _port(api)
        plain, tagged = await _added(tm_target, api, tmp_path, count=2)
        hashes = [plain.infohash, tagged.infohash]
        await api.call("torrent-set", ids=[tagged.infohash], labels=["old", "tag"])

        assert await port.set_label(hashes, "new label") == {}
        rows = await _raw(api, hashes, "labels")
        # The label is the first one; the others (tags) stay.
        assert (rows[plain.infohash]["labels"], rows[tagged.infohash]["labels"]) == (
            ["new label"],
            ["new label", "tag"],
        )
        listed = {t.infohash: (t.label, t.tags) for t in await port.torrents(hashes, frozenset({"label", "tags"}))}
        assert listed == {plain.infohash: ("new label", ()), tagged.infohash: ("new label", ("tag",))}

        # What Transmission can't store as given: refused, nothing changed.
        for label, why in (("a,b", "comma"), (" padded", "spaces"), ("", "empty")):
            failures = await port.set_label(hashes, label)
            assert set(failures) == set(hashes) and all(why in message for message in failures.values()), failures
        rows = await _raw(api, hashes, "labels")
        assert rows[plain.infohash]["labels"] == ["new label"]
        # The daemon's own refusal, for the record: a comma is refused as a whole request.
        reply = await api.call("torrent-set", ids=hashes, labels=["a,b"])
        assert "comma" in reply["result"], reply

        # None clears every label (a remaining one would read as the label).
        assert await port.set_label(hashes, None) == {}
        rows = await _raw(api, hashes, "labels")
        assert [rows[h]["labels"] for h in hashes] == [[], []]
        assert [t.label for t in await port.torrents(hashes, frozenset({"label"}))] == [None, None]


# --- limits -----------------------------------------------------------------------------


async def test_limits_round_trip(tm_target: transmission.TransmissionTarget, tmp_path: Path) -> None:
    async with tm_target.make_api() as api:
        port = _port(api)
        (torrent,) = await _added(tm_target, api, tmp_path)
        units = (await api.call("session-get"))["arguments"]["units"]
        assert port.limit_unit == units["speed-bytes"] == 1000  # kB/s on every version here
        h = [torrent.infohash]
        fields = ("downloadLimit", "downloadLimited", "uploadLimit", "uploadLimited")

        assert await port.set_limits(h, RateLimits(down=1500, up=None)) == {}
        row = (await _raw(api, h, *fields))[torrent.infohash]
        assert (row["downloadLimit"], row["downloadLimited"], row["uploadLimited"]) == (2, True, False)
        (got,) = await port.torrents(h, frozenset({"limit_down", "limit_up"}))
        assert (got.limit_down, got.limit_up) == (2000, None)

        # UNSET leaves a limit as it is; a positive limit is at least one unit.
        assert await port.set_limits(h, RateLimits(up=1)) == {}
        row = (await _raw(api, h, *fields))[torrent.infohash]
        assert (row["downloadLimit"], row["downloadLimited"], row["uploadLimit"], row["uploadLimited"]) == (
            2,
            True,
            1,
            True,
        )
        assert await port.set_limits(h, RateLimits(down=None)) == {}
        (got,) = await port.torrents(h, frozenset({"limit_down", "limit_up"}))
        assert (got.limit_down, got.limit_up) == (None, 1000)
        assert await port.set_limits(h, RateLimits(up=-1)) == {torrent.infohash: "A rate limit can't be negative: -1"}


# --- reannounce -------------------------------------------------------------------------


def _bare_torrent(location: Path, torrent_dir: Path, trackers: list[str]) -> TestTorrent:
    """A one-file torrent with just these trackers (make_torrent's has the test tracker)."""
    name = f"content-{uuid.uuid4().hex[:12]}"
    content = location / name
    content.write_bytes(b"x" * 16384)
    torrent = torf.Torrent(path=content, private=True, piece_size=16384, created_by=None, trackers=trackers)
    torrent.generate()
    torrent_dir.mkdir(parents=True, exist_ok=True)
    torrent_path = torrent_dir / f"{name}.torrent"
    torrent.write(torrent_path)
    return TestTorrent(torrent_path, str(torrent.infohash).lower(), name, location, 16384)


async def test_reannounce(tm_target: transmission.TransmissionTarget, tmp_path: Path) -> None:
    location = tm_target.download_dir
    stopped, running = [make_torrent(location, tmp_path) for _ in range(2)]
    untracked = _bare_torrent(location, tmp_path, [])
    everything = [stopped, running, untracked]
    async with tm_target.make_api() as api:
        port = _port(api)
        response = await api.add(*(str(t.torrent_path) for t in everything), location=str(location), stopped=True)
        assert response.success, response.errors
        await settle(tm_target, api, [t.infohash for t in everything])
        assert (await api.start(running.infohash, untracked.infohash)).success

        before = dict(port.request_counts)
        failures = await port.reannounce([t.infohash for t in everything])
        sent = {m: n - before.get(m, 0) for m, n in port.request_counts.items() if n != before.get(m, 0)}
        assert sent == {"torrent-get": 1, "torrent-reannounce": 1}
        # Transmission would ignore these without a word.
        assert set(failures) == {stopped.infohash, untracked.infohash}, failures
        assert "only running torrents, not a stopped one" in failures[stopped.infohash]
        assert "no tracker" in failures[untracked.infohash]
        rows = await _raw(api, [running.infohash], "trackerStats")
        assert rows[running.infohash]["trackerStats"][0]["announce"] == announce_url()
        await port.remove([t.infohash for t in everything], delete_data=True)


# --- session ----------------------------------------------------------------------------


async def test_session_values(tm_target: transmission.TransmissionTarget) -> None:
    async with tm_target.make_api() as api:
        port = _port(api)
        raw = (await api.call("session-get"))["arguments"]
        session = await port.session()
        assert session.client == "transmission"
        assert session.version == raw["version"]
        assert session.save_path == raw["download-dir"] == str(tm_target.download_dir)
        assert session.free_space is not None and session.free_space > 0
        assert session.rate_down is not None and session.rate_down >= 0
        assert session.downloaded is not None and session.uploaded is not None
        assert session.torrents == {}  # the services count them
        try:
            await port.set_session_limits(RateLimits(down=2048))
            raw = (await api.call("session-get"))["arguments"]
            assert (raw["speed-limit-down"], raw["speed-limit-down-enabled"], raw["speed-limit-up-enabled"]) == (
                2,
                True,
                False,
            )
            session = await port.session()
            assert (session.limit_down, session.limit_up) == (2000, None)
        finally:
            await port.set_session_limits(RateLimits(down=None, up=None))
        raw = (await api.call("session-get"))["arguments"]
        assert (raw["speed-limit-down-enabled"], raw["speed-limit-up-enabled"]) == (False, False)
        with pytest.raises(errors.SessionError):
            await port.set_session_limits(RateLimits(up=-5))


# --- torrent file -----------------------------------------------------------------------


async def test_torrent_file(tm_target: transmission.TransmissionTarget, tmp_path: Path) -> None:
    async with tm_target.make_api() as api:
        port = _port(api)
        first, second = await _added(tm_target, api, tmp_path, count=2, files=2, size=32 * 1024)
        data = await port.torrent_file(first.infohash)
        assert source_from_metainfo(data, "exported").infohash == first.infohash

        with pytest.raises(errors.NoSuchTorrentError):
            await port.torrent_file("0" * 40)
        # A file gone from the daemon's torrents folder (as on another host): why, not bytes.
        path = Path((await _raw(api, [second.infohash], "torrentFile"))[second.infohash]["torrentFile"])
        path.unlink()
        with pytest.raises(errors.NotImplementedError, match="not readable here"):
            await port.torrent_file(second.infohash)
        await port.remove([first.infohash, second.infohash], delete_data=True)


# --- content_path -----------------------------------------------------------------------


@pytest.mark.parametrize("files", [3, 1], ids=["multi-file", "single-file"])
async def test_content_path(tm_target: transmission.TransmissionTarget, tmp_path: Path, files: int) -> None:
    """Content in a differently named folder (or file), elsewhere: used as it is."""
    elsewhere = _unique(tm_target.download_dir.parent, "elsewhere")
    torrent = make_torrent(elsewhere, tmp_path, files=files, size=48 * 1024)
    content = elsewhere / f"renamed-{uuid.uuid4().hex[:6]}"
    (elsewhere / torrent.name).rename(content)
    on_disk = sorted(p.name for p in content.iterdir()) if files > 1 else None
    source = source_from_metainfo(torrent.torrent_path.read_bytes(), str(torrent.torrent_path))
    async with tm_target.make_api() as api:
        port = _port(api)
        (outcome,) = await port.add([source], AddOptions(content_path=str(content)))
        assert (outcome.status, outcome.infohash) == (AddStatus.added, torrent.infohash), outcome
        (got,) = await poll_until(
            lambda: port.torrents([torrent.infohash], frozenset({"state", "progress", "content_path", "save_path"})),
            lambda got: bool(got) and got[0].state is TorrentState.seeding,
            "verified and seeding",
        )
        assert (got.content_path, got.save_path, got.progress) == (str(content), str(elsewhere), 1.0)
        # Nothing copied or renamed on disk.
        assert sorted(p.name for p in elsewhere.iterdir()) == [content.name]
        if on_disk is not None:
            assert sorted(p.name for p in content.iterdir()) == on_disk
        row = (await _raw(api, [torrent.infohash], "downloadDir", "name"))[torrent.infohash]
        assert (row["downloadDir"], row["name"]) == (str(elsewhere), content.name)
        await port.remove([torrent.infohash], delete_data=False)


async def test_content_path_added_stopped(native_target: transmission.TransmissionTarget, tmp_path: Path) -> None:
    elsewhere = _unique(native_target.download_dir.parent, "elsewhere")
    torrent = make_torrent(elsewhere, tmp_path, files=2, size=32 * 1024)
    content = elsewhere / "other name"
    (elsewhere / torrent.name).rename(content)
    source = source_from_metainfo(torrent.torrent_path.read_bytes(), "t")
    async with native_target.make_api() as api:
        port = _port(api)
        (outcome,) = await port.add([source], AddOptions(content_path=str(content), stopped=True))
        assert outcome.status is AddStatus.added, outcome
        await poll_until(
            lambda: port.torrents([torrent.infohash], frozenset({"state", "progress"})),
            lambda got: got[0].state is TorrentState.stopped and got[0].progress == 1.0,
            "verified and stopped",
        )
        # A magnet has no file names to rename yet.
        magnet = source_from_magnet(f"magnet:?xt=urn:btih:{uuid.uuid4().hex}{uuid.uuid4().hex[:8]}")
        (refused,) = await port.add([magnet], AddOptions(content_path=str(content)))
        assert refused.status is AddStatus.refused and "magnet" in (refused.message or "")
        await port.remove([torrent.infohash], delete_data=False)


# --- requests ---------------------------------------------------------------------------


async def test_requests_do_not_grow_with_torrents(
    native_target: transmission.TransmissionTarget, tmp_path: Path
) -> None:
    """remove, set_label, set_limits and reannounce of 500 torrents cost what 5 do."""
    torrents = [
        make_torrent(native_target.download_dir, tmp_path, size=16 * 1024, keep_content=False) for _ in range(505)
    ]
    async with native_target.make_api() as api:
        port = _port(api)
        response = await api.add(*(str(t.torrent_path) for t in torrents), stopped=True)
        assert response.success, response.errors
        hashes = [t.infohash for t in torrents]
        few, many = hashes[:5], hashes[5:]

        async def cost(operation: Callable[[list[str]], Awaitable[Any]], group: list[str]) -> dict[str, int]:
            before = dict(port.request_counts)
            await operation(group)
            return {m: n - before.get(m, 0) for m, n in port.request_counts.items() if n != before.get(m, 0)}

        operations: dict[str, Callable[[list[str]], Awaitable[Any]]] = {
            "set_label": lambda group: port.set_label(group, "bulk"),
            "set_limits": lambda group: port.set_limits(group, RateLimits(down=5000, up=None)),
            "reannounce": port.reannounce,
            "remove": lambda group: port.remove(group, delete_data=True),
        }
        for name, operation in operations.items():
            small, large = await cost(operation, few), await cost(operation, many)
            assert small == large, (name, small, large)
            assert sum(large.values()) <= 2, (name, large)
        await poll_until(lambda: _raw(api, hashes), lambda rows: not rows, "all removed")
