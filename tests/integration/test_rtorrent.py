"""rTorrent-specific behaviour, against real daemons (and hostile SCGI peers we run).

Daemon tests run on the native 0.9.8 pair and, with ``BTC_CONTAINERS=1``, on
each container image's (0.9.8 of Debian 13, 0.16.x of forky).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import bencode2
import pytest
import torf

import aiobtclientapi
from aiobtclientapi import APIBase
from aiobtclientapi._registry import parse_url
from aiobtclientapi.adapters.rtorrent import RtorrentAdapter
from aiobtclientapi.adapters.rtorrent import _transport as rtorrent_transport
from aiobtclientapi.application.ports import AddOptions, AddStatus, ConnectionOptions
from aiobtclientapi.domain.source import source_from_metainfo
from aiobtclientapi.testing._containers import is_container_target, target_param
from aiobtclientapi.testing._pool import TargetPool
from aiobtclientapi.testing._rtorrent import RtorrentDaemon, RtorrentTarget, daemon_labels, target_ids
from aiobtclientapi.testing._torrents import TestTorrent, make_torrent


def ids(*transports: str) -> list[Any]:
    """Target ids of `transports` on every daemon pair (native first), as pytest params.

    A container's rTorrent has no HTTP(S) targets (CONTAINER_TRANSPORTS).
    """
    known = set(target_ids())
    found = [f"{label}-{transport}" for label in daemon_labels() for transport in transports]
    return [target_param(target_id) for target_id in found if target_id in known]


def target(pool: TargetPool, target_id: str) -> RtorrentTarget:
    found = pool.get(target_id)
    assert isinstance(found, RtorrentTarget)
    return found


def make_trackerless_torrent(location: Path, torrent_dir: Path) -> TestTorrent:
    """make_torrent() without its tracker: announce URLs are outside the info
    dict, so the infohash stays the same."""
    made = make_torrent(location, torrent_dir)
    metainfo = torf.Torrent.read(made.torrent_path)
    metainfo.trackers = []
    metainfo.write(made.torrent_path, overwrite=True)
    return made


async def settle(rt: RtorrentTarget, api: APIBase, infohashes: list[str], timeout: float = 120) -> None:
    """Wait until no torrent of `infohashes` is hashed or queued for it."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while "verifying" in (await rt.raw_states(api, infohashes)).values():
        assert time.monotonic() < deadline, f"still verifying after {timeout}s"
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 1.0)


async def erase(api: APIBase, infohashes: list[str]) -> None:
    """Remove torrents from the daemon (keeps data), so other tests see a small list.

    Call it when none of them is hashed: rTorrent 0.9.8 can deadlock for good
    when many torrents queued for hashing are stopped or erased at once
    (seen here about one time in three with 600; libtorrent's HashQueue::remove).
    """
    for start in range(0, len(infohashes), 200):
        calls = [{"methodName": "d.erase", "params": [h.upper()]} for h in infohashes[start : start + 200]]
        await api.call("system.multicall", calls)


# --- URL forms and authentication ---------------------------------------------------------
@pytest.mark.parametrize("target_id", ids("scgi", "socket", "http", "https"))
async def test_url_forms(target_pool: TargetPool, target_id: str) -> None:
    rt = target(target_pool, target_id)
    async with rt.make_api() as api:
        assert await api.call("system.client_version") == rt.daemon.version
        assert set(await api.get_infohashes()) == await rt.raw_infohashes(api)


@pytest.mark.parametrize("target_id", ids("socket"))
async def test_socket_url_forms(target_pool: TargetPool, target_id: str) -> None:
    rt = target(target_pool, target_id)
    socket_path = rt.daemon.socket_path
    relative = os.path.relpath(socket_path)
    assert not relative.startswith("/")
    for url in (str(socket_path), f"file://{socket_path}", relative):
        api = aiobtclientapi.api("rtorrent", url)
        assert api.url.scheme == "file"
        assert await api.call("system.client_version") == rt.daemon.version
        await api.disconnect()


@pytest.mark.parametrize("target_id", ids("http"))
async def test_http_wrong_password(target_pool: TargetPool, target_id: str) -> None:
    rt = target(target_pool, target_id)
    assert rt.nginx is not None
    api = aiobtclientapi.api("rtorrent", rt.nginx.url_for("http", password="not-the-Pa55"))
    with pytest.raises(aiobtclientapi.AuthenticationError) as info:
        await api.call("system.client_version")
    assert "not-the-Pa55" not in str(info.value)
    assert f"127.0.0.1:{rt.nginx.http_port}" in str(info.value)
    await api.disconnect()


@pytest.mark.parametrize("target_id", ids("https"))
async def test_https_needs_the_ca(target_pool: TargetPool, target_id: str) -> None:
    rt = target(target_pool, target_id)
    assert rt.nginx is not None
    url = rt.nginx.url_for("https")
    api = aiobtclientapi.api("rtorrent", url, tls_ca_file=str(rt.nginx.cert_path))
    assert await api.call("system.client_version")
    await api.disconnect()

    api = aiobtclientapi.api("rtorrent", url)
    with pytest.raises(aiobtclientapi.ConnectionError) as info:
        await api.call("system.client_version")
    assert "certificate" in str(info.value).lower()
    assert rt.nginx.password not in str(info.value)
    await api.disconnect()


# --- batching -------------------------------------------------------------------------------
@pytest.mark.parametrize("target_id", ids("scgi"))
async def test_daemon_refuses_oversize_requests(target_pool: TargetPool, target_id: str) -> None:
    # The daemons keep rTorrent's default 512 KiB request limit: this proves
    # the next test's success means the adapter chunked its requests.
    rt = target(target_pool, target_id)
    async with rt.make_api() as api:
        calls = [{"methodName": "system.client_version", "params": ["x" * 100]} for _ in range(6000)]
        with pytest.raises(aiobtclientapi.ResponseError, match="too large"):
            await api.call("system.multicall", calls)


@pytest.mark.parametrize("target_id", ids("scgi"))
async def test_add_600_torrents_in_few_requests(target_pool: TargetPool, target_id: str, tmp_path: Path) -> None:
    rt = target(target_pool, target_id)
    torrents = [
        make_torrent(rt.download_dir, tmp_path / "torrents", size=16 * 1024, piece_size=16 * 1024) for _ in range(600)
    ]
    hashes = [t.infohash for t in torrents]
    adapter = RtorrentAdapter(parse_url("rtorrent", rt.url), ConnectionOptions(timeout=30))
    api = APIBase(adapter)
    try:
        response = await api.add(*(str(t.torrent_path) for t in torrents), stopped=True)
        assert response.success, response.errors[:3]
        assert sorted(response.added) == sorted(hashes)
        # connect, snapshot, presence check, loads (chunked: a few), a few polls and
        # confirmations: bounded, nowhere near one per torrent.
        assert adapter.request_count <= 20, adapter.request_count
        assert set(hashes) <= await rt.raw_infohashes(api)
        states = await rt.raw_states(api, hashes)
        assert set(states.values()) == {"stopped"}

        before = adapter.request_count
        started = await api.start(*hashes)
        assert started.success, started.errors[:3]
        assert adapter.request_count - before <= 20, adapter.request_count - before
        assert set((await rt.raw_states(api, hashes)).values()) <= {"active", "verifying"}
        await settle(rt, api, hashes)
    finally:
        await erase(api, hashes)
        await api.disconnect()


# --- states on the daemon ------------------------------------------------------------------
async def raw_flags(api: APIBase, infohash: str) -> dict[str, int]:
    names = ("d.is_open", "d.is_active", "d.state")
    values = await api.call("system.multicall", [{"methodName": n, "params": [infohash.upper()]} for n in names])
    return {name: value[0] for name, value in zip(names, values, strict=True)}


@pytest.mark.parametrize("target_id", ids("scgi", "socket"))
async def test_start_opens_and_stop_closes(target_pool: TargetPool, target_id: str, tmp_path: Path) -> None:
    rt = target(target_pool, target_id)
    torrent = make_torrent(rt.download_dir, tmp_path)
    async with rt.make_api() as api:
        response = await api.add(str(torrent.torrent_path), location=str(torrent.location), stopped=True)
        assert response.added == [torrent.infohash], response.errors
        assert await raw_flags(api, torrent.infohash) == {"d.is_open": 0, "d.is_active": 0, "d.state": 0}

        started = await api.start(torrent.infohash)
        assert started.started == [torrent.infohash], started.errors
        # Starting hashes the data first (inactive meanwhile, d.state already 1).
        await settle(rt, api, [torrent.infohash])
        assert await raw_flags(api, torrent.infohash) == {"d.is_open": 1, "d.is_active": 1, "d.state": 1}
        # A lower-case infohash works in raw calls too.
        assert await api.call("d.name", torrent.infohash) == torrent.name
        assert await api.call("d.directory", torrent.infohash) == str(
            torrent.location
        )  # single-file: the directory itself

        stopped = await api.stop(torrent.infohash)
        assert stopped.stopped == [torrent.infohash], stopped.errors
        assert await raw_flags(api, torrent.infohash) == {"d.is_open": 0, "d.is_active": 0, "d.state": 0}


@pytest.mark.parametrize("target_id", ids("scgi"))
async def test_location_with_odd_characters(target_pool: TargetPool, target_id: str, tmp_path: Path) -> None:
    rt = target(target_pool, target_id)
    location = rt.download_dir / 'odd dir, "quoted" \\ back'
    single = make_torrent(location, tmp_path)
    multi = make_torrent(location, tmp_path, files=3)
    async with rt.make_api() as api:
        response = await api.add(
            str(single.torrent_path), str(multi.torrent_path), location=str(location), stopped=True
        )
        assert sorted(response.added) == sorted([single.infohash, multi.infohash]), response.errors
        # rTorrent's d.directory: the location for one file, location/name for several.
        assert await api.call("d.directory", single.infohash) == str(location)
        assert await api.call("d.directory", multi.infohash) == str(location / multi.name)
        # The daemon finds the content where the caller put it.
        verifying = await api.verify(single.infohash, multi.infohash)
        assert verifying.success, verifying.errors
        final = {h: p async for h, p in api.verify_wait(single.infohash, multi.infohash, interval=0.05)}
        assert final == {single.infohash: 100, multi.infohash: 100}


@pytest.mark.parametrize("target_id", ids("scgi"))
async def test_private_torrent_without_trackers(target_pool: TargetPool, target_id: str, tmp_path: Path) -> None:
    # 0.9.8 refuses it (in its log only): the adapter says so at once instead
    # of waiting for it to appear. 0.16 takes it: the adapter must not refuse.
    rt = target(target_pool, target_id)
    torrent = make_trackerless_torrent(rt.download_dir, tmp_path)  # private, no trackers
    refused = rt.daemon.version.startswith("0.9.")
    source = source_from_metainfo(torrent.torrent_path.read_bytes(), str(torrent.torrent_path))
    for connect_first in (True, False):  # the version comes from connect() or from add() itself
        adapter = RtorrentAdapter(parse_url("rtorrent", rt.url), ConnectionOptions(timeout=10))
        api = APIBase(adapter)
        try:
            if connect_first:
                await adapter.connect()
            started = time.monotonic()
            outcomes = await adapter.add([source], AddOptions(stopped=True))
            if refused:
                assert time.monotonic() - started < 5
                assert [o.status for o in outcomes] == [AddStatus.refused]
                assert "without trackers" in (outcomes[0].message or "")
                assert torrent.infohash not in await rt.raw_infohashes(api)
            else:
                assert [o.status for o in outcomes] == [AddStatus.added], outcomes
                # rTorrent inserts the download a moment after answering.
                deadline = time.monotonic() + 10
                while torrent.infohash not in await rt.raw_infohashes(api):
                    assert time.monotonic() < deadline, "the torrent did not appear"
                    await asyncio.sleep(0.05)
                await erase(api, [torrent.infohash])
        finally:
            await api.disconnect()
    async with rt.make_api() as api:
        response = await api.add(str(torrent.torrent_path), stopped=True)
        try:
            if refused:
                assert response.added == []
                assert len(response.errors) == 1
                assert isinstance(response.errors[0], aiobtclientapi.AddTorrentError)
                assert "without trackers" in str(response.errors[0])
            else:
                assert response.added == [torrent.infohash], response.errors
                assert (await rt.raw_states(api, [torrent.infohash]))[torrent.infohash] == "stopped"
        finally:
            await erase(api, [torrent.infohash])


@pytest.mark.parametrize("target_id", ids("scgi", "socket"))
async def test_name_not_utf8(target_pool: TargetPool, target_id: str, tmp_path: Path) -> None:
    # Torrent names are bytes; rTorrent escapes invalid UTF-8 ("caf%E9") over
    # XML-RPC, but over JSON-RPC (0.15+) one such name turns the whole reply
    # into a parse error: the adapter must keep reading states over XML-RPC.
    rt = target(target_pool, target_id)
    made = make_torrent(rt.download_dir, tmp_path)
    metainfo = bencode2.bdecode(made.torrent_path.read_bytes())
    metainfo[b"info"][b"name"] = b"caf\xe9-" + os.urandom(4).hex().encode()
    infohash = hashlib.sha1(bencode2.bencode(metainfo[b"info"])).hexdigest()
    torrent_path = tmp_path / "not-utf8.torrent"
    torrent_path.write_bytes(bencode2.bencode(metainfo))
    async with rt.make_api() as api:
        response = await api.add(str(torrent_path), stopped=True)
        assert response.added == [infohash], response.errors
        try:
            assert infohash in await api.get_infohashes()
            adapter = RtorrentAdapter(parse_url("rtorrent", rt.url), ConnectionOptions())
            snapshot = await adapter.snapshot([infohash])
            assert snapshot[infohash].name.startswith("caf")
            assert snapshot[infohash].stopped is True
            # More than _GETTERS_UP_TO torrents: read through one d.multicall2.
            many = await adapter.snapshot([infohash, *(f"{i:040x}" for i in range(60))])
            assert set(many) == {infohash}
            await adapter.disconnect()
        finally:
            await erase(api, [infohash])


@pytest.mark.parametrize("target_id", ids("socket"))
async def test_stopped_flag_while_hashing(target_pool: TargetPool, target_id: str, tmp_path: Path) -> None:
    # rTorrent tells what follows a check: d.state stays 1 for a started torrent.
    rt = target(target_pool, target_id)
    size, piece = 64 * 1024 * 1024, 1024 * 1024
    stopped = [make_torrent(rt.download_dir, tmp_path, size=size, piece_size=piece) for _ in range(2)]
    started = [make_torrent(rt.download_dir, tmp_path, size=size, piece_size=piece) for _ in range(2)]
    adapter = RtorrentAdapter(parse_url("rtorrent", rt.url), ConnectionOptions())
    api = APIBase(adapter)
    hashes = [t.infohash for t in stopped + started]
    try:
        await api.add(*(str(t.torrent_path) for t in stopped), stopped=True)
        await api.add(*(str(t.torrent_path) for t in started))
        response = await api.verify(*hashes)
        assert response.success, response.errors
        seen_verifying = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            snapshot = await adapter.snapshot(hashes)
            verifying = [s for s in snapshot.values() if s.is_verifying]
            for status in verifying:
                assert status.stopped is (status.infohash in {t.infohash for t in stopped})
                assert status.verify_progress is not None and 0.0 <= status.verify_progress <= 1.0
            seen_verifying += len(verifying)
            if not verifying:
                break
            await asyncio.sleep(0.02)
        assert seen_verifying, "no torrent was seen verifying"
        final = await adapter.snapshot(hashes)
        assert {h: s.stopped for h, s in final.items()} == {
            **{t.infohash: True for t in stopped},
            **{t.infohash: False for t in started},
        }
        assert all(s.progress == 1.0 for s in final.values())
    finally:
        await erase(api, hashes)
        await api.disconnect()
        for torrent in stopped + started:
            torrent.delete_content()


# --- hostile SCGI peers ------------------------------------------------------------------------
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def test_a_peer_port_taken_before_rtorrent_binds_it_is_replaced(tmp_path: Path) -> None:
    # Free when chosen, the peer port can be some connection's local port by
    # the time rTorrent binds it: the daemon starts again on another one.
    daemon = RtorrentDaemon(tmp_path, socket_file=True)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = daemon.peer_port = holder.getsockname()[1]
        with pytest.warns(UserWarning, match=f"peer port {taken} was taken before it started; started again on"):
            daemon.start()
    try:
        assert daemon.peer_port != taken
        assert daemon.is_ready()
    finally:
        daemon.stop()


async def read_request(reader: asyncio.StreamReader) -> None:
    length = int((await reader.readuntil(b":"))[:-1])
    headers = await reader.readexactly(length + 1)
    fields = headers[:-1].split(b"\0")
    body_length = int(fields[fields.index(b"CONTENT_LENGTH") + 1])
    await reader.readexactly(body_length)


async def reply_and_close(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()
    writer.close()


@pytest.fixture
async def hostile_peer() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    servers: list[asyncio.Server] = []
    release = asyncio.Event()

    async def start(handler: Handler) -> str:
        async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            # The client giving up on us is the point.
            with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
                await handler(reader, writer)

        server = await asyncio.start_server(guarded, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return f"scgi://127.0.0.1:{port}"

    start.release = release  # type: ignore[attr-defined]
    yield start
    release.set()
    for server in servers:
        server.close()
        await server.wait_closed()


async def expect_error(url: str, error: type[Exception], match: str, timeout: float = 2.0) -> None:
    api = aiobtclientapi.api("rtorrent", url, timeout=timeout)
    started = time.monotonic()
    with pytest.raises(error, match=match) as info:
        await api.call("system.client_version")
    assert time.monotonic() - started < timeout + 1.5
    assert url.split("//")[1] in str(info.value)  # names the peer
    await api.disconnect()


async def test_peer_sends_garbage(hostile_peer: Any) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reply_and_close(writer, os.urandom(4096).replace(b"\n", b"x"))

    await expect_error(await hostile_peer(garbage), aiobtclientapi.ResponseError, "invalid SCGI reply")


async def test_peer_sends_non_xml_body(hostile_peer: Any) -> None:
    async def not_xml(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reply_and_close(writer, b"Status: 200 OK\r\nContent-Type: text/xml\r\n\r\n<methodResponse><params>")

    await expect_error(await hostile_peer(not_xml), aiobtclientapi.ResponseError, "invalid XML-RPC reply")


async def test_peer_closes_without_reply(hostile_peer: Any) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.close()

    await expect_error(await hostile_peer(silent), aiobtclientapi.ConnectionError, "without a reply")


async def test_peer_sends_oversize_reply(hostile_peer: Any) -> None:
    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"Status: 200 OK\r\nContent-Type: text/xml\r\n\r\n<methodResponse><params><param><value><string>")
        chunk = b"A" * (1024 * 1024)
        for _ in range(80):  # 80 MiB: more than the adapter accepts
            writer.write(chunk)
            await writer.drain()
        writer.close()

    await expect_error(await hostile_peer(endless), aiobtclientapi.ResponseError, "larger than", timeout=10)


async def test_peer_sends_xml_bomb(hostile_peer: Any) -> None:
    lol = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    bomb = (
        f'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol0 "lol">{lol}]>'
        "<methodResponse><params><param><value><string>&lol9;</string></value></param></params>"
        "</methodResponse>"
    ).encode()

    async def explode(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reply_and_close(writer, b"Status: 200 OK\r\nContent-Type: text/xml\r\n\r\n" + bomb)

    await expect_error(await hostile_peer(explode), aiobtclientapi.ResponseError, "refused XML-RPC reply")


async def test_peer_hangs(hostile_peer: Any) -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await hostile_peer.release.wait()
        writer.close()

    await expect_error(await hostile_peer(hang), aiobtclientapi.TimeoutError, "timed out", timeout=1.0)


async def test_missing_socket_and_closed_port(tmp_path: Path) -> None:
    for url in (str(tmp_path / "no.socket"), "scgi://127.0.0.1:1"):
        api = aiobtclientapi.api("rtorrent", url, timeout=2)
        with pytest.raises(aiobtclientapi.ConnectionError) as info:
            await api.call("system.client_version")
        assert not isinstance(info.value, aiobtclientapi.TimeoutError)
        assert isinstance(info.value.__cause__, OSError)
        await api.disconnect()


async def test_peer_sends_a_million_nested_arrays(hostile_peer: Any) -> None:
    depth = 1_000_000
    body = (
        b"<?xml version='1.0'?><methodResponse><params><param><value>"
        + b"<array><data><value>" * depth
        + b"<i4>1</i4>"
        + b"</value></data></array>" * depth
        + b"</value></param></params></methodResponse>"
    )  # 43 MB

    async def nested(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reply_and_close(writer, b"Status: 200 OK\r\nContent-Type: text/xml\r\n\r\n" + body)

    await expect_error(await hostile_peer(nested), aiobtclientapi.ResponseError, "nested deeper than", timeout=3)


def _flat_reply(values: int) -> bytes:
    return (
        b"Status: 200 OK\r\nContent-Type: text/xml\r\n\r\n"
        b"<?xml version='1.0'?><methodResponse><params><param><value><array><data>"
        + b"<value><string>abcdefgh</string></value>" * values
        + b"</data></array></value></param></params></methodResponse>"
    )


async def test_peer_sends_more_elements_than_allowed(hostile_peer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rtorrent_transport, "MAX_XML_ELEMENTS", 50_000)
    body = _flat_reply(30_000)  # 60,000 elements

    async def flat(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reply_and_close(writer, body)

    await expect_error(await hostile_peer(flat), aiobtclientapi.ResponseError, "more than 50000 elements")


async def test_a_reply_too_long_to_parse_times_out_while_the_loop_runs(hostile_peer: Any) -> None:
    # 1.5 million values (60 MB) take seconds to parse: the parse runs in a
    # thread, counts against the call's timeout and ends with it, and other
    # tasks keep running meanwhile.
    body = _flat_reply(1_500_000)

    async def flat(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await reply_and_close(writer, body)

    longest_gap = 0.0

    async def ticker() -> None:
        nonlocal longest_gap
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            longest_gap = max(longest_gap, now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    try:
        await expect_error(await hostile_peer(flat), aiobtclientapi.TimeoutError, "timed out", timeout=1.0)
    finally:
        ticking.cancel()
    assert longest_gap < 0.5, longest_gap


# --- verify=False: fast-resume data -------------------------------------------------------------
# On the native daemons only: the contract suite adds with verify=False on every version.
def native_ids(*transports: str) -> list[Any]:
    return [param for param in ids(*transports) if not is_container_target(param.id)]


async def raw_values(api: APIBase, infohash: str, *names: str) -> dict[str, Any]:
    calls = [{"methodName": name, "params": [infohash.upper()]} for name in names]
    values = await api.call("system.multicall", calls)
    return {name: value[0] for name, value in zip(names, values, strict=True)}


PROGRESS = ("d.complete", "d.completed_chunks", "d.size_chunks", "d.state", "d.hashing", "d.is_active")


def files_on_disk(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in sorted(folder.iterdir())}


@pytest.mark.parametrize("target_id", native_ids("scgi"))
async def test_add_without_verification_takes_the_data_as_it_is(
    target_pool: TargetPool, target_id: str, tmp_path: Path
) -> None:
    rt = target(target_pool, target_id)
    torrent = make_torrent(rt.download_dir, tmp_path, files=3, size=3 * 64 * 1024, piece_size=16 * 1024)
    folder = torrent.location / torrent.name
    # Other bytes of the same size: only hashing can tell.
    (folder / "file1.bin").write_bytes(os.urandom(64 * 1024))
    before = files_on_disk(folder)
    async with rt.make_api() as api:
        try:
            assert api.port.add_limitations == frozenset()
            # No location: rTorrent's directory.default, which the adapter asks for.
            response = await api.add(str(torrent.torrent_path), stopped=True, verify=False)
            assert response.success, response.errors
            assert response.added == [torrent.infohash]
            assert response.warnings == []
            await settle(rt, api, [torrent.infohash])
            # Complete while stopped, over data that doesn't match: never hashed.
            assert await raw_values(api, torrent.infohash, *PROGRESS) == {
                "d.complete": 1,
                "d.completed_chunks": 12,
                "d.size_chunks": 12,
                "d.state": 0,
                "d.hashing": 0,
                "d.is_active": 0,
            }
            [status] = (await api.port.snapshot([torrent.infohash])).values()
            assert (status.progress, status.stopped) == (1.0, True)

            started = await api.start(torrent.infohash)
            assert started.started == [torrent.infohash], started.errors
            # Seeding at once: no check first.
            assert (await rt.raw_states(api, [torrent.infohash]))[torrent.infohash] == "active"
            assert (await raw_values(api, torrent.infohash, "d.complete", "d.is_active")) == {
                "d.complete": 1,
                "d.is_active": 1,
            }
            assert (await api.port.snapshot([torrent.infohash]))[torrent.infohash].state.value == "seeding"
            assert files_on_disk(folder) == before

            # A check finds what rTorrent took on trust.
            assert (await api.verify(torrent.infohash)).success
            await settle(rt, api, [torrent.infohash])
            values = await raw_values(api, torrent.infohash, "d.complete", "d.completed_chunks")
            assert values == {"d.complete": 0, "d.completed_chunks": 8}
        finally:
            await settle(rt, api, [torrent.infohash])
            await erase(api, [torrent.infohash])
            torrent.delete_content()


@pytest.mark.parametrize("target_id", native_ids("socket"))
async def test_add_without_verification_from_a_content_path(
    target_pool: TargetPool, target_id: str, tmp_path: Path
) -> None:
    rt = target(target_pool, target_id)
    torrent = make_torrent(rt.download_dir, tmp_path, files=3, size=3 * 16 * 1024, piece_size=16 * 1024)
    folder = rt.download_dir / f"renamed-{torrent.name}"
    (torrent.location / torrent.name).rename(folder)
    before = files_on_disk(folder)
    async with rt.make_api() as api:
        try:
            response = await api.add(str(torrent.torrent_path), content_path=str(folder), stopped=True, verify=False)
            assert response.success, response.errors
            assert response.warnings == []
            await settle(rt, api, [torrent.infohash])
            values = await raw_values(api, torrent.infohash, "d.complete", "d.directory", "d.state")
            assert values == {"d.complete": 1, "d.directory": str(folder), "d.state": 0}
            assert files_on_disk(folder) == before
        finally:
            await erase(api, [torrent.infohash])
            for path in folder.iterdir():
                path.unlink()
            folder.rmdir()


@pytest.mark.parametrize("target_id", native_ids("scgi"))
async def test_add_without_verification_when_a_file_is_missing(
    target_pool: TargetPool, target_id: str, tmp_path: Path
) -> None:
    rt = target(target_pool, target_id)
    torrent = make_torrent(rt.download_dir, tmp_path, files=3, size=3 * 16 * 1024, piece_size=16 * 1024)
    folder = torrent.location / torrent.name
    missing = folder / "file2.bin"
    missing.unlink()
    before = files_on_disk(folder)
    async with rt.make_api() as api:
        try:
            response = await api.add(
                str(torrent.torrent_path), location=str(torrent.location), stopped=True, verify=False
            )
            assert response.success, response.errors
            assert response.added == [torrent.infohash]
            assert response.warnings == [
                aiobtclientapi.Warning(
                    f"{torrent.torrent_path}: rTorrent will check the data (verify=False is ignored): "
                    f"{missing}: No such file or directory"
                )
            ]
            # Added as usual: stopped, unchecked until it starts.
            values = await raw_values(api, torrent.infohash, "d.complete", "d.is_open", "d.hashing", "d.state")
            assert values == {"d.complete": 0, "d.is_open": 0, "d.hashing": 0, "d.state": 0}
            assert files_on_disk(folder) == before
        finally:
            await erase(api, [torrent.infohash])
            torrent.delete_content()
