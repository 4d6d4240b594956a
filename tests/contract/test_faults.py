"""Faults on the real daemons: graceful restarts, expired sessions, changed session ids.

Each test runs against every real daemon (native and, under ``make
test-containers``, in containers) or, for a client-specific fault, every
daemon of that client; each checks the daemon's real state afterwards, not
only what our Response says. The SIGKILL, SIGSTOP and "restart the program
did not see" faults are in test_contract.py; here the daemon stops the way it
normally does (SIGTERM; ``docker stop`` for a container) while the API object
is connected.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import signal
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import pytest

import aiobtclientapi
from aiobtclientapi import APIBase, ConnectionStatus
from aiobtclientapi.adapters.qbittorrent.client import QbittorrentAdapter
from aiobtclientapi.adapters.transmission.client import TransmissionAdapter
from aiobtclientapi.application.ports import AddOptions, AddOutcome
from aiobtclientapi.domain.source import TorrentSource
from aiobtclientapi.testing._containers import target_param
from aiobtclientapi.testing._daemon import Daemon, ending_signal, wait_until
from aiobtclientapi.testing._pool import TargetPool, all_target_ids
from aiobtclientapi.testing._qbittorrent import QbittorrentTarget
from aiobtclientapi.testing._targets import Target
from aiobtclientapi.testing._torrents import TestTorrent, make_torrent
from aiobtclientapi.testing._transmission import TransmissionDaemon, TransmissionTarget
from tests.contract.conftest import settle

#: Seconds a daemon may take, after it answers again, to list the torrents it kept.
RELOAD_WITHIN = 30.0
#: What a call may take beyond its request timeout on this loaded 2-core machine.
MARGIN = 3.0


def status_of(api: APIBase) -> ConnectionStatus:
    """``api.status``, read afresh (mypy keeps a property narrowed by an earlier assert)."""
    return api.status


def _daemon_of(target: Target) -> Daemon:
    if target.daemon is None:
        pytest.skip("the memory client has no daemon to restart")
    return target.daemon


def _stop_gracefully(daemon: Daemon) -> None:
    """Stop the daemon as its service manager would: SIGTERM (``docker stop`` in a container).

    ``Daemon.stop`` SIGKILLs a daemon still running 15 s later. qBittorrent
    5.3.0 sometimes hangs so after "Exiting cleanly" when stopped in the middle
    of a torrents/add: the daemon's fault, and for the API object still a
    daemon that went away; a warning says the stop became a kill.
    """
    daemon.stop()
    process = daemon.process
    assert process is not None
    code = process.poll()
    assert code is not None, f"{daemon.label} still runs after stop()"
    if ending_signal(code) is signal.SIGKILL:
        warnings.warn(f"{daemon.label} hung after SIGTERM and was killed:\n{daemon.log_tail(6)}", stacklevel=2)


def restart_gracefully(daemon: Daemon) -> None:
    """Stop the daemon gracefully and start it again. Not while it writes its
    state: Deluge would then not save its current torrents on the way out."""
    wait_until(lambda: not daemon.saving_state(), RELOAD_WITHIN, f"{daemon.label} to save its state")
    _stop_gracefully(daemon)
    daemon.start()


async def until_listed(target: Target, api: APIBase, infohashes: Sequence[str]) -> set[str]:
    """Poll the daemon's own listing until it shows `infohashes` (it may load kept ones late)."""
    deadline = time.monotonic() + RELOAD_WITHIN
    delay = 0.05
    while True:
        listed = await target.raw_infohashes(api)
        missing = set(infohashes) - listed
        if not missing:
            return listed
        if time.monotonic() > deadline:
            log = target.daemon.log_tail(20) if target.daemon is not None else ""
            raise AssertionError(
                f"{len(missing)} torrents not listed {RELOAD_WITHIN}s after the restart: {missing}\n{log}"
            )
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 1.0)


def _request_lines(caplog: pytest.LogCaptureFixture, method: str) -> list[str]:
    """The adapter's debug lines for the requests of `method` (RPC method or Web API path)."""
    lines = [record.getMessage() for record in caplog.records]
    return [line for line in lines if "event='request'" in line and f"method='{method}'" in line]


def _statuses(lines: list[str]) -> list[int]:
    return [int(match.group(1)) for line in lines if (match := re.search(r"\bstatus=(\d+)", line))]


def _sent_since(api: APIBase, before: dict[str, int]) -> dict[str, int]:
    after = api.port.request_counts
    return {method: count - before.get(method, 0) for method, count in after.items() if count != before.get(method)}


# --- 1. restart while idle ------------------------------------------------------------------------
@pytest.mark.parametrize("loop", ["running", "blocked"])
async def test_graceful_restart_while_idle(target: Target, new_torrent, loop: str) -> None:  # type: ignore[no-untyped-def]
    # The daemon stops the normal way and starts again while the API object is
    # connected but idle: its next operation works without the caller
    # reconnecting. "running": the event loop takes in the connection's end
    # meanwhile; "blocked": it notices only when the next call is made.
    daemon = _daemon_of(target)
    first, second = new_torrent(), new_torrent()
    both = [first.infohash, second.infohash]
    api = target.make_api()
    seen: list[ConnectionStatus] = []
    try:
        response = await api.add(str(first.torrent_path), location=str(first.location), stopped=True)
        assert response.added == [first.infohash], response.errors
        await settle(target, api, [first.infohash])
        api.on_status_change(seen.append)

        if loop == "running":
            await asyncio.to_thread(restart_gracefully, daemon)
        else:
            restart_gracefully(daemon)

        # The first call after the restart adds a torrent (not a request that can be sent twice).
        response = await api.add(str(second.torrent_path), location=str(second.location), stopped=True)
        assert response.success, response.errors
        assert response.added == [second.infohash]
        assert status_of(api) is ConnectionStatus.connected
        # The daemon kept the first torrent; it may list it a moment after it answers.
        await until_listed(target, api, both)
        await settle(target, api, both)
        started = await api.start(*both)
        assert started.success, started.errors
        assert sorted(started.started + started.already_started) == sorted(both)
        states = await target.raw_states(api, both)
        assert set(states) == set(both)
        assert set(states.values()) <= {"active", "verifying"}, states
        # At most one new connection (where the transport saw the old one end), connected in the end.
        assert seen in ([], [ConnectionStatus.disconnected, ConnectionStatus.connecting, ConnectionStatus.connected]), (
            seen
        )
    finally:
        await api.disconnect()


# --- 2. restart while busy -------------------------------------------------------------------------
@pytest.mark.parametrize("back", ["after", "during"])
async def test_graceful_restart_in_the_middle_of_a_batch(  # type: ignore[no-untyped-def]
    target: Target, new_torrent, monkeypatch: pytest.MonkeyPatch, back: str
) -> None:
    # A batch of 200 is being added when the daemon stops and starts again: the
    # call neither raises nor hangs past its timeout, every torrent has its
    # answer, what it says was added is in the daemon, and the same API object
    # works afterwards. "after": the daemon is still starting when the call
    # confirms; "during": it is back by then, so the same call goes on with a
    # new connection (a new login, a new session id).
    daemon = _daemon_of(target)
    timeout = 5.0
    torrents = [new_torrent(size=16 * 1024) for _ in range(200)]
    by_hash = {t.infohash: t for t in torrents}
    api = target.make_api(timeout=timeout)
    down_at: list[float] = []
    up_at: list[float] = []
    starting: list[asyncio.Future[None]] = []

    def start() -> None:
        daemon.start()
        up_at.append(time.monotonic())

    # The daemon gets its SIGTERM as the add requests go out, so the restart
    # hits the call for sure, however fast the client adds: the add primitive
    # returns once the daemon is down (whatever its requests got) — or, for
    # "during", back up — and the service confirms from there.
    add = api.port.add

    stop_failed: list[BaseException] = []

    async def add_while_the_daemon_restarts(sources: Sequence[TorrentSource], options: AddOptions) -> list[AddOutcome]:
        adding = asyncio.ensure_future(add(sources, options))
        try:
            await asyncio.to_thread(_stop_gracefully, daemon)
        except BaseException as exc:  # the test's failure, not one for the Response to report
            stop_failed.append(exc)
        finally:
            down_at.append(time.monotonic())
            starting.append(asyncio.ensure_future(asyncio.to_thread(start)))
        if back == "during":
            await asyncio.shield(starting[0])
        return await adding

    try:
        await api.connect()
        monkeypatch.setattr(api.port, "add", add_while_the_daemon_restarts)
        called = time.monotonic()
        response = await asyncio.wait_for(
            api.add(*(str(t.torrent_path) for t in torrents), location=str(torrents[0].location), stopped=True),
            120,
        )
        returned = time.monotonic()
        monkeypatch.undo()
        assert down_at, "the add primitive was never called"
        if stop_failed:
            raise stop_failed[0]
        # From the moment the daemon was gone ("after") or back ("during"): one
        # request timeout at most, plus a margin.
        since = returned - (down_at[0] if back == "after" else up_at[0])
        assert since < timeout + MARGIN, (since, returned - called, len(response.added), response.errors[:3])

        # Every torrent accounted for, once: added, already there, or an error naming it.
        answered = response.added + response.already_added
        assert len(answered) == len(set(answered)) and set(answered) <= set(by_hash), response
        assert len(answered) + len(response.errors) == len(torrents), response
        assert all(isinstance(e, aiobtclientapi.Error) for e in response.errors), response.errors
        for infohash in set(by_hash) - set(answered):
            named = [e for e in response.errors if by_hash[infohash].name in str(e)]
            assert len(named) == 1, (by_hash[infohash].name, response.errors)
        assert response.tasks == []

        await asyncio.wait_for(asyncio.shield(starting[0]), 120)
        # What the Response says was added, the daemon has (it may list kept torrents late).
        await until_listed(target, api, response.added)

        # The same API object works: add a new torrent, stop it; the daemon says so.
        fresh = new_torrent()
        added = await api.add(str(fresh.torrent_path), location=str(fresh.location))
        assert added.success, added.errors
        assert added.added == [fresh.infohash]
        await settle(target, api, [fresh.infohash])
        stopped = await api.stop(fresh.infohash)
        assert stopped.success, stopped.errors
        assert stopped.stopped + stopped.already_stopped == [fresh.infohash]
        assert await target.raw_states(api, [fresh.infohash]) == {fresh.infohash: "stopped"}
        assert status_of(api) is ConnectionStatus.connected
    finally:
        for future in starting:
            await asyncio.wait_for(asyncio.shield(future), 120)
        await api.disconnect()


# --- client-specific targets -------------------------------------------------------------------------
def _client_params(client: str) -> list[Any]:
    return [target_param(i) for i in all_target_ids(include_memory=False) if i.startswith(f"{client}-")]


def _survived(target: Target) -> None:
    """tests/conftest.py's check, for this module's own target fixtures: a daemon that
    died fails the test it died in, and is started again for the next."""
    report = target.daemon.revive() if target.daemon is not None else None
    if report is not None:
        pytest.fail(report, pytrace=False)


@pytest.fixture(params=_client_params("qbittorrent"))
def qbittorrent_target(request: pytest.FixtureRequest, target_pool: TargetPool) -> Iterator[QbittorrentTarget]:
    target = target_pool.get(request.param)
    assert isinstance(target, QbittorrentTarget)
    yield target
    _survived(target)


@pytest.fixture(params=_client_params("transmission"))
def transmission_target(request: pytest.FixtureRequest, target_pool: TargetPool) -> Iterator[TransmissionTarget]:
    target = target_pool.get(request.param)
    assert isinstance(target, TransmissionTarget)
    yield target
    _survived(target)


def _torrent(target: Target, tmp_path: Path) -> TestTorrent:
    return make_torrent(target.download_dir, tmp_path / "torrents")


# --- 3. qBittorrent: the session ends while connected ------------------------------------------
def _session_cookies(api: APIBase) -> dict[str, str]:
    """The cookies the API object sends: its Web UI session (SID, or QBT_SID_<port> from 5.2)."""
    adapter = cast(QbittorrentAdapter, api.port)
    return {cookie.key: cookie.value for cookie in adapter._transport.http.session.cookie_jar}


async def _with_cookies(target: QbittorrentTarget, cookies: dict[str, str], verb: str, method: str) -> int:
    """Status of one Web API request sent by another HTTP client with `cookies`."""
    import aiohttp

    daemon = target.daemon
    url = f"{daemon.scheme}://127.0.0.1:{daemon.port}/api/v2/{method}"
    headers = {"Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())}
    async with aiohttp.ClientSession() as session, session.request(verb, url, headers=headers, ssl=False) as reply:
        await reply.read()
        return reply.status


@pytest.mark.parametrize("calls", [1, 4])
async def test_qbittorrent_session_ended_elsewhere(
    qbittorrent_target: QbittorrentTarget, calls: int, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    # The Web UI session the API object uses is logged out by another client
    # with the same cookie (what an expired session looks like too: 403). The
    # next calls — one, or several at once — log in again, once, and answer
    # right, without the caller noticing.
    target = qbittorrent_target
    torrent = _torrent(target, tmp_path)
    api = target.make_api()
    seen: list[ConnectionStatus] = []
    try:
        response = await api.add(str(torrent.torrent_path), location=str(torrent.location), stopped=True)
        assert response.added == [torrent.infohash], response.errors
        cookies = _session_cookies(api)
        assert cookies, "logged in without a session cookie"
        assert await _with_cookies(target, cookies, "GET", "app/version") == 200
        assert await _with_cookies(target, cookies, "POST", "auth/logout") in (200, 204)
        assert await _with_cookies(target, cookies, "GET", "app/version") == 403, "the session outlived its logout"

        api.on_status_change(seen.append)
        caplog.set_level(logging.DEBUG, logger="aiobtclientapi")
        caplog.clear()
        results = await asyncio.gather(*(api.get_infohashes() for _ in range(calls)))
        info, logins = _request_lines(caplog, "torrents/info"), _request_lines(caplog, "auth/login")

        listed = await target.raw_infohashes(api)
        assert torrent.infohash in listed
        assert all(set(result) == listed for result in results), (results, listed)
        assert seen == [], "the caller saw the connection go"
        assert len(logins) == 1, logins
        refused = _statuses(info).count(403)
        # Each refused request is sent once more after the one login; a request
        # that went out after the login needed no second try.
        assert 1 <= refused <= calls and len(info) == calls + refused, info
        assert sorted(_statuses(info)) == [200] * calls + [403] * refused, info
        new_cookies = _session_cookies(api)
        assert new_cookies and new_cookies != cookies

        # A call that changes the daemon's state works on the new session too.
        started = await api.start(torrent.infohash)
        assert started.success, started.errors
        assert (await target.raw_states(api, [torrent.infohash]))[torrent.infohash] in ("active", "verifying")
    finally:
        await api.disconnect()


# --- 4. Transmission: the session id changes while connected ---------------------------------
def _current_session_id(daemon: TransmissionDaemon) -> str:
    """The session id the daemon wants now, asked by another HTTP client (its 409 says it)."""
    credentials = base64.b64encode(f"{daemon.username}:{daemon.password}".encode()).decode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{daemon.port}/transmission/rpc",
        data=b'{"method":"session-get"}',
        headers={"Authorization": f"Basic {credentials}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5):
            pass
    except urllib.error.HTTPError as exc:
        assert exc.code == 409, exc
        session_id = exc.headers["X-Transmission-Session-Id"]
        assert session_id, "409 without a session id"
        return str(session_id)
    raise AssertionError("the daemon took a request without a session id")


@pytest.mark.parametrize("change", ["restart", "rotation"])
async def test_transmission_session_id_change(
    transmission_target: TransmissionTarget, change: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    # The daemon's X-Transmission-Session-Id changes while the API object is
    # connected: the next call works, unnoticed, for exactly one extra round
    # trip (the 409 that carries the new id). "restart": a new daemon process
    # (and a new TCP connection); "rotation": Transmission also replaces the id
    # every hour on a live connection (SessionIdDurationSec in
    # libtransmission/session-id.cc) — too long to wait, so the API object is
    # given an id the daemon no longer accepts, which is what it then holds.
    target = transmission_target
    daemon = target.daemon
    torrent = _torrent(target, tmp_path)
    api = target.make_api()
    adapter = cast(TransmissionAdapter, api.port)
    seen: list[ConnectionStatus] = []
    try:
        response = await api.add(str(torrent.torrent_path), location=str(torrent.location), stopped=True)
        assert response.added == [torrent.infohash], response.errors
        old_id = await asyncio.to_thread(_current_session_id, daemon)
        assert adapter._transport._session_id == old_id
        if change == "restart":
            await asyncio.to_thread(restart_gracefully, daemon)
            assert await asyncio.to_thread(_current_session_id, daemon) != old_id
        else:
            adapter._transport._session_id = "x" * len(old_id)

        api.on_status_change(seen.append)
        caplog.set_level(logging.DEBUG, logger="aiobtclientapi")
        caplog.clear()
        before = dict(api.port.request_counts)
        infohashes = await api.get_infohashes()
        sent = _sent_since(api, before)
        lines = _request_lines(caplog, "torrent-get")

        assert sent == {"torrent-get": 2}, sent  # no reconnect, no session-get
        assert _statuses(lines) == [409, 200], lines
        assert seen == [], "the caller saw the connection go"
        assert set(infohashes) == await target.raw_infohashes(api)
        assert torrent.infohash in infohashes
        assert adapter._transport._session_id == await asyncio.to_thread(_current_session_id, daemon)

        # The new id holds: no more 409s, and a call that changes the daemon's state works.
        caplog.clear()
        started = await api.start(torrent.infohash)
        assert started.success, started.errors
        assert started.started == [torrent.infohash]
        assert (await target.raw_states(api, [torrent.infohash]))[torrent.infohash] in ("active", "verifying")
        requests = [r.getMessage() for r in caplog.records if "event='request'" in r.getMessage()]
        assert requests and 409 not in _statuses(requests), requests
    finally:
        await api.disconnect()
