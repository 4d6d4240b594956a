"""Transmission-specific behaviour, against the real daemons."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import aiobtclientapi
from aiobtclientapi.testing import _transmission as transmission
from aiobtclientapi.testing._containers import target_param
from aiobtclientapi.testing._daemon import NativeProcess, wait_until
from aiobtclientapi.testing._pool import TargetPool
from aiobtclientapi.testing._torrents import make_torrent
from tests.contract.conftest import settle
from tests.peers import serving


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
            stopped = await api.stop(*group)
            assert stopped.stopped == group
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


class _CrashingWhileStarting(transmission.TransmissionDaemon):
    """A transmission-daemon whose first `crashes` starts die of a segmentation fault."""

    def __init__(self, workdir: Path, crashes: int) -> None:
        super().__init__(workdir)
        self.crashes = crashes

    def command(self) -> Sequence[str]:
        if self.crashes:
            self.crashes -= 1
            return ["sh", "-c", "kill -SEGV $$"]
        return super().command()


def test_a_daemon_that_crashes_while_starting_is_started_once_more(tmp_path: Path) -> None:
    # Deluge 2.2 sometimes crashes loading its state: the tests go on with a
    # warning that shows the crash, as a service manager would restart it.
    daemon = _CrashingWhileStarting(tmp_path / "once", crashes=1)
    with pytest.warns(UserWarning, match="transmission crashed with SIGSEGV while starting and was started again"):
        daemon.start()
    try:
        assert daemon.is_ready()
        assert daemon.process is not None and daemon.process.poll() is None
    finally:
        daemon.stop()

    # Twice is a daemon that can't start.
    daemon = _CrashingWhileStarting(tmp_path / "twice", crashes=2)
    with pytest.warns(UserWarning, match="crashed with SIGSEGV"), pytest.raises(RuntimeError, match="exited with -11"):
        daemon.start()


def test_a_daemon_that_exits_while_starting_is_not_started_again(tmp_path: Path) -> None:
    class ExitingAtOnce(transmission.TransmissionDaemon):
        def command(self) -> Sequence[str]:
            return ["sh", "-c", "exit 3"]

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeError, match="exited with 3"):
            ExitingAtOnce(tmp_path).start()


async def test_a_failed_add_request_fails_its_torrent_alone(
    tm_target: transmission.TransmissionTarget, tmp_path: Path
) -> None:
    # A proxy in front of the real daemon answers the second torrent-add with
    # HTTP 500 without passing it on; every other request reaches the daemon.
    from aiohttp import ClientSession, web

    daemon = tm_target.daemon
    target_url = f"http://127.0.0.1:{daemon.port}/transmission/rpc"
    adds_seen = 0

    async def forward(request: web.Request) -> web.Response:
        nonlocal adds_seen
        body = await request.read()
        if b'"torrent-add"' in body or b'"torrent_add"' in body:
            adds_seen += 1
            if adds_seen == 2:
                return web.Response(status=500, text="injected failure")
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() in ("authorization", "x-transmission-session-id", "content-type")
        }
        async with ClientSession() as session, session.post(target_url, data=body, headers=headers) as reply:
            return web.Response(
                status=reply.status,
                body=await reply.read(),
                headers={
                    k: v for k, v in reply.headers.items() if k.lower() in ("x-transmission-session-id", "content-type")
                },
            )

    app = web.Application()
    app.router.add_post("/transmission/rpc", forward)
    torrents = [make_torrent(daemon.download_dir, tmp_path, size=16 * 1024) for _ in range(4)]
    async with serving(app) as proxy_port:
        api = aiobtclientapi.api("transmission", f"{daemon.username}:{daemon.password}@127.0.0.1:{proxy_port}")
        async with api:
            response = await api.add(*(str(t.torrent_path) for t in torrents), stopped=True)
        assert len(response.added) == 3, response
        [error] = response.errors
        failed = next(t for t in torrents if t.infohash not in response.added)
        assert isinstance(error, aiobtclientapi.ResponseError)
        assert str(error).startswith(f"{failed.torrent_path}: ") and "HTTP 500" in str(error), error
        # Nothing keeps running after add() returned: the daemon has exactly the three.
        async with tm_target.make_api() as direct:
            await asyncio.sleep(0.5)
            present = await tm_target.raw_infohashes(direct)
            assert {t.infohash for t in torrents} & present == set(response.added)
            await direct.call("torrent-remove", ids=response.added)
