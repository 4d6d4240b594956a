"""HTTP clients against broken peers: servers that hang, send garbage or too much.

Real sockets on loopback; each case must end in an error from our hierarchy
within the configured timeout, never a hang and never a raw aiohttp error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

import aiobtclientapi

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
