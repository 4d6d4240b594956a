"""qBittorrent-specific behaviour, against real qbittorrent-nox daemons."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import aiobtclientapi
from aiobtclientapi import APIBase
from aiobtclientapi._registry import parse_url
from aiobtclientapi.adapters.qbittorrent import QbittorrentAdapter
from aiobtclientapi.adapters.qbittorrent._wire import TorrentRow, parse_webapi_version, to_status, webapi_names
from aiobtclientapi.application.ports import AddOptions, AddOutcome, ClientPort, ConnectionOptions
from aiobtclientapi.domain.source import TorrentSource, source_from_metainfo
from aiobtclientapi.domain.torrent import TorrentState
from aiobtclientapi.testing._daemon import NativeRunner
from aiobtclientapi.testing._qbittorrent import QbittorrentDaemon
from aiobtclientapi.testing._torrents import TestTorrent, make_sparse_torrent, make_torrent

PAUSED = {"pausedUP", "pausedDL", "stoppedUP", "stoppedDL"}
SEEDING = {"uploading", "stalledUP", "forcedUP", "queuedUP"}


@pytest.fixture(scope="module")
def daemon(runner: NativeRunner, tmp_path_factory: pytest.TempPathFactory) -> Iterator[QbittorrentDaemon]:
    daemon = QbittorrentDaemon(tmp_path_factory.mktemp("qbittorrent"), runner)
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture(scope="module")
def https_daemon(runner: NativeRunner, tmp_path_factory: pytest.TempPathFactory) -> Iterator[QbittorrentDaemon]:
    daemon = QbittorrentDaemon(tmp_path_factory.mktemp("qbittorrent-https"), runner, https=True)
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture(scope="module")
def banning_daemon(runner: NativeRunner, tmp_path_factory: pytest.TempPathFactory) -> Iterator[QbittorrentDaemon]:
    daemon = QbittorrentDaemon(tmp_path_factory.mktemp("qbittorrent-ban"), runner, max_auth_failures=2)
    daemon.start()
    yield daemon
    daemon.stop()


@pytest.fixture
async def api(daemon: QbittorrentDaemon) -> AsyncIterator[APIBase]:
    api = aiobtclientapi.api("qbittorrent", daemon.url)
    async with api:
        yield api


def new_torrent(daemon: QbittorrentDaemon, tmp_path: Path, **kwargs: Any) -> TestTorrent:
    return make_torrent(daemon.download_dir, tmp_path / "torrents", **kwargs)


async def raw_rows(api: APIBase, *infohashes: str) -> dict[str, dict[str, Any]]:
    rows = await api.call("torrents/info", hashes="|".join(infohashes))
    return {row["hash"]: row for row in rows}


async def settled_row(api: APIBase, infohash: str, timeout: float = 30) -> dict[str, Any]:
    """The raw row once the daemon no longer checks the torrent (and has refreshed)."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        row = (await raw_rows(api, infohash)).get(infohash)
        if row is not None and not row["state"].startswith("checking"):
            return row
        if time.monotonic() > deadline:
            raise AssertionError(f"Still checking after {timeout}s: {row}")
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def request_lines(caplog: pytest.LogCaptureFixture, method: str) -> list[str]:
    """The adapter's debug lines for requests of Web API `method`."""
    return [
        r.getMessage()
        for r in caplog.records
        if "event='request'" in r.getMessage() and f"method='{method}'" in r.getMessage()
    ]


# --- pure: version table and states -------------------------------------------------------
def test_adapter_fits_the_port() -> None:
    port: ClientPort = QbittorrentAdapter(parse_url("qbittorrent", "localhost"), ConnectionOptions())
    assert port.add_limitations == frozenset()


@pytest.mark.parametrize(
    ("version", "start", "stop", "flag"),
    [
        ("2.8.19", "torrents/resume", "torrents/pause", "paused"),  # 4.5.2
        ("2.10.4", "torrents/resume", "torrents/pause", "paused"),  # 4.6
        ("2.11.0", "torrents/start", "torrents/stop", "stopped"),  # 5.0
        ("2.11.4", "torrents/start", "torrents/stop", "stopped"),  # 5.1
        ("2.14.1", "torrents/start", "torrents/stop", "stopped"),  # 5.2
    ],
)
def test_webapi_version_picks_names(version: str, start: str, stop: str, flag: str) -> None:
    names = webapi_names(parse_webapi_version(version))
    assert (names.start, names.stop, names.add_stopped) == (start, stop, flag)


@pytest.mark.parametrize(
    ("state", "expected", "stopped"),
    [
        ("pausedUP", TorrentState.stopped, True),
        ("stoppedUP", TorrentState.stopped, True),
        ("pausedDL", TorrentState.stopped, True),
        ("stoppedDL", TorrentState.stopped, True),
        ("stalledUP", TorrentState.seeding, False),
        ("downloading", TorrentState.downloading, False),
        ("metaDL", TorrentState.metadata, False),
        ("queuedDL", TorrentState.queued, False),
        ("checkingUP", TorrentState.verifying, None),
        ("checkingResumeData", TorrentState.queued, None),
        ("somethingNew", TorrentState.unknown, None),
    ],
)
def test_state_table_covers_4x_and_5x(state: str, expected: TorrentState, stopped: bool | None) -> None:
    status = to_status(TorrentRow(hash="ab" * 20, name="x", state=state, progress=0.5), "ab" * 20)
    assert (status.state, status.stopped) == (expected, stopped)
    assert status.verify_progress == (0.5 if expected is TorrentState.verifying else None)


# --- login and sessions -------------------------------------------------------------------------
async def test_wrong_password(daemon: QbittorrentDaemon) -> None:
    api = aiobtclientapi.api("qbittorrent", daemon.url_with(password="Not-The-Pa55"))
    with pytest.raises(aiobtclientapi.AuthenticationError) as info:
        await api.get_infohashes()
    assert "Not-The-Pa55" not in str(info.value)
    assert f"127.0.0.1:{daemon.port}" in str(info.value)
    assert api.status is aiobtclientapi.ConnectionStatus.disconnected
    await api.disconnect()


async def test_banned_ip_is_an_authentication_error(banning_daemon: QbittorrentDaemon) -> None:
    for _ in range(2):
        api = aiobtclientapi.api("qbittorrent", banning_daemon.url_with(password="Not-The-Pa55"))
        with pytest.raises(aiobtclientapi.AuthenticationError) as info:
            await api.get_infohashes()
        assert "banned" not in str(info.value)
        await api.disconnect()
    # Banned now: even the right password is refused (403 on auth/login).
    api = aiobtclientapi.api("qbittorrent", banning_daemon.url)
    with pytest.raises(aiobtclientapi.AuthenticationError) as info:
        await api.get_infohashes()
    assert "banned" in str(info.value)
    assert banning_daemon.password not in str(info.value)
    await api.disconnect()


async def test_relogin_after_daemon_restart(daemon: QbittorrentDaemon, tmp_path: Path) -> None:
    api = aiobtclientapi.api("qbittorrent", daemon.url)
    async with api:
        await api.get_infohashes()
        # Restarted between two calls: the session cookie is stale (403) → log in again.
        await asyncio.to_thread(daemon.restart)
        torrent = new_torrent(daemon, tmp_path)
        response = await api.add(str(torrent.torrent_path), stopped=True)
        assert response.success, response.errors
        assert torrent.infohash in await raw_rows(api, torrent.infohash)

        # Down while called: ConnectionError; back up: the same object works again.
        await asyncio.to_thread(daemon.stop)
        with pytest.raises(aiobtclientapi.ConnectionError):
            await api.get_infohashes()
        await asyncio.to_thread(daemon.start)
        assert torrent.infohash in await api.get_infohashes()
        assert api.status is aiobtclientapi.ConnectionStatus.connected


async def test_relogin_is_one_extra_login(daemon: QbittorrentDaemon, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="aiobtclientapi")
    api = aiobtclientapi.api("qbittorrent", daemon.url)
    async with api:
        await api.get_infohashes()
        # At most one login so far: an earlier test's session may have been joined.
        logins = len(request_lines(caplog, "auth/login"))
        assert logins <= 1
        await asyncio.to_thread(daemon.restart)
        await api.get_infohashes()
    assert len(request_lines(caplog, "auth/login")) == logins + 1
    # The refused request was sent again once, after the login.
    assert [("status=403" in line) for line in request_lines(caplog, "torrents/info")] == [False, True, False]


async def test_objects_of_one_user_share_one_login(
    daemon: QbittorrentDaemon, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="aiobtclientapi")
    # Restarted: whatever session an earlier test left is void, so someone must log in.
    await asyncio.to_thread(daemon.restart)
    torrent = new_torrent(daemon, tmp_path)
    apis = [aiobtclientapi.api("qbittorrent", daemon.url) for _ in range(5)]
    async with apis[0]:
        assert (await apis[0].add(str(torrent.torrent_path), stopped=True)).success
    listings = await asyncio.gather(*(api.get_infohashes() for api in apis))
    assert all(torrent.infohash in listing for listing in listings)
    assert len(request_lines(caplog, "auth/login")) == 1

    # The daemon refuses the shared session (restarted): the objects asking at once log in once.
    await asyncio.to_thread(daemon.restart)
    listings = await asyncio.gather(*(api.get_infohashes() for api in apis))
    assert all(torrent.infohash in listing for listing in listings)
    assert len(request_lines(caplog, "auth/login")) == 2
    for api in apis:
        await api.disconnect()
    async with apis[0]:
        await apis[0].remove(torrent.infohash)


async def test_objects_logging_in_together_share_a_refusal(
    daemon: QbittorrentDaemon, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="aiobtclientapi")
    apis = [aiobtclientapi.api("qbittorrent", daemon.url_with(password="Not-The-Pa55-Either")) for _ in range(5)]
    results = await asyncio.gather(*(api.get_infohashes() for api in apis), return_exceptions=True)
    assert all(isinstance(result, aiobtclientapi.AuthenticationError) for result in results), results
    assert all("Not-The-Pa55-Either" not in str(result) for result in results)
    # One wrong login counted against the address, not five.
    assert len(request_lines(caplog, "auth/login")) == 1
    for api in apis:
        await api.disconnect()


async def test_wrong_password_never_joins_a_session(daemon: QbittorrentDaemon) -> None:
    async with aiobtclientapi.api("qbittorrent", daemon.url) as api:
        await api.get_infohashes()  # a session of the right password exists now
        wrong = aiobtclientapi.api("qbittorrent", daemon.url_with(password="Not-The-Pa55"))
        with pytest.raises(aiobtclientapi.AuthenticationError):
            await wrong.get_infohashes()
        await wrong.disconnect()
        other_user = aiobtclientapi.api("qbittorrent", f"http://someone-else:{daemon.password}@127.0.0.1:{daemon.port}")
        with pytest.raises(aiobtclientapi.AuthenticationError):
            await other_user.get_infohashes()
        await other_user.disconnect()


# --- HTTPS --------------------------------------------------------------------------------------
async def test_https_refuses_unknown_certificate(https_daemon: QbittorrentDaemon) -> None:
    api = aiobtclientapi.api("qbittorrent", https_daemon.url)
    with pytest.raises(aiobtclientapi.ConnectionError) as info:
        await api.get_infohashes()
    assert "certificate" in str(info.value).lower()
    assert https_daemon.password not in str(info.value)
    await api.disconnect()


async def test_https_with_ca_file(https_daemon: QbittorrentDaemon) -> None:
    api = aiobtclientapi.api("qbittorrent", https_daemon.url, tls_ca_file=str(https_daemon.cert_path))
    async with api:
        assert (await api.call("app/version")).startswith("v")
        assert isinstance(await api.get_infohashes(), list)


async def test_https_without_verification(https_daemon: QbittorrentDaemon) -> None:
    api = aiobtclientapi.api("qbittorrent", https_daemon.url, tls_verify=False)
    async with api:
        assert (await api.call("app/version")).startswith("v")


async def test_objects_with_other_tls_settings_log_in_apart(https_daemon: QbittorrentDaemon) -> None:
    # Logging in together, the one that refuses the certificate must not hand its failure
    # to the one that doesn't check it, nor its session the other way.
    refusing = aiobtclientapi.api("qbittorrent", https_daemon.url)
    trusting = aiobtclientapi.api("qbittorrent", https_daemon.url, tls_verify=False)
    try:
        refused, listed = await asyncio.gather(
            refusing.get_infohashes(), trusting.get_infohashes(), return_exceptions=True
        )
        assert isinstance(refused, aiobtclientapi.ConnectionError) and "certificate" in str(refused).lower()
        assert isinstance(listed, list)
    finally:
        await refusing.disconnect()
        await trusting.disconnect()


# --- add ----------------------------------------------------------------------------------------
async def test_add_many_is_one_request(
    api: APIBase, daemon: QbittorrentDaemon, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    torrents = [new_torrent(daemon, tmp_path, size=16 * 1024) for _ in range(8)]
    magnet_only = new_torrent(daemon, tmp_path, keep_content=False)
    caplog.set_level(logging.DEBUG, logger="aiobtclientapi")
    response = await api.add(*(str(t.torrent_path) for t in torrents), magnet_only.magnet, stopped=True)
    assert response.success, response.errors
    assert sorted(response.added) == sorted([t.infohash for t in [*torrents, magnet_only]])
    assert len(request_lines(caplog, "torrents/add")) == 1
    rows = await raw_rows(api, *response.added)
    assert set(rows) == set(response.added)

    caplog.clear()
    stopped = await api.stop(*(t.infohash for t in torrents))
    assert stopped.already_stopped == [t.infohash for t in torrents]
    # The state check is one request for all of them.
    assert len(request_lines(caplog, "torrents/info")) == 1


async def test_add_stopped_stays_paused(api: APIBase, daemon: QbittorrentDaemon, tmp_path: Path) -> None:
    torrent = new_torrent(daemon, tmp_path)
    response = await api.add(str(torrent.torrent_path), location=str(torrent.location), stopped=True)
    assert response.added == [torrent.infohash]
    row = await settled_row(api, torrent.infohash)
    assert row["state"] in PAUSED
    assert row["save_path"].rstrip("/") == str(torrent.location)


async def test_add_without_verification_seeds_complete_data(
    api: APIBase, daemon: QbittorrentDaemon, tmp_path: Path
) -> None:
    torrent = new_torrent(daemon, tmp_path, size=1024 * 1024)
    response = await api.add(str(torrent.torrent_path), location=str(torrent.location), verify=False)
    assert response.success, response.errors
    assert response.warnings == []
    deadline = time.monotonic() + 10
    while True:
        row = (await raw_rows(api, torrent.infohash))[torrent.infohash]
        if row["state"] in SEEDING or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert row["state"] in SEEDING
    assert row["progress"] == 1


async def test_file_the_daemon_refuses_fails_alone(api: APIBase, daemon: QbittorrentDaemon, tmp_path: Path) -> None:
    # Bencoded well enough for our parser, but `pieces` isn't a list of SHA-1s: qBittorrent answers 415.
    refused = tmp_path / "refused.torrent"
    refused.write_bytes(b"d4:infod6:lengthi5e4:name7:refused12:piece lengthi16384e6:pieces3:abcee")
    good = new_torrent(daemon, tmp_path)
    response = await api.add(str(refused), str(good.torrent_path), stopped=True)
    assert response.added == [good.infohash]
    assert len(response.errors) == 1
    assert isinstance(response.errors[0], aiobtclientapi.AddTorrentError)
    assert str(refused) in str(response.errors[0])
    assert "not a valid torrent file" in str(response.errors[0])
    assert good.infohash in await raw_rows(api, good.infohash)


async def test_duplicate_in_batch_is_already_added(daemon: QbittorrentDaemon, tmp_path: Path) -> None:
    torrent = new_torrent(daemon, tmp_path)
    adapter = QbittorrentAdapter(parse_url("qbittorrent", daemon.url), ConnectionOptions())
    api = APIBase(adapter)
    try:
        response = await api.add(str(torrent.torrent_path), str(torrent.torrent_path), stopped=True)
        assert (response.added, response.already_added) == ([torrent.infohash], [torrent.infohash])
        again = await api.add(str(torrent.torrent_path), stopped=True)
        assert (again.added, again.already_added) == ([], [torrent.infohash])
        # The duplicate in the batch and the one already there are never sent.
        assert adapter.request_counts["torrents/add"] == 1
        assert torrent.infohash in await raw_rows(api, torrent.infohash)
    finally:
        await api.disconnect()


async def test_concurrent_add_race_is_already_added(
    daemon: QbittorrentDaemon, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both API objects see the torrent missing, both send it: the daemon takes one
    # ("Ok.") and refuses the other ("Fails." up to 5.1, 409 from 5.2), which then
    # shows the torrent the first one added.
    torrent = new_torrent(daemon, tmp_path)
    adapters = [QbittorrentAdapter(parse_url("qbittorrent", daemon.url), ConnectionOptions()) for _ in range(2)]
    apis = [APIBase(adapter) for adapter in adapters]
    # Neither sends before both have seen the torrent missing: otherwise the
    # slower one may find it added already and send nothing, and there is no race.
    both_sending = asyncio.Barrier(2)
    for adapter in adapters:

        async def add_together(
            sources: Sequence[TorrentSource], options: AddOptions, add: Any = adapter.add
        ) -> list[AddOutcome]:
            await both_sending.wait()
            outcomes: list[AddOutcome] = await add(sources, options)
            return outcomes

        monkeypatch.setattr(adapter, "add", add_together)
    try:
        for api in apis:
            await api.connect()
        responses = await asyncio.wait_for(
            asyncio.gather(*(api.add(str(torrent.torrent_path), stopped=True) for api in apis)), 60
        )
        assert all(response.success for response in responses), [r.errors for r in responses]
        outcomes = sorted((len(r.added), len(r.already_added)) for r in responses)
        if tuple(map(int, daemon.version.split(".")[:2])) >= (5, 2):
            # 5.2+ replies JSON and counts a torrent it is still loading from the first
            # request as added for the second one too (measured on 5.3.0): it can't tell.
            assert outcomes in ([(0, 1), (1, 0)], [(1, 0), (1, 0)])
        else:
            assert outcomes == [(0, 1), (1, 0)]
        assert [a.request_counts["torrents/add"] for a in adapters] == [1, 1]
        assert torrent.infohash in await raw_rows(apis[0], torrent.infohash)
    finally:
        for api in apis:
            await api.disconnect()


async def test_verify_shows_as_verifying_at_once(api: APIBase, daemon: QbittorrentDaemon, tmp_path: Path) -> None:
    # qBittorrent shows a recheck only after its next state refresh (1.5 s by default).
    torrent = new_torrent(daemon, tmp_path)
    await api.add(str(torrent.torrent_path), location=str(torrent.location), stopped=True)
    await settled_row(api, torrent.infohash)
    assert (await api.verify(torrent.infohash)).verifying == [torrent.infohash]
    again = await api.verify(torrent.infohash)
    assert again.already_verifying == [torrent.infohash]
    final = [value async for _, value in api.verify_wait(torrent.infohash, interval=0.05)]
    assert final[-1] == 100
    assert (await settled_row(api, torrent.infohash))["state"] in PAUSED


async def test_verify_right_after_a_started_add_waits_for_the_torrent_to_load(
    api: APIBase, daemon: QbittorrentDaemon, tmp_path: Path
) -> None:
    # 4.5.2 left a started torrent asked to recheck while it read its resume data
    # (checkingResumeData) at checkingDL 0 % for good.
    torrent = new_torrent(daemon, tmp_path, files=3, size=96 * 1024)
    assert (await api.add(str(torrent.torrent_path), location=str(torrent.location))).success
    response = await api.verify(torrent.infohash)
    # Asked once loaded, or already verifying: checking its data once loaded (the
    # test below makes sure of that case).
    assert response.success and [*response.verifying, *response.already_verifying] == [torrent.infohash], response
    async with asyncio.timeout(30):  # stuck, it would verify forever
        final = [value async for _, value in api.verify_wait(torrent.infohash, interval=0.05)]
    assert final[-1] == 100
    row = await settled_row(api, torrent.infohash, timeout=15)
    assert (row["state"], row["progress"]) in {(state, 1) for state in ("stalledUP", "uploading", "queuedUP")}


async def test_verify_leaves_alone_the_check_a_started_add_begins_once_loaded(
    api: APIBase, daemon: QbittorrentDaemon, tmp_path: Path
) -> None:
    # A torrent added started with its data is checked once loaded. 4.5.2 left one
    # asked to recheck as that check began at checkingDL 0 % for good (under load).
    # 1 GiB of zeros: the check still runs when the torrent shows it has loaded.
    torrent = make_sparse_torrent(daemon.download_dir, tmp_path / "torrents", size=1 << 30)
    try:
        assert (await api.add(str(torrent.torrent_path), location=str(torrent.location))).success
        response = await api.verify(torrent.infohash)
        assert (response.verifying, response.already_verifying) == ([], [torrent.infohash]), response
        async with asyncio.timeout(60):
            final = [value async for _, value in api.verify_wait(torrent.infohash, interval=0.1)]
        assert final[-1] == 100
        row = await settled_row(api, torrent.infohash, timeout=15)
        assert (row["state"], row["progress"]) in {(state, 1) for state in SEEDING}
    finally:
        await api.remove(torrent.infohash)
        torrent.delete_content()


# --- raw calls ----------------------------------------------------------------------------------
async def test_call_text_and_json(api: APIBase) -> None:
    assert (await api.call("app/version")).startswith("v")
    version = await api.call("app/webapiVersion")
    assert parse_webapi_version(version) >= (2, 0)
    assert isinstance(await api.call("torrents/info", filter="paused"), list)
    preferences = await api.call("app/preferences")
    assert isinstance(preferences, dict) and "refresh_interval" in preferences


async def test_call_unknown_method_is_a_response_error(api: APIBase) -> None:
    with pytest.raises(aiobtclientapi.ResponseError) as info:
        await api.call("torrents/noSuchMethod")
    assert "404" in str(info.value)


async def test_call_post_method(api: APIBase, daemon: QbittorrentDaemon, tmp_path: Path) -> None:
    torrent = new_torrent(daemon, tmp_path)
    await api.add(str(torrent.torrent_path), stopped=True)
    await api.call("torrents/setCategory", hashes=torrent.infohash, category="")
    data = await api.call("torrents/export", hash=torrent.infohash)
    assert isinstance(data, bytes)
    assert source_from_metainfo(data, "exported").infohash == torrent.infohash


async def test_closed_port_names_the_url(daemon: QbittorrentDaemon) -> None:
    from aiobtclientapi.testing._daemon import free_port

    url = daemon.url_with(port=free_port())
    api = aiobtclientapi.api("qbittorrent", url)
    with pytest.raises(aiobtclientapi.ConnectionError) as info:
        await api.get_infohashes()
    assert str(api.url) in str(info.value)
    assert daemon.password not in str(info.value)
    await api.disconnect()


async def test_start_and_stop_follow_the_daemons_refresh_interval(
    api: APIBase, daemon: QbittorrentDaemon, tmp_path: Path
) -> None:
    # qBittorrent shows a start or stop at its next state refresh: the
    # object reads the interval when it connects, and polls at a pace of it.
    await api.call("app/setPreferences", json=json.dumps({"refresh_interval": 500}))
    try:
        async with aiobtclientapi.api("qbittorrent", daemon.url) as other:
            assert (other.port.timing.refresh_interval, other.port.timing.state_latency) == (0.5, 1.0)
            torrent = new_torrent(daemon, tmp_path)
            response = await other.add(str(torrent.torrent_path), location=str(torrent.location), stopped=True)
            assert response.added == [torrent.infohash], response.errors
            await settled_row(other, torrent.infohash)
            assert (await other.start(torrent.infohash)).started == [torrent.infohash]
            assert (await settled_row(other, torrent.infohash))["state"] not in PAUSED
            assert (await other.stop(torrent.infohash)).stopped == [torrent.infohash]
            assert (await settled_row(other, torrent.infohash))["state"] in PAUSED
    finally:
        await api.call("app/setPreferences", json=json.dumps({"refresh_interval": 1500}))
    async with aiobtclientapi.api("qbittorrent", daemon.url) as default:
        assert default.port.timing.refresh_interval == 1.5


@pytest.mark.parametrize("layout", ["NoSubfolder", "Subfolder"])
async def test_add_keeps_the_torrent_folder_whatever_the_default_layout(
    api: APIBase, daemon: QbittorrentDaemon, tmp_path: Path, layout: str
) -> None:
    # What add(location=...) means must not depend on the layout a user chose
    # for their own downloads: the multi-file torrent's folder is inside location.
    await api.call("app/setPreferences", json=json.dumps({"torrent_content_layout": layout}))
    try:
        assert (await api.call("app/preferences"))["torrent_content_layout"] == layout
        torrent = new_torrent(daemon, tmp_path, files=3)
        assert (torrent.location / torrent.name).is_dir()
        response = await api.add(str(torrent.torrent_path), location=str(torrent.location), stopped=True)
        assert response.added == [torrent.infohash], response.errors
        assert (await api.verify(torrent.infohash)).success
        final = [value async for _, value in api.verify_wait(torrent.infohash, interval=0.1)]
        assert final[-1] == 100.0, final
        row = (await raw_rows(api, torrent.infohash))[torrent.infohash]
        assert Path(row["content_path"]) == torrent.location / torrent.name
    finally:
        await api.call("app/setPreferences", json=json.dumps({"torrent_content_layout": "Original"}))
