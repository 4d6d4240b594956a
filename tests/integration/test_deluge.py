"""Deluge-specific behaviour against a real deluged, and against a hostile peer.

The hostile peer is a real TLS server on loopback (throwaway certificate made
with openssl) that answers our requests with what a broken or malicious
daemon could send; every case must end in an error of our hierarchy within
the timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import ssl
import struct
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import bencode2
import pytest
import rencode

import aiobtclientapi
from aiobtclientapi import APIBase, ConnectionStatus
from aiobtclientapi._registry import parse_url
from aiobtclientapi.adapters.deluge import DelugeAdapter
from aiobtclientapi.adapters.deluge._transport import MAX_DECOMPRESSED, MAX_FRAME, DelugeTransport
from aiobtclientapi.application.ports import AddOptions, AddStatus, ClientPort, ConnectionOptions
from aiobtclientapi.domain.source import source_from_metainfo
from aiobtclientapi.domain.url import ClientURL
from aiobtclientapi.testing._daemon import NativeRunner
from aiobtclientapi.testing._deluge import DelugeDaemon
from aiobtclientapi.testing._torrents import make_torrent
from tests.peers import self_signed_certificate, serving_streams
from tests.waiting import poll_until


@pytest.fixture(scope="module")
def daemon(runner: NativeRunner, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DelugeDaemon]:
    # A daemon of its own: the restart test must not disturb the contract suite's.
    deluged = DelugeDaemon(tmp_path_factory.mktemp("deluge-specific"), runner)
    deluged.start()
    try:
        yield deluged
    finally:
        deluged.stop()


def _url(daemon: DelugeDaemon, password: str | None = None) -> ClientURL:
    return parse_url("deluge", f"{daemon.username}:{password or daemon.password}@127.0.0.1:{daemon.port}")


@pytest.fixture
async def adapter(daemon: DelugeDaemon) -> AsyncIterator[DelugeAdapter]:
    deluge = DelugeAdapter(_url(daemon), ConnectionOptions(timeout=10))
    await deluge.connect()
    try:
        yield deluge
    finally:
        await deluge.disconnect()


def test_adapter_fits_the_port(daemon: DelugeDaemon) -> None:
    port: ClientPort = DelugeAdapter(_url(daemon), ConnectionOptions())  # mypy checks the fit
    assert port.add_limitations == frozenset()
    assert port.status is ConnectionStatus.disconnected


# --- one connection, many calls ------------------------------------------------------------
async def test_concurrent_calls_share_one_connection(adapter: DelugeAdapter) -> None:
    config = await adapter.call("core.get_config")
    keys = sorted(config)[:49]
    opened = adapter.transport.connections_opened
    replies = await asyncio.gather(
        adapter.call("daemon.info"), *(adapter.call("core.get_config_value", key) for key in keys)
    )
    assert isinstance(replies[0], str) and replies[0].startswith("2.")
    for key, reply in zip(keys, replies[1:], strict=True):
        expected = config[key]
        assert reply == expected, key
    assert adapter.transport.connections_opened == opened


async def test_call_passes_args_and_kwargs(adapter: DelugeAdapter, daemon: DelugeDaemon, tmp_path: Path) -> None:
    torrent = make_torrent(daemon.download_dir, tmp_path)
    source = source_from_metainfo(torrent.torrent_path.read_bytes(), str(torrent.torrent_path))
    [outcome] = await adapter.add([source], AddOptions(stopped=True))
    assert outcome.status is AddStatus.added
    rows = await adapter.call("core.get_torrents_status", {"id": [torrent.infohash]}, keys=["name"])
    assert rows == {torrent.infohash: {"name": torrent.name}}
    with pytest.raises(aiobtclientapi.ResponseError, match=r"no\.such\.method"):
        await adapter.call("no.such.method")


# --- batched primitives on the real daemon --------------------------------------------------
async def test_add_duplicate_and_unknown_ids(adapter: DelugeAdapter, daemon: DelugeDaemon, tmp_path: Path) -> None:
    torrents = [make_torrent(daemon.download_dir, tmp_path) for _ in range(3)]
    sources = [source_from_metainfo(t.torrent_path.read_bytes(), str(t.torrent_path)) for t in torrents]
    outcomes = await adapter.add(sources, AddOptions(stopped=True))
    assert [(o.status, o.infohash) for o in outcomes] == [(AddStatus.added, t.infohash) for t in torrents]
    again = await adapter.add([*sources, sources[0]], AddOptions(stopped=True))
    assert [(o.status, o.infohash) for o in again] == [
        *((AddStatus.already_added, t.infohash) for t in torrents),
        (AddStatus.already_added, torrents[0].infohash),
    ]

    hashes = [t.infohash for t in torrents]
    unknown = "00000000000000000000000000000000000000aa"
    assert await adapter.start([unknown, *hashes]) == {unknown: "No such torrent"}

    async def states() -> dict[str, str]:
        rows = await adapter.call("core.get_torrents_status", {"id": hashes}, ["state"])
        return {h: row["state"] for h, row in rows.items()}

    await poll_until(lambda: states(), lambda s: "Paused" not in s.values(), "torrents to start")
    assert await adapter.stop([*hashes, unknown]) == {unknown: "No such torrent"}
    # Deluge may skip a torrent its status cache still shows paused; confirming
    # (and asking again) is the service's part.
    stopped = await APIBase(adapter).stop(*hashes)
    assert stopped.success, stopped.errors
    assert sorted(stopped.stopped + stopped.already_stopped) == sorted(hashes)
    assert set((await states()).values()) == {"Paused"}
    snapshot = await adapter.snapshot([*hashes, unknown])
    assert set(snapshot) == set(hashes)
    assert all(status.stopped is True for status in snapshot.values())


async def test_added_started_never_reads_paused(daemon: DelugeDaemon, tmp_path: Path) -> None:
    # Deluge 2.2 adds a torrent paused and then resumes it; right after a
    # pause_torrents its status shows the added torrent "Paused" (progress 0)
    # for ~50 ms before "Queued"/"Seeding". add() must not return before the
    # daemon shows a torrent added started as not paused: the adapter declares
    # it (timing.started_shows_stopped) and the service waits it out.
    async with aiobtclientapi.api("deluge", daemon.url) as api:
        for _ in range(3):
            running = [make_torrent(daemon.download_dir, tmp_path) for _ in range(2)]
            response = await api.add(*(str(t.torrent_path) for t in running), location=str(daemon.download_dir))
            assert sorted(response.added) == sorted(t.infohash for t in running), response.errors
            assert (await api.stop(*response.added)).success

            torrent = make_torrent(daemon.download_dir, tmp_path)
            response = await api.add(str(torrent.torrent_path), location=str(daemon.download_dir))
            assert response.added == [torrent.infohash], response.errors
            rows = await api.call("core.get_torrents_status", {"id": [torrent.infohash]}, ["state", "progress"])
            assert rows[torrent.infohash]["state"] != "Paused", rows


async def test_stop_reaches_queued_torrents_started_meanwhile(daemon: DelugeDaemon, tmp_path: Path) -> None:
    # Deluge pauses a torrent only if its status cache (up to 1.5 s old) says
    # it runs. With more torrents than seeding slots, pausing the running ones
    # lets libtorrent start queued ones the cache still shows paused, and
    # Deluge skips those (2.0.3: 1-3 of 60 each time). stop() must notice
    # and pause them again: a second stop refreshes their cached status first
    # (core.get_torrent_status), so that one more pause reaches them.
    torrents = [make_torrent(daemon.download_dir, tmp_path, size=16 * 1024) for _ in range(60)]
    hashes = [t.infohash for t in torrents]
    async with aiobtclientapi.api("deluge", daemon.url) as api:
        response = await api.add(*(str(t.torrent_path) for t in torrents), location=str(daemon.download_dir))
        assert sorted(response.added) == sorted(hashes), response.errors

        async def states() -> dict[str, str]:
            rows = await api.call("core.get_torrents_status", {"id": hashes}, ["state"])
            return {h: row["state"] for h, row in rows.items()}

        # Deluge skips torrents once libtorrent has filled every seeding slot.
        slots = await api.call("core.get_config_value", "max_active_seeding")

        async def seeding() -> int:
            rows = await api.call("core.get_torrents_status", {}, ["state"])
            return sum(row["state"] == "Seeding" for row in rows.values())

        await poll_until(seeding, lambda count: count >= slots, f"{slots} seeding torrents")
        assert "Queued" in (await states()).values()
        sent_before = dict(api.port.request_counts)
        stopped = await api.stop(*hashes)
        assert stopped.success, stopped.errors
        assert sorted(stopped.stopped) == sorted(hashes)
        assert set((await states()).values()) == {"Paused"}
        sent = {m: n - sent_before.get(m, 0) for m, n in api.port.request_counts.items()}
        pauses, refreshed = sent["core.pause_torrents"], sent.get("core.get_torrent_status", 0)
        # One pause, or a second one after refreshing the skipped torrents (1-3).
        assert (pauses, refreshed > 0) in ((1, False), (2, True)), sent
        await api.call("core.remove_torrents", hashes, False)


# --- login --------------------------------------------------------------------------------
async def test_wrong_password(daemon: DelugeDaemon) -> None:
    deluge = DelugeAdapter(_url(daemon, "wrong-password"), ConnectionOptions(timeout=10))
    with pytest.raises(aiobtclientapi.AuthenticationError) as info:
        await deluge.connect()
    assert "wrong-password" not in str(info.value)
    assert deluge.status is ConnectionStatus.disconnected
    with pytest.raises(aiobtclientapi.AuthenticationError):
        await deluge.call("daemon.info")
    await deluge.disconnect()


async def test_login_to_accounts_the_daemon_stores(daemon: DelugeDaemon) -> None:
    # Deluge 2.2.1 stores passwords as scrypt hashes ("$scrypt$n$r$p$salt$hex"),
    # both for accounts it creates and (here) for the test account the fixture
    # writes; older daemons store them in plain text. Login must work either way.
    auth_lines = (daemon.config_dir / "auth").read_text().splitlines()
    [stored] = [line.split(":")[1] for line in auth_lines if line.startswith(f"{daemon.username}:")]
    assert stored.startswith("$scrypt$") is daemon.hashes_passwords, stored

    username, password = f"created-{os.getpid()}", "Another-s3cret"
    admin = DelugeAdapter(_url(daemon), ConnectionOptions(timeout=10))
    try:
        assert await admin.call("core.create_account", username, password, "ADMIN") is True
    finally:
        await admin.disconnect()
    auth_lines = (daemon.config_dir / "auth").read_text().splitlines()
    [stored] = [line.split(":")[1] for line in auth_lines if line.startswith(f"{username}:")]
    if daemon.hashes_passwords:
        assert stored.startswith("$scrypt$") and password not in stored, stored
    else:
        assert stored == password

    url = parse_url("deluge", f"{username}:{password}@127.0.0.1:{daemon.port}")
    created = DelugeAdapter(url, ConnectionOptions(timeout=10))
    try:
        assert isinstance(await created.list_infohashes(), list)
    finally:
        await created.disconnect()
    wrong = DelugeAdapter(parse_url("deluge", f"{username}:wrong@127.0.0.1:{daemon.port}"), ConnectionOptions())
    with pytest.raises(aiobtclientapi.AuthenticationError, match="authentication failed"):
        await wrong.connect()
    await wrong.disconnect()


async def test_calls_before_login_are_refused(daemon: DelugeDaemon) -> None:
    # protocols.md says the daemon drops calls before login without a reply;
    # Deluge 2.0.3 answers them with NotAuthorizedError (a new session has
    # auth level 0) — the daemon wins. daemon.info needs no login.
    transport = DelugeTransport(_url(daemon), ConnectionOptions(timeout=5))
    await transport.open()
    try:
        assert (await transport.call("daemon.info")).startswith("2.")
        started = time.monotonic()
        with pytest.raises(aiobtclientapi.ResponseError, match=r"NotAuthorizedError: Auth level too low: 0 < "):
            await transport.call("core.get_session_state")
        assert time.monotonic() - started < 2
        await transport.login()
        assert isinstance(await transport.call("core.get_session_state"), (list, tuple))
    finally:
        await transport.close()


async def test_unanswered_call_times_out(daemon: DelugeDaemon) -> None:
    transport = DelugeTransport(_url(daemon), ConnectionOptions(timeout=0.5))
    await transport.connect()
    daemon.freeze()  # the daemon hears nothing and answers nothing
    try:
        started = time.monotonic()
        with pytest.raises(aiobtclientapi.TimeoutError, match=r"core\.get_session_state: no reply within 0\.5s"):
            await transport.call("core.get_session_state")
        assert time.monotonic() - started < 2
    finally:
        daemon.thaw()
    # The late reply to the timed-out call is dropped; the connection goes on.
    transport.options = ConnectionOptions(timeout=10)
    assert (await transport.call("daemon.info")).startswith("2.")
    assert transport.is_open
    await transport.close()


# --- connection loss ------------------------------------------------------------------------
async def test_daemon_restart(daemon: DelugeDaemon) -> None:
    api = aiobtclientapi.api("deluge", daemon.url, timeout=10)
    seen: list[ConnectionStatus] = []
    api.on_status_change(seen.append)
    version = await api.call("daemon.info")
    assert api.status is ConnectionStatus.connected

    # Freeze the daemon so a call is really in flight, then kill it.
    daemon.freeze()
    in_flight = asyncio.ensure_future(api.call("core.get_session_state"))
    await asyncio.sleep(0.3)
    assert not in_flight.done()
    started = time.monotonic()
    await asyncio.to_thread(daemon.kill)
    with pytest.raises(aiobtclientapi.ConnectionError) as info:
        await in_flight
    assert not isinstance(info.value, aiobtclientapi.TimeoutError)
    assert time.monotonic() - started < 5
    assert seen[-1] is ConnectionStatus.disconnected  # (api.status, read again, confuses mypy)
    assert daemon.password not in str(info.value)

    # While the daemon is down the next call fails fast, without hanging.
    with pytest.raises(aiobtclientapi.ConnectionError):
        await api.call("daemon.info")

    daemon.start()
    # The same API object connects and logs in again by itself.
    assert await api.call("daemon.info") == version
    assert isinstance(await api.call("core.get_session_state"), (list, tuple))
    assert api.status is ConnectionStatus.connected
    connecting, connected, disconnected = (
        ConnectionStatus.connecting,
        ConnectionStatus.connected,
        ConnectionStatus.disconnected,
    )
    assert seen == [
        *(connecting, connected),  # the first call
        disconnected,  # the daemon died
        *(connecting, disconnected),  # the call in flight (idempotent) tried once more on a new connection
        *(connecting, disconnected),  # the call while the daemon was down
        *(connecting, connected),  # the call after the restart
    ]
    await api.disconnect()


# --- TLS: pinned fingerprint and CA file ---------------------------------------------------
def _fingerprint(cert_path: Path) -> str:
    der = ssl.PEM_cert_to_DER_cert(cert_path.read_text())
    return hashlib.sha256(der).hexdigest()


async def test_pinned_fingerprint(daemon: DelugeDaemon) -> None:
    right = _fingerprint(daemon.cert_path)
    colons = ":".join(right[i : i + 2] for i in range(0, len(right), 2)).upper()
    for pin in (right, colons):
        api = aiobtclientapi.api("deluge", daemon.url, tls_fingerprint=pin)
        assert (await api.call("daemon.info")).startswith("2.")
        await api.disconnect()
    wrong = hashlib.sha256(b"another certificate").hexdigest()
    api = aiobtclientapi.api("deluge", daemon.url, tls_fingerprint=wrong)
    with pytest.raises(aiobtclientapi.ConnectionError, match="fingerprint mismatch"):
        await api.call("daemon.info")
    assert api.status is ConnectionStatus.disconnected
    await api.disconnect()


async def test_ca_file(daemon: DelugeDaemon, peer_cert: tuple[Path, Path]) -> None:
    # The daemon's self-signed certificate is its own CA.
    api = aiobtclientapi.api("deluge", daemon.url, tls_ca_file=str(daemon.cert_path))
    assert (await api.call("daemon.info")).startswith("2.")
    await api.disconnect()
    other_cert, _ = peer_cert
    api = aiobtclientapi.api("deluge", daemon.url, tls_ca_file=str(other_cert))
    with pytest.raises(aiobtclientapi.ConnectionError, match="certificate verification failed"):
        await api.call("daemon.info")
    await api.disconnect()


# --- events -------------------------------------------------------------------------------------
async def test_torrent_added_event(adapter: DelugeAdapter, daemon: DelugeDaemon, tmp_path: Path) -> None:
    added: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
    unsubscribe = await adapter.subscribe("TorrentAddedEvent", lambda *args: added.put_nowait(args))
    try:
        torrent = make_torrent(daemon.download_dir, tmp_path)
        source = source_from_metainfo(torrent.torrent_path.read_bytes(), str(torrent.torrent_path))
        # Replies and events share the connection: both must arrive intact.
        outcomes, info = await asyncio.gather(
            adapter.add([source], AddOptions(stopped=True)), adapter.call("daemon.info")
        )
        assert outcomes[0].status is AddStatus.added
        assert info.startswith("2.")

        async def event_of_ours() -> Any:
            # Deluge announces an add once libtorrent has it: an add of an earlier
            # test may be announced only now. Ours must come, intact.
            while True:
                torrent_id, from_state = await added.get()
                if torrent_id == torrent.infohash:
                    return from_state

        assert await asyncio.wait_for(event_of_ours(), 10) is False
    finally:
        unsubscribe()


# --- a hostile peer ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def peer_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate and key."""
    return self_signed_certificate(tmp_path_factory.mktemp("peer-cert"))


def _frame(obj: Any) -> bytes:
    body = zlib.compress(rencode.dumps(obj))
    return struct.pack("!BI", 1, len(body)) + body


def _frames(data: bytes) -> tuple[list[Any], bytes]:
    """The messages framed in `data`, parsed independently of the adapter's own
    decoder, and the bytes of an incomplete frame left over."""
    messages: list[Any] = []
    while len(data) >= 5:
        version, length = struct.unpack("!BI", data[:5])
        assert version == 1
        if len(data) < 5 + length:
            break
        messages.append(rencode.loads(zlib.decompress(data[5 : 5 + length]), decode_utf8=True))
        data = data[5 + length :]
    return messages, data


def _requests(data: bytes) -> tuple[list[Any], bytes]:
    """Our requests in `data` (each frame holds a list of them) and the rest."""
    frames, rest = _frames(data)
    return [call for frame in frames for call in frame], rest


def _inflating_body(size: int) -> bytes:
    """A small zlib stream that inflates to `size` zero bytes."""
    deflater = zlib.compressobj(9)
    chunk = bytes(1024 * 1024)
    parts = [deflater.compress(chunk) for _ in range(size // len(chunk) + 1)]
    return b"".join(parts) + deflater.flush()


Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def hostile_peer(cert: tuple[Path, Path], behaviour: Behaviour) -> AsyncIterator[int]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert[0]), str(cert[1]))
    async with serving_streams(behaviour, ssl_context=context) as port:
        yield port


async def _first_request(reader: asyncio.StreamReader) -> Any:
    header = await reader.readexactly(5)
    _, length = struct.unpack("!BI", header)
    return _requests(header + await reader.readexactly(length))[0][0]


async def _send_garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _first_request(reader)
    writer.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    await writer.drain()
    await reader.read()


async def _send_huge_header(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _first_request(reader)
    writer.write(struct.pack("!BI", 1, 0xFFFFFFFF) + b"\x78\x9c")
    await writer.drain()
    await reader.read()


async def _send_bomb(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _first_request(reader)
    body = _inflating_body(MAX_DECOMPRESSED + 1024 * 1024)
    assert len(body) < MAX_FRAME
    writer.write(struct.pack("!BI", 1, len(body)) + body)
    await writer.drain()
    await reader.read()


async def _send_nothing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # reads until we hang up, answers nothing


async def _send_deluge1(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    request_id = (await _first_request(reader))[0]
    # Deluge 1.3: zlib(rencode(message)) with no version byte or length.
    writer.write(zlib.compress(rencode.dumps((1, request_id, True))))
    await writer.drain()
    await reader.read()


async def _send_bad_rencode(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _first_request(reader)
    body = zlib.compress(b"\xff\xfe not rencode")
    writer.write(struct.pack("!BI", 1, len(body)) + body)
    await writer.drain()
    await reader.read()


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _first_request(reader)


@pytest.mark.parametrize(
    ("behaviour", "error", "message"),
    [
        (_send_garbage, aiobtclientapi.ConnectionError, "unsupported protocol: not a Deluge 2.x daemon"),
        (_send_huge_header, aiobtclientapi.ConnectionError, "exceeds the limit"),
        (_send_bomb, aiobtclientapi.ConnectionError, "inflates to more than"),
        (_send_nothing, aiobtclientapi.TimeoutError, "no reply to login"),
        (_send_deluge1, aiobtclientapi.ConnectionError, "Deluge 1.x"),
        (_send_bad_rencode, aiobtclientapi.ConnectionError, "undecodable reply"),
        (_hang_up, aiobtclientapi.ConnectionError, "connection closed by the daemon"),
    ],
    ids=["garbage", "huge-header", "zlib-bomb", "silence", "deluge-1.3", "bad-rencode", "hang-up"],
)
async def test_hostile_peer(
    peer_cert: tuple[Path, Path], behaviour: Behaviour, error: type[Exception], message: str
) -> None:
    timeout = 2.0
    async with hostile_peer(peer_cert, behaviour) as port:
        deluge = DelugeAdapter(
            parse_url("deluge", f"user:secret-pw@127.0.0.1:{port}"), ConnectionOptions(timeout=timeout)
        )
        started = time.monotonic()
        with pytest.raises(error, match=message) as info:
            await deluge.connect()
        assert time.monotonic() - started < timeout + 1
        assert isinstance(info.value, aiobtclientapi.Error)
        assert "secret-pw" not in str(info.value)
        assert f"127.0.0.1:{port}" in str(info.value)
        assert deluge.status is ConnectionStatus.disconnected
        await deluge.disconnect()


async def _split_and_batched(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A correct peer that cuts replies into single bytes and packs several into one write."""
    buffer = b""
    while True:
        data = await reader.read(65536)
        if not data:
            return
        calls, buffer = _requests(buffer + data)
        replies = b""
        for request_id, method, _args, _kwargs in calls:
            value = 10 if method == "daemon.login" else f"{method}#{request_id}"
            replies += _frame((3, "SomeEvent", [request_id])) + _frame((1, request_id, value))
        if len(calls) == 1:
            for byte in replies:
                writer.write(bytes([byte]))
                await writer.drain()
        else:
            writer.write(replies)
            await writer.drain()


async def test_frames_split_and_batched(peer_cert: tuple[Path, Path]) -> None:
    async with hostile_peer(peer_cert, _split_and_batched) as port:
        deluge = DelugeAdapter(parse_url("deluge", f"user:pw@127.0.0.1:{port}"), ConnectionOptions(timeout=5))
        events: list[Any] = []
        deluge.transport.subscribe("SomeEvent", events.append)
        await deluge.connect()
        replies = await asyncio.gather(*(deluge.call(f"m{i}") for i in range(20)))
        assert [reply.split("#")[0] for reply in replies] == [f"m{i}" for i in range(20)]
        assert len(events) >= 21  # login + set_event_interest + 20 calls, each preceded by an event
        await deluge.disconnect()


async def test_a_withheld_reply_fails_nothing_the_daemon_did(
    daemon: DelugeDaemon, peer_cert: tuple[Path, Path], tmp_path: Path
) -> None:
    # A peer in the middle passes everything between us and the real daemon but
    # its reply to the second core.add_torrent_file: that call times out, yet the
    # daemon added the torrent, and add() must say what the daemon has.
    withheld: set[int] = set()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", daemon.port, ssl=context)
        adds = 0

        async def upstream() -> None:
            nonlocal adds
            rest = b""
            while data := await reader.read(65536):
                calls, rest = _requests(rest + data)
                for request_id, method, *_ in calls:
                    if method == "core.add_torrent_file":
                        adds += 1
                        if adds == 2:
                            withheld.add(request_id)
                up_writer.write(data)
                await up_writer.drain()

        async def downstream() -> None:
            rest = b""
            while data := await up_reader.read(65536):
                messages, rest = _frames(rest + data)
                for message in messages:
                    if message[0] in (1, 2) and message[1] in withheld:
                        continue
                    writer.write(_frame(message))
                await writer.drain()

        try:
            await asyncio.gather(upstream(), downstream())
        finally:
            up_writer.close()

    torrents = [make_torrent(daemon.download_dir, tmp_path, size=16 * 1024) for _ in range(3)]
    hashes = [t.infohash for t in torrents]
    async with hostile_peer(peer_cert, relay) as port:
        api = aiobtclientapi.api("deluge", f"{daemon.username}:{daemon.password}@127.0.0.1:{port}", timeout=2)
        async with api:
            started = time.monotonic()
            response = await api.add(*(str(t.torrent_path) for t in torrents), stopped=True)
            assert time.monotonic() - started >= 2  # the withheld call's timeout
            assert len(withheld) == 1
            assert sorted(response.added) == sorted(hashes), response
            assert response.success, response.errors
    async with aiobtclientapi.api("deluge", daemon.url) as direct:
        rows = await direct.call("core.get_torrents_status", {"id": hashes}, ["state"])
        assert sorted(rows) == sorted(hashes)
        # Added stopped: paused, or still checking the data it found.
        assert {row["state"] for row in rows.values()} <= {"Paused", "Checking"}, rows
        await direct.call("core.remove_torrents", hashes, False)


async def test_a_torrent_name_is_never_a_path_for_the_daemon(daemon: DelugeDaemon, tmp_path: Path) -> None:
    # Deluge joins the file name it is given to its folder for copies of .torrent files
    # (in the daemon's workdir: a container sees only that).
    copies = daemon.workdir / f"copies-{tmp_path.name}" / "copies"
    copies.mkdir(parents=True)
    info = {b"name": b"../escaped/x", b"length": 5, b"piece length": 16384, b"pieces": b"\x01" * 20}
    evil = tmp_path / "evil.torrent"
    evil.write_bytes(bencode2.bencode({b"info": info}))
    async with aiobtclientapi.api("deluge", daemon.url) as api:
        config = await api.call("core.get_config_values", ["copy_torrent_file", "torrentfiles_location"])
        await api.call("core.set_config", {"copy_torrent_file": True, "torrentfiles_location": str(copies)})
        try:
            response = await api.add(str(evil), stopped=True)
            assert response.success, response.errors
            await poll_until(
                lambda: asyncio.to_thread(lambda: sorted(p.name for p in copies.iterdir())), bool, "the copy"
            )
            assert sorted(p.name for p in copies.iterdir()) == ["x.torrent"]
            assert not (copies.parent / "escaped").exists()
            await api.call("core.remove_torrents", response.added, False)
        finally:
            await api.call("core.set_config", config)
