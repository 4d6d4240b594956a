"""HTTP peers playing a hostile Transmission, qBittorrent or rTorrent (XML-RPC over HTTP).

The peer is a raw HTTP/1.1 server on loopback, so it can break HTTP itself:
it answers the handshake each client needs (Transmission's session-get,
qBittorrent's login, Web API version and preferences, rTorrent's
system.client_version) like the daemon would, then meets the first request
for torrents (the listing of get_infohashes(), the snapshot stop() starts
with) with the case's hostile reply.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
from collections.abc import Awaitable, Callable

import pytest

import aiobtclientapi
from tests.peers import serving_streams

from . import payloads
from .conftest import ErrorClasses, Handler, Probe, check_api, drip, endless, send


@dataclasses.dataclass(frozen=True)
class Request:
    verb: str
    path: str
    headers: dict[str, str]
    body: bytes


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """One HTTP/1.1 request (Content-Length bodies: what aiohttp sends here); None at the end."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    request_line, *lines = head.decode("latin-1").split("\r\n")
    verb, path, _ = request_line.split(" ", 2)
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    assert "chunked" not in headers.get("transfer-encoding", ""), "the peer reads Content-Length bodies only"
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Request(verb, path, headers, body)


def response_head(content_type: str, length: int | None, *extra: str) -> bytes:
    lines = ["HTTP/1.1 200 OK", f"Content-Type: {content_type}", *extra]
    lines.append(f"Content-Length: {length}" if length is not None else "Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def response(body: bytes, content_type: str) -> bytes:
    return response_head(content_type, len(body)) + body


# --- the three clients ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class HttpClient:
    """How one client's daemon answers the handshake, and its bodies for the cases."""

    name: str
    content_type: str
    #: The reply to a handshake request, or None for a request about torrents.
    handshake: Callable[[Request], bytes | None]
    nested: Callable[[], bytes]
    #: Many small valid-looking items, then one that is not (the reply is wrong, but only at its end).
    amplified: Callable[[], bytes]
    wrong_type: bytes
    #: A plausible reply, for the peers that never finish sending it.
    plausible: bytes

    def url(self, port: int) -> str:
        return f"http://user:secret@127.0.0.1:{port}"


def _transmission_handshake(request: Request) -> bytes | None:
    call = json.loads(request.body)
    if call.get("method") != "session-get":
        return None
    arguments = {"version": "4.0.6", "rpc-version": 17, "rpc-version-semver": "5.3.0"}
    body = json.dumps({"result": "success", "arguments": arguments, "tag": call.get("tag")}).encode()
    return response(body, "application/json")


def _qbittorrent_handshake(request: Request) -> bytes | None:
    method = request.path.split("?", 1)[0].removeprefix("/api/v2/")
    if method == "auth/login":
        return response(b"Ok.", "text/plain; charset=UTF-8")
    if method == "app/webapiVersion":
        return response(b"2.8.19", "text/plain; charset=UTF-8")
    if method == "app/preferences":
        return response(b'{"refresh_interval":1500}', "application/json")
    return None


def _rtorrent_handshake(request: Request) -> bytes | None:
    if b"<methodName>system.client_version</methodName>" not in request.body:
        return None
    return response(payloads.xml_string("0.9.8"), "text/xml")


_TRANSMISSION_ROWS = b'{"result":"success","arguments":{"torrents":['

CLIENTS = {
    "transmission": HttpClient(
        name="transmission",
        content_type="application/json",
        handshake=_transmission_handshake,
        nested=lambda: b'{"result":"success","arguments":{"torrents":' + payloads.json_nested() + b"}}",
        amplified=lambda: payloads.repeated(_TRANSMISSION_ROWS, b'{"hashString":"0"},', b"0]}}"),
        wrong_type=b'{"result":"success","arguments":{"torrents":"oops"}}',
        plausible=_TRANSMISSION_ROWS + b",".join(b'{"hashString":"%040x"}' % i for i in range(64)) + b"]}}",
    ),
    "qbittorrent": HttpClient(
        name="qbittorrent",
        content_type="application/json",
        handshake=_qbittorrent_handshake,
        # Deep in a field the client doesn't read: a decoder skips it, and must skip it within bounds too.
        nested=lambda: b'[{"hash":"0","tags":' + payloads.json_nested() + b"}]",
        amplified=lambda: payloads.repeated(b"[", b'{"hash":"0"},', b"0]"),
        wrong_type=b'"oops"',
        plausible=b"[" + b",".join(b'{"hash":"%040x","state":"pausedUP"}' % i for i in range(64)) + b"]",
    ),
    "rtorrent": HttpClient(
        name="rtorrent",
        content_type="text/xml",
        handshake=_rtorrent_handshake,
        nested=payloads.xml_nested,
        amplified=payloads.xml_amplified,
        wrong_type=payloads.xml_string("oops"),
        plausible=payloads.xml_list_of_hashes(),
    ),
}

# --- the cases ------------------------------------------------------------------------------------
Reply = Callable[[asyncio.StreamWriter], Awaitable[None]]


def _plain(body: bytes, content_type: str) -> Reply:
    async def reply(writer: asyncio.StreamWriter) -> None:
        writer.write(response_head(content_type, len(body)))
        await send(writer, body)

    return reply


def _nesting(client: HttpClient) -> Reply:
    return _plain(client.nested(), client.content_type)


@functools.cache
def _gzipped_amplified(name: str) -> bytes:
    return payloads.compressed(CLIENTS[name].amplified(), 31)  # ~0.1 % of what it inflates to


def _amplification(client: HttpClient) -> Reply:
    body = _gzipped_amplified(client.name)

    async def reply(writer: asyncio.StreamWriter) -> None:
        writer.write(response_head(client.content_type, len(body), "Content-Encoding: gzip"))
        await send(writer, body)

    return reply


def _oversize(client: HttpClient) -> Reply:
    async def reply(writer: asyncio.StreamWriter) -> None:
        writer.write(response_head(client.content_type, None))  # a body until the connection closes
        await endless(writer, b" ")

    return reply


def _oversize_gzip(client: HttpClient) -> Reply:
    bomb = payloads.deflated(payloads.BOMB_SIZE, 31, b" ")

    async def reply(writer: asyncio.StreamWriter) -> None:
        writer.write(response_head(client.content_type, len(bomb), "Content-Encoding: gzip"))
        await send(writer, bomb)

    return reply


def _garbage(client: HttpClient) -> Reply:
    async def reply(writer: asyncio.StreamWriter) -> None:
        await send(writer, payloads.garbage())

    return reply


def _garbage_body(client: HttpClient) -> Reply:
    return _plain(payloads.garbage(), client.content_type)


def _truncation(client: HttpClient) -> Reply:
    body = client.plausible

    async def reply(writer: asyncio.StreamWriter) -> None:
        writer.write(response_head(client.content_type, len(body)))
        await send(writer, body[: len(body) // 2])  # and the connection closes

    return reply


def _slow_drip(client: HttpClient) -> Reply:
    async def reply(writer: asyncio.StreamWriter) -> None:
        await drip(writer, response_head(client.content_type, len(client.plausible)) + client.plausible)

    return reply


def _wrong_type(client: HttpClient) -> Reply:
    return _plain(client.wrong_type, client.content_type)


@dataclasses.dataclass(frozen=True)
class Case:
    reply: Callable[[HttpClient], Reply]
    expected: ErrorClasses
    timeout: float
    #: rTorrent's XML-RPC parse counts against the timeout: a long one may end by the deadline instead.
    xml_may_time_out: bool = False


# Amplification last: what it leaves in the allocator shapes the memory of the cases after it.
CASES = {
    "nesting": Case(_nesting, aiobtclientapi.ResponseError, 5),
    "oversize": Case(_oversize, aiobtclientapi.ResponseError, 5),
    "oversize-gzip": Case(_oversize_gzip, aiobtclientapi.ResponseError, 5),
    "garbage": Case(_garbage, aiobtclientapi.ConnectionError, 2),
    "garbage-body": Case(_garbage_body, aiobtclientapi.ResponseError, 2),
    "truncation": Case(_truncation, aiobtclientapi.ConnectionError, 2),
    "slow-drip": Case(_slow_drip, aiobtclientapi.TimeoutError, 1),
    "wrong-type": Case(_wrong_type, aiobtclientapi.ResponseError, 2),
    "amplification": Case(_amplification, aiobtclientapi.ResponseError, 5, xml_may_time_out=True),
}


def http_peer(client: HttpClient, hostile: Reply) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (request := await read_request(reader)) is not None:
            reply = client.handshake(request)
            if reply is None:
                await hostile(writer)
                return  # and the connection closes
            writer.write(reply)
            await writer.drain()

    return handle


@pytest.mark.parametrize("client", list(CLIENTS))
@pytest.mark.parametrize("case", list(CASES))
async def test_hostile_http_peer(probe: Probe, client: str, case: str) -> None:
    spec, behaviour = CLIENTS[client], CASES[case]
    expected = behaviour.expected
    if behaviour.xml_may_time_out and spec.content_type == "text/xml":
        expected = (aiobtclientapi.ResponseError, aiobtclientapi.TimeoutError)
    hostile = behaviour.reply(spec)  # built before anything is measured
    async with serving_streams(http_peer(spec, hostile)) as port:
        await check_api(probe, client, spec.url(port), expected, behaviour.timeout)
