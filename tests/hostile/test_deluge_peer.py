"""TLS peers playing a hostile Deluge 2.x daemon.

The peer accepts daemon.login like deluged and meets the first other call
(core.get_session_state for get_infohashes(), core.get_torrents_status for
stop()'s snapshot) with the case's hostile reply. The deep-nesting and
amplification cases are decoded by the client in a process of its own
(tests/hostile/_child.py, its address space capped): a decoder that recurses
without limit kills its process, and one that builds whatever the bytes
describe takes gigabytes. The peer stays here, in the test's event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import re
import signal
import ssl
import struct
import sys
import time
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import rencode

import aiobtclientapi
from tests.integration.test_deluge import _frame, _requests

from . import payloads
from .conftest import (
    ErrorClasses,
    Handler,
    Measurement,
    Probe,
    check_api,
    drip,
    endless,
    problems_with_bounds,
    send,
    serve,
)

HEADER = struct.Struct("!BI")
#: The child process may map this much, so that a decoder building gigabytes can't hurt the machine.
CHILD_MEMORY_CAP = 2 * 1024**3
#: The child is killed after this long (it imports, connects, and makes two calls).
CHILD_DEADLINE = 90.0
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
    async with serve(deluge_peer(hostile), ssl_context=server_tls) as port:
        api = aiobtclientapi.api("deluge", _url(port), timeout=behaviour.timeout)
        await check_api(probe, api, behaviour.expected, behaviour.timeout)


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


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def _judge_child(probe: Probe, results: list[dict[str, Any]], match: str, timeout: float) -> None:
    expected = aiobtclientapi.ConnectionError.__name__
    for result in results:
        label = result["label"]
        errors = [result["error"]] if "error" in result else result.get("response_errors", [])
        names = ", ".join(error["classes"][0] if error["classes"] else error["type"] for error in errors)
        described = names if "error" in result else f"Response(errors=[{names}])"
        m = Measurement(result["seconds"], result["growth"], described=f"{described} (in a child process)")
        problems: list[str] = []
        if label == "get_infohashes" and "error" not in result:
            problems.append(f"{label}: returned {result.get('returned')!r} instead of raising {expected}")
        if label == "stop" and ("error" in result or len(errors) != 1 or result.get("success")):
            problems.append(f"{label}: expected a Response holding one error, got {result}")
        for error in errors:
            if "Error" not in error["classes"]:
                problems.append(f"{label}: {error['type']} escaped (not ours): {error['message']:.300}")
            elif expected not in error["classes"]:
                problems.append(f"{label}: {error['type']} ({error['message']:.300}), expected {expected}")
            elif not re.search(match, error["message"], re.IGNORECASE):
                problems.append(f"{label}: {error['message']!r:.300} doesn't say which limit (/{match}/)")
        probe.judge(label, m, problems + problems_with_bounds(m, timeout, label))


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
    root = Path(__file__).resolve().parents[2]
    async with serve(deluge_peer(hostile), ssl_context=server_tls) as port:
        started = time.monotonic()
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-X", "faulthandler", "-m", "tests.hostile._child",
            "deluge", _url(port), str(behaviour.timeout), str(CHILD_MEMORY_CAP),
            cwd=root, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            out, err = await asyncio.wait_for(child.communicate(), CHILD_DEADLINE)
        except TimeoutError:
            child.kill()
            await child.wait()
            pytest.fail(f"the child process did not finish within {CHILD_DEADLINE:g} s", pytrace=False)
    assert child.returncode is not None
    if child.returncode != 0:
        how = _signal_name(child.returncode) if child.returncode < 0 else f"exit status {child.returncode}"
        stderr = err.decode(errors="replace")[-3000:]
        pytest.fail(
            f"the child process making the calls died ({how}) after {time.monotonic() - started:.1f} s:\n{stderr}",
            pytrace=False,
        )
    results: list[dict[str, Any]] = json.loads(out.decode().splitlines()[-1])
    _judge_child(probe, results, behaviour.match, behaviour.timeout)
    probe.verdict()
