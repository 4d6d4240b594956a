"""SCGI framing: one request per connection, over TCP or a unix socket.

Written once for both socket kinds; the caller passes how to open the
connection. Every socket failure becomes an error from our hierarchy.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from ...domain import errors

Opener = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]

#: Replies larger than this are refused: a broken or hostile peer can't make us
#: buffer without bound.
MAX_REPLY_SIZE = 64 * 1024 * 1024
#: Largest header block we accept before the blank line.
MAX_HEADER_SIZE = 64 * 1024


def frame(body: bytes) -> bytes:
    """`body` as an SCGI request: netstring of headers (CONTENT_LENGTH first), then body."""
    headers = b"CONTENT_LENGTH\0%d\0SCGI\x001\0" % len(body)
    return b"%d:%s,%s" % (len(headers), headers, body)


def split_reply(raw: bytes | bytearray, where: object) -> memoryview:
    """The body of a CGI-style reply: headers, a blank line, the body (a view of `raw`, not a copy).

    A status other than 200 is reported as a ResponseError; a body shorter
    than its Content-Length (which rTorrent sends) as a ConnectionError: the
    connection was closed in the middle of the reply.
    """
    for separator in (b"\r\n\r\n", b"\n\n"):
        index = raw.find(separator, 0, MAX_HEADER_SIZE)
        if index >= 0:
            head, body = bytes(raw[:index]), memoryview(raw)[index + len(separator) :]
            break
    else:
        raise errors.ResponseError(f"{where}: invalid SCGI reply: no header block")
    for line in head.decode("latin-1").splitlines():
        name, _, value = (part.strip() for part in line.partition(":"))
        if name.lower() == "status":
            code = value.split(" ", 1)[0]
            if code != "200":
                raise errors.ResponseError(f"{where}: SCGI status {value}")
        elif name.lower() == "content-length" and value.isdigit() and len(body) < int(value):
            raise errors.ConnectionError(
                f"{where}: connection closed in the middle of the reply ({len(body)} of {value} bytes)"
            )
    return body


async def _exchange(
    streams: tuple[asyncio.StreamReader, asyncio.StreamWriter], request: bytes, where: object, limit: int
) -> bytearray:
    reader, writer = streams
    try:
        writer.write(request)
        await writer.drain()
        raw = bytearray()
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            raw += chunk
            if len(raw) > limit:
                raise errors.ResponseError(f"{where}: reply larger than {limit} bytes")
        return raw
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def scgi_request(
    opener: Opener,
    body: bytes,
    *,
    where: object,
    timeout: float,
    limit: int = MAX_REPLY_SIZE,
    opener_keeps_time: bool = False,
) -> memoryview:
    """Send `body` over a new connection and return the reply's body, within `timeout` seconds.

    `opener_keeps_time`: the opener applies the timeout to its connecting
    itself (then a timeout there is its own error, e.g. naming a proxy).
    """
    deadline = asyncio.get_running_loop().time() + timeout
    try:
        streams = await opener() if opener_keeps_time else None
        async with asyncio.timeout_at(deadline):
            raw = await _exchange(streams or await opener(), frame(body), where, limit)
    except errors.Error:
        raise
    except TimeoutError as exc:
        raise errors.TimeoutError(f"{where}: timed out after {timeout:g} seconds") from exc
    except FileNotFoundError as exc:
        raise errors.ConnectionError(f"{where}: No such socket") from exc
    except ConnectionRefusedError as exc:
        raise errors.ConnectionError(f"{where}: Connection refused") from exc
    except PermissionError as exc:
        raise errors.ConnectionError(f"{where}: Permission denied") from exc
    except OSError as exc:
        raise errors.ConnectionError(f"{where}: {exc.strerror or type(exc).__name__}") from exc
    if not raw:
        raise errors.ConnectionError(f"{where}: connection closed without a reply")
    return split_reply(raw, where)
