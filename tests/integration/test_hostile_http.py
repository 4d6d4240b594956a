"""HTTP clients against broken peers: servers that hang, send garbage or too much.

Real sockets on loopback; each case must end in an error from our hierarchy
within the configured timeout, never a hang and never a raw aiohttp error.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import bencode2
import pytest
from aiohttp import web

import aiobtclientapi
from tests.peers import self_signed_certificate, serving

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
HTTP_CLIENTS = ["transmission", "qbittorrent"]


async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(3600)


async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(65536)
    writer.write(b"\x00\xffthis is not HTTP at all\r\n\r\n")
    await writer.drain()
    writer.close()


async def not_json(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(65536)
    body = b"<html>surprise</html>"
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    await writer.drain()
    writer.close()


async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(65536)
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
    try:
        chunk = b"[" * 65536
        for _ in range(2000):  # 128 MiB at most, more than we accept
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    writer.close()


@pytest.fixture
async def server(request: pytest.FixtureRequest) -> AsyncIterator[int]:
    handler: Handler = request.param
    srv = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    yield port
    srv.close()


@pytest.mark.parametrize("client", HTTP_CLIENTS)
@pytest.mark.parametrize("server", [hang], indirect=True)
async def test_hanging_server_times_out(client: str, server: int) -> None:
    api = aiobtclientapi.api(client, f"user:hunter2@127.0.0.1:{server}", timeout=1)
    started = time.monotonic()
    with pytest.raises(aiobtclientapi.TimeoutError) as info:
        await api.get_infohashes()
    assert time.monotonic() - started < 5
    assert "hunter2" not in str(info.value)
    await api.disconnect()


@pytest.mark.parametrize("client", HTTP_CLIENTS)
@pytest.mark.parametrize("server", [garbage, not_json, endless], indirect=True)
async def test_broken_server_is_an_error(client: str, server: int) -> None:
    api = aiobtclientapi.api(client, f"user:hunter2@127.0.0.1:{server}", timeout=10)
    with pytest.raises(aiobtclientapi.Error) as info:
        await api.get_infohashes()
    assert isinstance(info.value, (aiobtclientapi.ConnectionError, aiobtclientapi.ResponseError))
    assert "hunter2" not in str(info.value)
    response = await api.stop("0" * 40)
    assert not response.success
    await api.disconnect()


@pytest.mark.parametrize("client", HTTP_CLIENTS)
@pytest.mark.parametrize("server", [hang], indirect=True)
async def test_cancelled_connect_leaves_nothing_open(client: str, server: int) -> None:
    api = aiobtclientapi.api(client, f"user:hunter2@127.0.0.1:{server}", timeout=30)
    seen: list[aiobtclientapi.ConnectionStatus] = []
    api.on_status_change(seen.append)
    task = asyncio.ensure_future(api.connect())
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == [aiobtclientapi.ConnectionStatus.connecting, aiobtclientapi.ConnectionStatus.disconnected]
    assert api.status is aiobtclientapi.ConnectionStatus.disconnected
    transport: Any = cast(Any, api.port)._transport
    assert not transport.is_open, "the HTTP session was left open"


async def test_torrent_downloads_verify_certificates_whatever_the_client_options(tmp_path: Path) -> None:
    # tls_verify=False is meant for a daemon's self-signed certificate; a torrent
    # host with one is still refused.
    from aiohttp import web
    from dependency_injector import providers

    from aiobtclientapi.adapters.memory import MemoryAdapter
    from aiobtclientapi.container import container

    cert, key = self_signed_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def serve(request: web.Request) -> web.Response:
        return web.Response(body=b"not reached")

    app = web.Application()
    app.router.add_get("/t.torrent", serve)
    async with serving(app, ssl_context=context) as port:
        with container.port.override(providers.Factory(MemoryAdapter)):
            api = aiobtclientapi.api("transmission", "localhost", tls_verify=False)
        response = await api.add(f"https://127.0.0.1:{port}/t.torrent")
        [error] = response.errors
        assert isinstance(error, aiobtclientapi.ReadError)
        assert "certificate verification failed" in str(error), error


#: A reply nested deeper than any decoder recurses.
DEEP_JSON = b"[" * 200_000 + b"]" * 200_000


def _deeply_nested_peer(client: str) -> web.Application:
    """A peer that logs in and answers like `client`, but lists torrents as deeply nested JSON."""
    app = web.Application()

    async def transmission_rpc(request: web.Request) -> web.Response:
        body = await request.json()
        method = body.get("method", "")
        if method in ("session-get", "session_get"):
            arguments = {"version": "3.00", "rpc-version": 16, "rpc-version-semver": "5.2.0"}
            return web.json_response({"result": "success", "arguments": arguments, "tag": body.get("tag")})
        nested = b'{"result":"success","arguments":{"torrents":' + DEEP_JSON + b"}}"
        return web.Response(body=nested, content_type="application/json")

    async def qbittorrent(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if method == "auth/login":
            return web.Response(text="Ok.")
        if method == "app/webapiVersion":
            return web.Response(text="2.8.19")
        if method == "app/preferences":
            return web.json_response({"refresh_interval": 1500})
        return web.Response(body=DEEP_JSON, content_type="application/json")

    if client == "transmission":
        app.router.add_post("/transmission/rpc", transmission_rpc)
    else:
        app.router.add_route("*", "/api/v2/{method:.*}", qbittorrent)
    return app


@pytest.mark.parametrize("client", HTTP_CLIENTS)
async def test_deeply_nested_replies_are_errors_not_crashes(client: str) -> None:
    async with serving(_deeply_nested_peer(client)) as port:
        api = aiobtclientapi.api(client, f"user:hunter2@127.0.0.1:{port}", timeout=5)
        with pytest.raises(aiobtclientapi.ResponseError) as info:
            await api.get_infohashes()
        assert "hunter2" not in str(info.value)
        for method in (api.stop, api.start, api.verify):
            response = await method("0" * 40)
            [error] = response.errors
            assert isinstance(error, aiobtclientapi.Error), error
        added = await api.add("magnet:?xt=urn:btih:" + "1" * 40)
        assert not added.success and all(isinstance(e, aiobtclientapi.Error) for e in added.errors)
        await api.disconnect()


async def test_many_torrent_urls_share_a_few_connections() -> None:
    from dependency_injector import providers

    from aiobtclientapi.adapters._http import TorrentDownloader
    from aiobtclientapi.adapters.memory import MemoryAdapter
    from aiobtclientapi.container import container

    count = 300
    in_flight = most = 0
    peers: set[tuple[str, int]] = set()

    async def serve(request: web.Request) -> web.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        peers.add(request.transport.get_extra_info("peername") if request.transport else ("?", 0))
        await asyncio.sleep(0.001)
        in_flight -= 1
        name = request.match_info["name"].encode()
        info = {b"name": name, b"length": 5, b"piece length": 16384, b"pieces": b"\x01" * 20}
        return web.Response(body=bencode2.bencode({b"info": info}))

    app = web.Application()
    app.router.add_get("/{name}.torrent", serve)
    async with serving(app) as port:
        with container.port.override(providers.Factory(MemoryAdapter)):
            api = aiobtclientapi.api("transmission", "localhost")
        urls = [f"http://127.0.0.1:{port}/t{i}.torrent" for i in range(count)]
        response = await api.add(*urls, stopped=True)
        assert response.success, response.errors[:3]
        assert len(response.added) == count
        assert most <= TorrentDownloader.concurrency, most
        assert len(peers) <= TorrentDownloader.concurrency, len(peers)  # connections reused


def _torrent_bytes(name: bytes) -> bytes:
    info = {b"name": name, b"length": 5, b"piece length": 16384, b"pieces": b"\x01" * 20}
    return bencode2.bencode({b"info": info})


def _memory_api() -> aiobtclientapi.APIBase:
    from dependency_injector import providers

    from aiobtclientapi.adapters.memory import MemoryAdapter
    from aiobtclientapi.container import container

    with container.port.override(providers.Factory(MemoryAdapter)):
        return aiobtclientapi.api("transmission", "localhost", timeout=5)


async def test_torrent_download_credentials_stay_with_their_origin() -> None:
    # The torrent host redirects to another origin (another port): the
    # credentials of the URL are sent to the first only.
    seen: dict[str, str | None] = {}

    async def elsewhere(request: web.Request) -> web.Response:
        seen["elsewhere"] = request.headers.get("Authorization")
        return web.Response(body=_torrent_bytes(b"moved"))

    other = web.Application()
    other.router.add_get("/t.torrent", elsewhere)
    async with serving(other) as other_port:

        async def origin(request: web.Request) -> web.Response:
            seen["origin"] = request.headers.get("Authorization")
            raise web.HTTPFound(f"http://127.0.0.1:{other_port}/t.torrent")

        first = web.Application()
        first.router.add_get("/t.torrent", origin)
        async with serving(first) as port:
            response = await _memory_api().add(f"http://user:CANARY-pw@127.0.0.1:{port}/t.torrent", stopped=True)
    assert response.success, response.errors
    assert seen["origin"] is not None and seen["origin"].startswith("Basic ")
    assert seen["elsewhere"] is None


async def test_a_redirect_loop_ends_in_a_read_error() -> None:
    hits = 0

    async def loop(request: web.Request) -> web.Response:
        nonlocal hits
        hits += 1
        raise web.HTTPFound(f"/t{hits}.torrent")

    app = web.Application()
    app.router.add_get("/{name}", loop)
    async with serving(app) as port:
        started = time.monotonic()
        response = await _memory_api().add(f"http://user:CANARY-pw@127.0.0.1:{port}/t.torrent")
    [error] = response.errors
    assert isinstance(error, aiobtclientapi.ReadError), error
    assert "too many redirects" in str(error)
    assert "CANARY-pw" not in str(error)
    assert time.monotonic() - started < 5
    assert 1 < hits <= 20, hits
