"""The contract: what every adapter must do, checked against the client's real state.

Runs once per target (memory adapter, every daemon and transport); the test
ids name the client, version and transport.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

import aiobtclientapi
from aiobtclientapi import APIBase, ConnectionStatus, Response
from aiobtclientapi.application.ports import AddOptions, AddOutcome
from aiobtclientapi.domain.source import TorrentSource
from aiobtclientapi.testing._daemon import Daemon
from aiobtclientapi.testing._targets import Target
from tests.contract.conftest import settle
from tests.peers import serving

#: Once more on each native daemon through each proxy (microsocks, tinyproxy): reaching a
#: client through one must change nothing of what it does.
THROUGH_PROXIES = True

UNKNOWN = "0000000000000000000000000000000000000001"


def status_of(api: APIBase) -> ConnectionStatus:
    """``api.status``, read afresh (mypy keeps a property narrowed by an earlier assert)."""
    return api.status


# --- add -----------------------------------------------------------------------------
async def test_add_file_stopped_then_start(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    torrent = new_torrent()
    response = await api.add(str(torrent.torrent_path), location=str(torrent.location), stopped=True)
    assert response.success, response.errors
    assert response.added == [torrent.infohash]
    assert response.already_added == []
    assert response.warnings == []
    assert torrent.infohash in await target.raw_infohashes(api)
    # Added stopped: never running, not even while the client checks the data.
    assert (await target.raw_states(api, [torrent.infohash]))[torrent.infohash] in ("stopped", "verifying")
    assert (await settle(target, api, [torrent.infohash]))[torrent.infohash] == "stopped"

    started = await api.start(torrent.infohash)
    assert started.success, started.errors
    assert started.started == [torrent.infohash]
    assert started.already_started == []
    assert (await target.raw_states(api, [torrent.infohash]))[torrent.infohash] in ("active", "verifying")


async def test_add_started(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    torrent = new_torrent()
    response = await api.add(str(torrent.torrent_path), location=str(torrent.location))
    assert response.success, response.errors
    assert response.added == [torrent.infohash]
    states = await settle(target, api, [torrent.infohash])
    assert states[torrent.infohash] == "active"


async def test_add_duplicate_is_a_warning(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    torrent = new_torrent()
    first = await api.add(str(torrent.torrent_path), location=str(torrent.location), stopped=True)
    assert first.added == [torrent.infohash]
    second = await api.add(str(torrent.torrent_path), location=str(torrent.location), stopped=True)
    assert second.success
    assert second.added == []
    assert second.already_added == [torrent.infohash]
    assert second.warnings == [aiobtclientapi.TorrentAlreadyAdded(torrent.infohash, torrent.name)]
    assert isinstance(second.warnings[0], aiobtclientapi.TorrentWarning)
    assert second.warnings[0].infohash == torrent.infohash
    assert (await target.raw_infohash_list(api)).count(torrent.infohash) == 1


async def test_add_magnet(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    torrent = new_torrent(keep_content=False)
    response = await api.add(torrent.magnet, stopped=True)
    assert response.success, response.errors
    assert response.added == [torrent.infohash]
    assert torrent.infohash in await target.raw_infohashes(api)


async def test_add_bare_infohash(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    torrent = new_torrent(keep_content=False)
    response = await api.add(torrent.infohash.upper(), stopped=True)
    assert response.success, response.errors
    assert response.added == [torrent.infohash]
    assert torrent.infohash in await target.raw_infohashes(api)


async def test_add_base32_infohash(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    import base64

    torrent = new_torrent(keep_content=False)
    base32 = base64.b32encode(bytes.fromhex(torrent.infohash)).decode()
    response = await api.add(base32, stopped=True)
    assert response.success, response.errors
    assert response.added == [torrent.infohash]


async def test_add_bad_files_fail_alone(target: Target, api: APIBase, new_torrent, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    good = new_torrent()
    missing = tmp_path / "missing.torrent"
    corrupt = tmp_path / "corrupt.torrent"
    corrupt.write_bytes(b"d8:announce3:foo4:infoi3ee")
    garbage = tmp_path / "garbage.torrent"
    garbage.write_bytes(b"this is not bencode")
    response = await api.add(
        str(missing), str(corrupt), str(good.torrent_path), str(garbage), location=str(good.location), stopped=True
    )
    assert not response.success
    assert response.added == [good.infohash]
    assert [type(e) for e in response.errors] == [
        aiobtclientapi.ReadError,
        aiobtclientapi.InvalidTorrentError,
        aiobtclientapi.InvalidTorrentError,
    ]
    assert str(missing) in str(response.errors[0])
    assert str(corrupt) in str(response.errors[1])
    assert str(garbage) in str(response.errors[2])
    assert good.infohash in await target.raw_infohashes(api)


async def test_add_from_url(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    from aiohttp import web

    torrent = new_torrent()

    async def serve_torrent(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(torrent.torrent_path)

    async def not_found(request: web.Request) -> web.StreamResponse:
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/t.torrent", serve_torrent)
    app.router.add_get("/404.torrent", not_found)
    async with serving(app) as port:
        response = await api.add(
            f"http://127.0.0.1:{port}/t.torrent",
            f"http://127.0.0.1:{port}/404.torrent",
            location=str(torrent.location),
            stopped=True,
        )
    assert response.added == [torrent.infohash]
    assert len(response.errors) == 1
    assert isinstance(response.errors[0], aiobtclientapi.ReadError)
    assert "404" in str(response.errors[0])
    assert torrent.infohash in await target.raw_infohashes(api)


async def test_add_without_verification(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    torrent = new_torrent()
    response = await api.add(str(torrent.torrent_path), location=str(torrent.location), verify=False)
    assert response.success, response.errors
    assert response.added == [torrent.infohash]
    # Either the client skipped the check (Deluge, qBittorrent, rTorrent with the
    # data here), or the Response says it couldn't (Transmission), as the port declares.
    cant_skip = [w for w in response.warnings if "verif" in str(w).lower()]
    if "verify" in api.port.add_limitations:
        assert cant_skip == [
            aiobtclientapi.Warning(f"{target.client} can't skip verification: verify=False is ignored")
        ]
    else:
        assert response.warnings == []
        results = [item async for item in api.verify_wait(torrent.infohash)]
        assert {infohash for infohash, _ in results} == {torrent.infohash}
        assert results[-1][1] == 100


# --- start / stop ------------------------------------------------------------------------
async def test_stop_and_start(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    torrent = new_torrent()
    await api.add(str(torrent.torrent_path), location=str(torrent.location))
    await settle(target, api, [torrent.infohash])

    response = await api.stop(torrent.infohash)
    assert response.success, response.errors
    assert response.stopped == [torrent.infohash]
    assert response.already_stopped == []
    assert response.warnings == []
    assert (await target.raw_states(api, [torrent.infohash]))[torrent.infohash] == "stopped"

    response = await api.stop(torrent.infohash)
    assert response.success
    assert response.stopped == []
    assert response.already_stopped == [torrent.infohash]
    assert response.warnings == [aiobtclientapi.TorrentAlreadyStopped(torrent.infohash, torrent.name)]

    started = await api.start(torrent.infohash)
    assert started.success, started.errors
    assert started.started == [torrent.infohash]
    assert (await target.raw_states(api, [torrent.infohash]))[torrent.infohash] in ("active", "verifying")

    started = await api.start(torrent.infohash)
    assert started.success
    assert started.already_started == [torrent.infohash]
    assert started.warnings == [aiobtclientapi.TorrentAlreadyStarted(torrent.infohash, torrent.name)]


# A batch is one request, through a proxy or not: its daemon's checks take the time here.
@pytest.mark.direct_only
async def test_many_torrents_in_one_call(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    torrents = [new_torrent(size=32 * 1024) for _ in range(12)]
    hashes = [t.infohash for t in torrents]
    response = await api.add(*(str(t.torrent_path) for t in torrents), location=str(torrents[0].location))
    assert response.success, response.errors
    assert sorted(response.added) == sorted(hashes)
    await settle(target, api, hashes)
    stopped = await api.stop(*hashes)
    assert stopped.success, stopped.errors
    assert stopped.stopped == hashes
    states = await target.raw_states(api, hashes)
    assert states == dict.fromkeys(hashes, "stopped")
    started = await api.start(*hashes)
    assert started.started == hashes
    states = await target.raw_states(api, hashes)
    assert set(states.values()) <= {"active", "verifying"}


async def test_unknown_and_invalid_infohashes_fail_alone(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    torrent = new_torrent()
    await api.add(str(torrent.torrent_path), location=str(torrent.location))
    await settle(target, api, [torrent.infohash])
    response = await api.stop(UNKNOWN, torrent.infohash, "not-an-infohash")
    assert not response.success
    assert response.stopped == [torrent.infohash]
    assert set(map(type, response.errors)) == {aiobtclientapi.NoSuchTorrentError, aiobtclientapi.ValueError}
    assert aiobtclientapi.NoSuchTorrentError(UNKNOWN) in response.errors
    assert (await target.raw_states(api, [torrent.infohash]))[torrent.infohash] == "stopped"
    for method in (api.start, api.verify):
        other: Response = await method(UNKNOWN)
        assert other.errors == [aiobtclientapi.NoSuchTorrentError(UNKNOWN)]
        assert isinstance(other.errors[0], aiobtclientapi.ResponseError)


# --- verify ----------------------------------------------------------------------------------
async def test_verify_and_wait_on_complete_data(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    torrent = new_torrent(size=2 * 1024 * 1024)
    await api.add(str(torrent.torrent_path), location=str(torrent.location), stopped=True)
    await settle(target, api, [torrent.infohash])
    response = await api.verify(torrent.infohash)
    assert response.success, response.errors
    assert response.verifying == [torrent.infohash]
    values = [value async for infohash, value in api.verify_wait(torrent.infohash, interval=(0.05, 0.5))]
    assert values, "verify_wait yielded nothing"
    assert all(isinstance(v, float) and 0 <= v <= 100 for v in values), values
    assert values[-1] == 100
    # Verifying a stopped torrent leaves it stopped.
    assert (await settle(target, api, [torrent.infohash]))[torrent.infohash] == "stopped"


async def test_verify_wait_on_missing_data(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    torrent = new_torrent(keep_content=False)
    await api.add(str(torrent.torrent_path), location=str(torrent.location), stopped=True)
    await settle(target, api, [torrent.infohash])
    results = [item async for item in api.verify_wait(torrent.infohash, UNKNOWN, interval=0.05)]
    # Neither verifies: one poll tells both final values, in the order asked.
    assert results == [(torrent.infohash, 0.0), (UNKNOWN, aiobtclientapi.NoSuchTorrentError(UNKNOWN))]


async def test_verify_already_verifying(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    # Several large torrents: the client checks them one after another, so the
    # last is still verifying (or queued for it) when asked again.
    torrents = [new_torrent(size=48 * 1024 * 1024, piece_size=1024 * 1024) for _ in range(4)]
    hashes = [t.infohash for t in torrents]
    await api.add(*(str(t.torrent_path) for t in torrents), location=str(torrents[0].location), stopped=True)
    await settle(target, api, hashes, timeout=120)
    first = await api.verify(*hashes)
    assert first.verifying == hashes
    second = await api.verify(hashes[-1])
    assert second.success
    assert second.already_verifying == [hashes[-1]]
    assert second.verifying == []
    assert second.warnings == [aiobtclientapi.TorrentAlreadyVerifying(hashes[-1], torrents[-1].name)]
    final = {}
    async for infohash, value in api.verify_wait(*hashes, interval=(0.05, 0.5)):
        final[infohash] = value
    assert final == dict.fromkeys(hashes, 100)


# --- listing, raw calls, connection ---------------------------------------------------------
async def test_get_infohashes(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    torrent = new_torrent()
    await api.add(str(torrent.torrent_path), location=str(torrent.location), stopped=True)
    infohashes = await api.get_infohashes()
    assert torrent.infohash in infohashes
    assert set(infohashes) == await target.raw_infohashes(api)
    assert all(h == h.lower() for h in infohashes)


async def test_call(target: Target, api: APIBase) -> None:
    method, args = target.raw_call
    target.check_raw_call_reply(await api.call(method, *args))


async def test_connection_status_callbacks(target: Target) -> None:
    api = target.make_api()
    seen: list[ConnectionStatus] = []
    api.on_status_change(seen.append)
    assert api.status is ConnectionStatus.disconnected
    await api.get_infohashes()
    assert status_of(api) is ConnectionStatus.connected
    await api.disconnect()
    assert seen == [ConnectionStatus.connecting, ConnectionStatus.connected, ConnectionStatus.disconnected]


def _daemon_of(target: Target) -> Daemon:
    if target.daemon is None:
        pytest.skip("the memory client has no daemon to kill or restart")
    return target.daemon


async def test_status_across_daemon_kill_and_restart(target: Target) -> None:
    # One rule for every client: a connection error that is not a timeout means
    # disconnected; an idempotent call is sent once more on a new connection;
    # the next call connects and logs in again.
    daemon = _daemon_of(target)
    api = target.make_api()
    seen: list[ConnectionStatus] = []
    api.on_status_change(seen.append)
    try:
        await api.get_infohashes()
        await asyncio.to_thread(daemon.kill)
        with pytest.raises(aiobtclientapi.ConnectionError) as info:
            await api.get_infohashes()
        assert not isinstance(info.value, aiobtclientapi.TimeoutError)
        assert api.status is ConnectionStatus.disconnected
        await asyncio.to_thread(daemon.start)
        assert isinstance(await api.get_infohashes(), list)
        assert status_of(api) is ConnectionStatus.connected
    finally:
        await api.disconnect()
    connecting, connected, disconnected = (
        ConnectionStatus.connecting,
        ConnectionStatus.connected,
        ConnectionStatus.disconnected,
    )
    assert seen == [
        *(connecting, connected),  # the first call
        *(disconnected, connecting, disconnected),  # the daemon is gone; the call tried a new connection
        *(connecting, connected),  # the daemon is back
        disconnected,  # disconnect()
    ]


async def test_call_right_after_a_restart_the_program_did_not_see(target: Target) -> None:
    daemon = _daemon_of(target)
    api = target.make_api()
    method, args = target.raw_call
    try:
        await api.get_infohashes()
        # Synchronous: the event loop is blocked meanwhile, so nothing of the
        # old connection's end has been read when the next call is made.
        daemon.restart()
        # A raw call is never sent twice: it must go out on a live connection.
        target.check_raw_call_reply(await api.call(method, *args))
        assert isinstance(await api.get_infohashes(), list)
        assert api.status is ConnectionStatus.connected
    finally:
        await api.disconnect()


async def test_wrong_password(target: Target) -> None:
    api = target.make_api_wrong_password()
    with pytest.raises(aiobtclientapi.AuthenticationError) as info:
        await api.get_infohashes()
    assert isinstance(info.value, aiobtclientapi.ConnectionError)
    assert "wrong" not in str(info.value) and "wrong" not in repr(api)
    response = await api.stop(UNKNOWN)
    assert not response.success
    assert isinstance(response.errors[0], aiobtclientapi.AuthenticationError)
    await api.disconnect()


async def test_closed_port(target: Target) -> None:
    api = target.make_api_closed_port()
    started = time.monotonic()
    with pytest.raises(aiobtclientapi.ConnectionError):
        await api.get_infohashes()
    assert time.monotonic() - started < 15
    response = await api.add(UNKNOWN)
    assert not response.success
    assert isinstance(response.errors[0], aiobtclientapi.ConnectionError)
    await api.disconnect()


async def test_concurrent_operations(target: Target, api: APIBase, new_torrent) -> None:  # type: ignore[no-untyped-def]
    torrents = [new_torrent(size=16 * 1024) for _ in range(3)]
    responses = await asyncio.gather(
        *(api.add(str(t.torrent_path), location=str(t.location), stopped=True) for t in torrents)
    )
    assert [r.added for r in responses] == [[t.infohash] for t in torrents]


#: The request that adds torrents, by client; None where one request carries
#: other calls too (rTorrent's system.multicall).
ADD_REQUEST = {
    "transmission": "torrent-add",
    "qbittorrent": "torrents/add",
    "deluge": "core.add_torrent_file",
    "rtorrent": None,
}


async def test_add_costs_requests_that_do_not_grow_with_the_torrents(target: Target, new_torrent) -> None:  # type: ignore[no-untyped-def]
    # One add request for any number where the protocol takes many torrents in
    # one (qBittorrent, rTorrent), one per torrent where it takes one
    # (Transmission, Deluge); the presence check and the confirmation polls are
    # batched: a few, whatever the number.
    if target.daemon is None:
        pytest.skip("the memory client sends no requests")
    add_request = ADD_REQUEST[target.client]
    for count in (3, 30):
        torrents = [new_torrent(size=16 * 1024) for _ in range(count)]
        async with target.make_api() as api:
            before = dict(api.port.request_counts)
            response = await api.add(
                *(str(t.torrent_path) for t in torrents), location=str(torrents[0].location), stopped=True
            )
            assert sorted(response.added) == sorted(t.infohash for t in torrents), response.errors
            after = api.port.request_counts
        sent = {
            method: after[method] - before.get(method, 0) for method in after if after[method] != before.get(method)
        }
        adds = sent.pop(add_request, 0) if add_request else 0
        if add_request is None or target.client == "qbittorrent":
            assert adds == (1 if add_request else 0), sent
        else:
            assert adds == count, sent
        assert sum(sent.values()) <= 15, sent


async def test_frozen_daemon_times_out_then_recovers(target: Target) -> None:
    # SIGSTOP: the daemon accepts connections (the kernel does) and answers nothing.
    daemon = _daemon_of(target)
    timeout = 2.0
    api = target.make_api(timeout=timeout)
    try:
        await api.get_infohashes()
        await asyncio.to_thread(daemon.freeze)
        try:
            started = time.monotonic()
            with pytest.raises(aiobtclientapi.TimeoutError):
                await api.get_infohashes()
            assert time.monotonic() - started < timeout + 1
            started = time.monotonic()
            response = await api.stop(UNKNOWN)
            assert [type(e) for e in response.errors] == [aiobtclientapi.TimeoutError], response.errors
            assert time.monotonic() - started < timeout + 1
        finally:
            await asyncio.to_thread(daemon.thaw)
        assert isinstance(await api.get_infohashes(), list)
    finally:
        await api.disconnect()


async def test_daemon_killed_in_the_middle_of_a_batch(  # type: ignore[no-untyped-def]
    target: Target, new_torrent, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every torrent gets its own answer, nothing hangs past the timeout, and the
    # same API object works again once the daemon is back.
    daemon = _daemon_of(target)
    timeout = 5.0
    torrents = [new_torrent(size=16 * 1024) for _ in range(500)]
    api = target.make_api(timeout=timeout)
    # The daemon is killed as the add requests go out, however long reading the
    # files took: killed before, the call would only see a daemon that is gone.
    add = api.port.add
    killed: list[float] = []

    async def add_while_the_daemon_dies(sources: Sequence[TorrentSource], options: AddOptions) -> list[AddOutcome]:
        adding = asyncio.ensure_future(add(sources, options))
        await asyncio.to_thread(daemon.kill)
        killed.append(time.monotonic())
        return await adding

    try:
        await api.connect()
        monkeypatch.setattr(api.port, "add", add_while_the_daemon_dies)
        response = await asyncio.wait_for(
            api.add(*(str(t.torrent_path) for t in torrents), location=str(torrents[0].location), stopped=True),
            2 * timeout + 60,
        )
        monkeypatch.undo()
        assert killed, "the add primitive was never called"
        assert time.monotonic() - killed[0] < 2 * timeout + 10
        assert len(response.added) + len(response.already_added) + len(response.errors) == len(torrents), response
        assert all(isinstance(e, aiobtclientapi.Error) for e in response.errors)
        await asyncio.to_thread(daemon.start)
        assert isinstance(await api.get_infohashes(), list)
        assert status_of(api) is ConnectionStatus.connected
    finally:
        await api.disconnect()
