"""TLS peers playing a hostile Deluge 2.x daemon.

The peer accepts daemon.login like deluged and meets the first other call
(core.get_session_state for get_infohashes(), core.get_torrents_status for
stop()'s snapshot) with the case's hostile reply. Like every case, the
deep-nesting and amplification cases are decoded by the client in a process
of its own (its address space capped): a decoder that recurses without limit
kills its process, and one that builds whatever the bytes describe takes
gigabytes; those two must also say which limit they hit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import ssl
import struct
import zlib
from collections.abc import Awaitable, Callable

import pytest
import rencode

import aiobtclientapi
from tests.integration.test_deluge import _frame, _requests
from tests.peers import serving_streams

from . import payloads
from .conftest import (
    ErrorClasses,
    Handler,
    Probe,
    check_api,
    drip,
    endless,
    send,
)

HEADER = struct.Struct("!BI")
#: ~250 million one-byte integers: under the 256 MiB a reply could inflate to before the bounded decoder.
AMPLIFIED_INTS = 238 * 1024 * 1024

Hostile = Callable[[asyncio.StreamWriter, int], Awaitable[None]]


def framed(body: bytes) -> bytes:
    return HEADER.pack(1, len(body)) + body


def reply_prefix(request_id: int) -> bytes:
    """The rencoded (1, request_id, ...) up to where the value starts."""
    return bytes(rencode.dumps((1, request_id, None)))[:-1]  # the last byte is the None


def nested_frame(request_id: int) -> bytes:
    """A reply whose value is lists in lists, DEPTH deep (a 400 kB rencode that compresses to ~1 kB)."""
    depth = payloads.DEPTH
    return framed(zlib.compress(reply_prefix(request_id) + b";" * depth + b"\x7f" * depth))


@functools.cache
def _ints_deflated() -> tuple[bytes, int]:
    """Raw deflate of AMPLIFIED_INTS zero bytes and the list's end, and its Adler-32 per byte run."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1024 * 1024)
    parts = [deflater.compress(chunk) for _ in range(AMPLIFIED_INTS // len(chunk))]
    parts += [deflater.compress(b"\x7f"), deflater.flush()]
    return b"".join(parts), len(chunk)


def amplified_frame(request_id: int) -> bytes:
    """A reply whose value is a list of ~250 million small ints (rencode 0x00 each): ~240 kB on the wire.

    The big constant part is compressed once: a zlib stream is its header, the
    deflate blocks of the varying prefix (flushed so that they end on a byte
    and refer to nothing after them), those of the constant part, and the
    Adler-32 of everything.
    """
    tail, chunk_size = _ints_deflated()
    prefix = reply_prefix(request_id) + b";"
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = deflater.compress(prefix) + deflater.flush(zlib.Z_FULL_FLUSH)
    checksum = zlib.adler32(prefix)
    chunk = bytes(chunk_size)
    for _ in range(AMPLIFIED_INTS // chunk_size):
        checksum = zlib.adler32(chunk, checksum)
    checksum = zlib.adler32(b"\x7f", checksum)
    return framed(b"\x78\xda" + head + tail + struct.pack(">I", checksum))


def deluge_peer(hostile: Hostile) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        rest = b""
        while data := await reader.read(65536):
            calls, rest = _requests(rest + data)
            for request_id, method, *_ in calls:
                if method == "daemon.login":
                    writer.write(_frame((1, request_id, 10)))  # auth level: normal
                    await writer.drain()
                else:
                    await hostile(writer, request_id)
                    return  # and the connection closes

    return handle


# --- the cases decoded in this process ----------------------------------------------------------------
def _oversize() -> Hostile:
    async def reply(writer: asyncio.StreamWriter, request_id: int) -> None:
        writer.write(HEADER.pack(1, 1024**3))  # a 1 GiB frame, and bytes until the client hangs up
        await endless(writer, b"\xaa")

    return reply


def _oversize_zlib() -> Hostile:
    frame = framed(payloads.deflated(payloads.BOMB_SIZE, 15))  # 320 MiB of zeros in ~320 kB

    async def reply(writer: asyncio.StreamWriter, request_id: int) -> None:
        await send(writer, frame)

    return reply


def _garbage() -> Hostile:
    frame = framed(payloads.garbage())  # a frame, but not zlib

    async def reply(writer: asyncio.StreamWriter, request_id: int) -> None:
        await send(writer, frame)

    return reply


def _plausible(request_id: int) -> bytes:
    return _frame((1, request_id, [f"{i:040x}" for i in range(64)]))


def _truncation() -> Hostile:
    async def reply(writer: asyncio.StreamWriter, request_id: int) -> None:
        frame = _plausible(request_id)
        await send(writer, frame[: len(frame) // 2])

    return reply


def _slow_drip() -> Hostile:
    async def reply(writer: asyncio.StreamWriter, request_id: int) -> None:
        await drip(writer, _plausible(request_id))

    return reply


def _wrong_type() -> Hostile:
    async def reply(writer: asyncio.StreamWriter, request_id: int) -> None:
        writer.write(_frame((1, request_id, "oops")))  # not a list of ids, not a dict of statuses
        await writer.drain()

    return reply


@dataclasses.dataclass(frozen=True)
class Case:
    hostile: Callable[[], Hostile]
    expected: ErrorClasses
    timeout: float


CASES = {
    "oversize": Case(_oversize, aiobtclientapi.ConnectionError, 2),
    "oversize-zlib": Case(_oversize_zlib, aiobtclientapi.ConnectionError, 5),
    "garbage": Case(_garbage, aiobtclientapi.ConnectionError, 2),
    "truncation": Case(_truncation, aiobtclientapi.ConnectionError, 2),
    "slow-drip": Case(_slow_drip, aiobtclientapi.TimeoutError, 1),
    "wrong-type": Case(_wrong_type, aiobtclientapi.ResponseError, 2),
}


def _url(port: int) -> str:
    return f"user:secret@127.0.0.1:{port}"


@pytest.mark.parametrize("case", list(CASES))
async def test_hostile_deluge_peer(probe: Probe, server_tls: ssl.SSLContext, case: str) -> None:
    behaviour = CASES[case]
    hostile = behaviour.hostile()  # built before anything is measured
    async with serving_streams(deluge_peer(hostile), ssl_context=server_tls) as port:
        await check_api(probe, "deluge", _url(port), behaviour.expected, behaviour.timeout)


# --- the cases decoded in a child process -------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ChildCase:
    frame: Callable[[int], bytes]
    #: Loosely, what the error says: the limit it hit.
    match: str
    timeout: float = 5


CHILD_CASES = {
    "nesting": ChildCase(nested_frame, r"nest|deep|depth|limit"),
    "amplification": ChildCase(amplified_frame, r"more than|limit|exceed"),
}


@pytest.mark.parametrize("case", list(CHILD_CASES))
async def test_hostile_deluge_peer_in_a_child(probe: Probe, server_tls: ssl.SSLContext, case: str) -> None:
    behaviour = CHILD_CASES[case]
    frames: dict[int, bytes] = {}

    async def hostile(writer: asyncio.StreamWriter, request_id: int) -> None:
        await send(writer, frames[request_id])

    # Every reply the child may need, before it starts: each call is sent twice at most
    # (once more on a new connection after a connection error), each after a login.
    for request_id in range(1, 13):
        frames[request_id] = behaviour.frame(request_id)
    async with serving_streams(deluge_peer(hostile), ssl_context=server_tls) as port:
        await check_api(
            probe, "deluge", _url(port), aiobtclientapi.ConnectionError, behaviour.timeout, match=behaviour.match
        )
