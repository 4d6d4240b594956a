"""SCGI peers playing a hostile rTorrent.

One request per connection, as rTorrent does it. The peer answers
system.client_version (the connect) like rTorrent 0.9.8 would, with its
``Status``, ``Content-Type`` and ``Content-Length`` header lines, and meets
every other request (download_list for get_infohashes(), the system.multicall
of stop()'s snapshot) with the case's hostile reply.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable

import pytest

import aiobtclientapi
from tests.peers import serving_streams

from . import payloads
from .conftest import ErrorClasses, Probe, check_api, drip, endless, send


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """The body of one SCGI request: a netstring of headers (CONTENT_LENGTH first), then the body."""
    length = int((await reader.readuntil(b":"))[:-1])
    headers = (await reader.readexactly(length + 1))[:-1].split(b"\0")
    return await reader.readexactly(int(headers[headers.index(b"CONTENT_LENGTH") + 1]))


def head(length: int | None) -> bytes:
    """rTorrent's header block; without a length the reply runs until the connection closes."""
    lines = b"Status: 200 OK\r\nContent-Type: text/xml\r\n"
    if length is not None:
        lines += b"Content-Length: %d\r\n" % length
    return lines + b"\r\n"


def reply(body: bytes) -> bytes:
    return head(len(body)) + body


Reply = Callable[[asyncio.StreamWriter], Awaitable[None]]


def _plain(body: bytes) -> Reply:
    async def write(writer: asyncio.StreamWriter) -> None:
        writer.write(head(len(body)))
        await send(writer, body)

    return write


def _oversize() -> Reply:
    async def write(writer: asyncio.StreamWriter) -> None:
        writer.write(head(None) + payloads.XML_HEAD + b"<value><string>")
        await endless(writer, b"A")

    return write


def _garbage() -> Reply:
    async def write(writer: asyncio.StreamWriter) -> None:
        await send(writer, payloads.garbage())

    return write


def _truncation() -> Reply:
    body = payloads.xml_list_of_hashes()

    async def write(writer: asyncio.StreamWriter) -> None:
        writer.write(head(len(body)))
        await send(writer, body[: len(body) // 2])  # and the connection closes

    return write


def _slow_drip() -> Reply:
    data = reply(payloads.xml_list_of_hashes())

    async def write(writer: asyncio.StreamWriter) -> None:
        await drip(writer, data)

    return write


@dataclasses.dataclass(frozen=True)
class Case:
    reply: Callable[[], Reply]
    expected: ErrorClasses
    timeout: float


CASES = {
    "nesting": Case(lambda: _plain(payloads.xml_nested()), aiobtclientapi.ResponseError, 5),
    "oversize": Case(_oversize, aiobtclientapi.ResponseError, 5),
    "garbage": Case(_garbage, aiobtclientapi.ResponseError, 2),
    # rTorrent says how long its reply is: one cut short is a broken connection, as over HTTP.
    "truncation": Case(_truncation, aiobtclientapi.ConnectionError, 2),
    "slow-drip": Case(_slow_drip, aiobtclientapi.TimeoutError, 1),
    "wrong-type": Case(lambda: _plain(payloads.xml_string("oops")), aiobtclientapi.ResponseError, 2),
    # SCGI has no compression: the most a reply under the size cap can decode to. The parse
    # counts against the timeout, so it may end by the deadline instead of by a limit.
    "amplification": Case(
        lambda: _plain(payloads.xml_amplified()), (aiobtclientapi.ResponseError, aiobtclientapi.TimeoutError), 5
    ),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_hostile_scgi_peer(probe: Probe, case: str) -> None:
    behaviour = CASES[case]
    hostile = behaviour.reply()  # built before anything is measured

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = await read_request(reader)
        if b"<methodName>system.client_version</methodName>" in body:
            writer.write(reply(payloads.xml_string("0.9.8")))
            await writer.drain()
        else:
            await hostile(writer)

    async with serving_streams(handle) as port:
        await check_api(probe, "rtorrent", f"scgi://127.0.0.1:{port}", behaviour.expected, behaviour.timeout)
