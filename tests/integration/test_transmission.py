"""Transmission-specific behaviour, against the real daemons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.contract.conftest import settle
from tests.integration import transmission
from tests.integration._containers import target_param
from tests.integration._daemon import NativeProcess, wait_until
from tests.targets_registry import TargetPool
from tests.torrents import make_torrent


@pytest.fixture(scope="module", params=[target_param(i) for i in transmission.target_ids()])
def tm_target(request: pytest.FixtureRequest, target_pool: TargetPool) -> transmission.TransmissionTarget:
    target = target_pool.get(request.param)
    assert isinstance(target, transmission.TransmissionTarget)
    return target


def _adapter(api: Any) -> Any:
    return api._port


async def test_dialect_follows_the_daemon(tm_target: transmission.TransmissionTarget) -> None:
    async with tm_target.make_api() as api:
        reply = await api.call("session-get")
        semver = reply["arguments"].get("rpc-version-semver", "0")
        expected = "json-rpc 2.0" if int(semver.split(".")[0]) >= 6 else "legacy"
        assert _adapter(api).dialect == expected
        if expected == "json-rpc 2.0":
            # Raw calls spelled the JSON-RPC way go out as JSON-RPC.
            reply = await api.call("session_get", fields=["version"])
            assert reply["jsonrpc"] == "2.0"
            assert reply["result"]["version"].startswith("4.")


async def test_round_trips_do_not_grow_with_torrents(
    tm_target: transmission.TransmissionTarget, tmp_path: Path
) -> None:
    torrents = [make_torrent(tm_target.download_dir, tmp_path, size=16 * 1024) for _ in range(41)]
    async with tm_target.make_api() as api:
        response = await api.add(*(str(t.torrent_path) for t in torrents), location=str(tm_target.download_dir))
        assert response.success, response.errors
        hashes = [t.infohash for t in torrents]
        await settle(tm_target, api, hashes)
        for group in (hashes[:1], hashes[1:]):
            before = _adapter(api).request_counts
            response = await api.stop(*group)
            assert response.stopped == group
            after = _adapter(api).request_counts
            sent = {method: after[method] - before.get(method, 0) for method in after}
            # One torrent-stop for all of them; one snapshot plus confirmation polls
            # with backoff (how many depends on how fast the daemon reflects it).
            assert sent.get("torrent-stop") == 1, sent
            assert sent["torrent-get"] <= 15, sent


async def test_survives_daemon_restart(target_pool: TargetPool, tmp_path: Path) -> None:
    target = target_pool.get(transmission.target_ids()[0])
    assert isinstance(target, transmission.TransmissionTarget)
    torrent = make_torrent(target.download_dir, tmp_path)
    async with target.make_api() as api:
        await api.add(str(torrent.torrent_path), location=str(target.download_dir), stopped=True)
        target.daemon.restart()  # new session id: the next request gets a 409 first
        assert torrent.infohash in await api.get_infohashes()


def test_a_dead_daemon_is_reported_and_started_again(tmp_path: Path) -> None:
    # What tests/conftest.py relies on: a daemon that dies fails the test it
    # died in, with its log, and answers again for the next test.
    daemon = transmission.TransmissionDaemon(tmp_path)
    daemon.start()
    try:
        assert daemon.revive() is None  # running: nothing to report
        process = daemon.process
        assert isinstance(process, NativeProcess)
        process.popen.kill()
        wait_until(lambda: process.poll() is not None, 15, "transmission-daemon to die")
        report = daemon.revive()
        assert report is not None
        assert report.startswith(f"{daemon.client} was killed by SIGKILL; the end of its log:")
        assert daemon.process is not process
        assert daemon.is_ready()
    finally:
        daemon.stop()
