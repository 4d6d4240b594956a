"""How XML-RPC requests reach rTorrent: SCGI over TCP or a unix socket, or HTTP(S).

Replies are parsed with defusedxml's expat parser (no DTDs, no entities, no
external references) into xmlrpc.client's Unmarshaller, without patching
any global. Every socket, TLS, HTTP and XML failure becomes an error from
our hierarchy, naming the URL (its str() masks the password).

XML-RPC on every version, although 0.15.2+ also answers JSON-RPC on the same
socket: measured on 0.16.17, JSON-RPC can't carry a .torrent file (JSON
strings are Unicode and rTorrent has no binary type there, so load.raw adds
nothing), and one torrent name that isn't UTF-8 turns a whole reply into a
parse error ("invalid UTF-8 byte"), where XML-RPC escapes it ("caf%E9").
0.16's XML-RPC answers the same calls as 0.9.8's (``<i4>``/``<i8>`` alike,
``""`` targets, system.multicall, d.multicall2); only fault texts differ.
"""

from __future__ import annotations

import asyncio
import collections
import time
import xmlrpc.client
from collections.abc import Sequence
from typing import Any

from ...application.ports import ConnectionOptions
from ...domain import errors
from ...domain.url import ClientURL
from .. import _http, _proxy
from ._scgi import MAX_REPLY_SIZE, Opener, scgi_request

#: rTorrent 0.9.8 refuses XML-RPC requests over 512 KiB by default
#: (network.xmlrpc.size_limit); stay well under it.
MAX_REQUEST_SIZE = 400 * 1024
#: Calls per system.multicall request at most; the size limit usually binds first
#: (about 1,400 status getters fit in one request).
MAX_CALLS_PER_REQUEST = 1000
#: Multicall chunks in flight at once.
MAX_PARALLEL_REQUESTS = 4


class CallFailure:
    """One failed call of a system.multicall: the client's fault message."""

    __slots__ = ("code", "message")

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"CallFailure({self.code}, {self.message!r})"


Call = tuple[str, Sequence[Any]]
#: A reply's body: over SCGI a view of the bytes received, not a copy.
ReplyBody = bytes | bytearray | memoryview


#: XML elements nested deeper than this end the parse: rTorrent's replies
#: (d.multicall2 in system.multicall) nest about a dozen deep.
MAX_XML_DEPTH = 64
#: A reply with more elements than this is refused: each makes at most
#: ELEMENT_COST bytes of Python objects, so 160 MB at most. A listing of
#: 10,000 torrents has ~25 elements per torrent (each value is two:
#: <value><i8>), 250,000 in all.
MAX_XML_ELEMENTS = 1_000_000
#: An upper bound of the memory one element costs once parsed, beyond the
#: bytes of its text (the most, ~100-150 bytes, is a short untyped string:
#: <value>ab</value>).
ELEMENT_COST = 160
#: Replies longer than this are parsed in a worker thread, so that the event
#: loop keeps running meanwhile (256 KiB take ~25 ms to parse).
THREAD_PARSE_SIZE = 256 * 1024
#: How many elements between two looks at the clock.
_CLOCK_EVERY = 4096


class _Refused(Exception):
    """The parse ended early: the reply is over a limit."""


class _BoundedUnmarshaller(xmlrpc.client.Unmarshaller):
    """xmlrpc's Unmarshaller, refusing replies over MAX_XML_DEPTH, MAX_XML_ELEMENTS or a deadline."""

    def __init__(self, deadline: float | None) -> None:
        super().__init__()
        self._depth = 0
        self._elements = 0
        self._deadline = deadline

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        self._depth += 1
        self._elements += 1
        if self._depth > MAX_XML_DEPTH:
            raise _Refused(f"nested deeper than {MAX_XML_DEPTH}")
        if self._elements % _CLOCK_EVERY == 0:
            if self._elements > MAX_XML_ELEMENTS:
                raise _Refused(f"more than {MAX_XML_ELEMENTS} elements")
            if self._deadline is not None and time.monotonic() > self._deadline:
                raise TimeoutError
        super().start(tag, attrs)

    def end(self, tag: str) -> None:
        self._depth -= 1
        super().end(tag)


def parse_reply(data: ReplyBody, where: object, *, deadline: float | None = None) -> Any:
    """The value of an XML-RPC methodResponse; faults raise ResponseError.

    Past `deadline` (time.monotonic()) the parse ends with TimeoutError.
    """
    from defusedxml import DefusedXmlException
    from defusedxml.xmlrpc import DefusedExpatParser

    unmarshaller = _BoundedUnmarshaller(deadline)
    try:
        parser = DefusedExpatParser(unmarshaller, forbid_dtd=True)
        parser.feed(data)
        parser.close()
        values = unmarshaller.close()
    except xmlrpc.client.Fault as exc:
        raise errors.ResponseError(f"{where}: {exc.faultString} (fault {exc.faultCode})") from exc
    except DefusedXmlException as exc:
        raise errors.ResponseError(f"{where}: refused XML-RPC reply: {type(exc).__name__}") from exc
    except _Refused as exc:
        raise errors.ResponseError(f"{where}: refused XML-RPC reply: {exc}") from None
    except TimeoutError:
        raise errors.TimeoutError(f"{where}: timed out while reading the reply") from None
    except Exception as exc:  # expat.ExpatError, ResponseError, ValueError, TypeError, IndexError...
        raise errors.ResponseError(f"{where}: invalid XML-RPC reply: {type(exc).__name__}: {exc}") from exc
    if len(values) != 1:
        raise errors.ResponseError(f"{where}: invalid XML-RPC reply: {len(values)} values")
    return values[0]


def _estimated_size(call: Call) -> int:
    size = 200 + len(call[0])  # struct markup: errs high, measured ~190
    for arg in call[1]:
        if isinstance(arg, xmlrpc.client.Binary):
            size += len(arg.data) * 4 // 3 + 64
        elif isinstance(arg, (bytes, str)):
            size += len(arg) * 2 + 48  # escaping may grow text
        else:
            size += 64
    return size


def chunk_groups(groups: Sequence[Sequence[Call]]) -> list[list[Sequence[Call]]]:
    """Split groups of calls into multicalls each under the request size limit.

    A group (e.g. d.open + d.start of one torrent) stays in one request, so
    its calls run in order.
    """
    chunks: list[list[Sequence[Call]]] = []
    current: list[Sequence[Call]] = []
    size = count = 0
    for group in groups:
        group_size = sum(_estimated_size(call) for call in group)
        if current and (size + group_size > MAX_REQUEST_SIZE or count + len(group) > MAX_CALLS_PER_REQUEST):
            chunks.append(current)
            current, size, count = [], 0, 0
        current.append(group)
        size += group_size
        count += len(group)
    if current:
        chunks.append(current)
    return chunks


class RtorrentTransport:
    """Sends XML-RPC calls to one rTorrent; counts the requests it sends."""

    def __init__(self, url: ClientURL, options: ConnectionOptions) -> None:
        self.url = url
        self.options = options
        #: Requests sent so far by XML-RPC method (for tests and logging).
        self.requests: collections.Counter[str] = collections.Counter()
        #: Reply body bytes received so far.
        self.bytes_received = 0
        self._http: _http.HttpClient | None = None
        if url.scheme in ("http", "https"):
            self._http = _http.HttpClient(url, options)

    # --- bytes ------------------------------------------------------------------
    def _opener(self) -> Opener:
        url = self.url
        if url.scheme == "file":

            def open_unix() -> Any:
                return asyncio.open_unix_connection(url.path, limit=MAX_REPLY_SIZE)

            return open_unix

        proxy = self.options.proxy
        if proxy is not None:

            def open_through_proxy() -> Any:
                return _proxy.open_connection(
                    proxy, url.host, url.port or 5000, timeout=self.options.timeout, limit=MAX_REPLY_SIZE
                )

            return open_through_proxy

        def open_tcp() -> Any:
            return asyncio.open_connection(url.host, url.port, limit=MAX_REPLY_SIZE)

        return open_tcp

    async def _post(self, http: _http.HttpClient, body: bytes) -> ReplyBody:
        headers = {"Content-Type": "text/xml", **_http.basic_auth_headers(self.url)}
        reply = await http.request("POST", self.url.path, what="xmlrpc", data=body, headers=headers)
        if reply.status != 200:
            raise http.status_error(reply, "XML-RPC")
        return reply.body

    async def send(self, body: bytes, method: str) -> ReplyBody:
        """One request of XML-RPC `method`, its reply body."""
        self.requests[method] += 1
        if self._http is not None:
            reply = await self._post(self._http, body)
        else:
            reply = await scgi_request(
                self._opener(),
                body,
                where=self.url,
                timeout=self.options.timeout,
                opener_keeps_time=self.options.proxy is not None,
            )
        self.bytes_received += len(reply)
        return reply

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    # --- XML-RPC ----------------------------------------------------------------
    async def call(self, method: str, *params: Any) -> Any:
        """One XML-RPC call; a fault raises ResponseError."""
        try:
            body = xmlrpc.client.dumps(tuple(params), method, allow_none=False).encode("utf-8")
        except (TypeError, OverflowError) as exc:
            raise errors.ValueError(f"{self.url}: can't encode {method} arguments: {exc}") from exc
        # The parse counts against the call's timeout too.
        deadline = time.monotonic() + self.options.timeout
        reply = await self.send(body, method)
        if len(reply) <= THREAD_PARSE_SIZE:
            return parse_reply(reply, self.url, deadline=deadline)
        return await asyncio.to_thread(parse_reply, reply, self.url, deadline=deadline)

    async def _multicall_chunk(self, calls: Sequence[Call]) -> list[Any]:
        structs = [{"methodName": method, "params": list(params)} for method, params in calls]
        reply = await self.call("system.multicall", structs)
        if not isinstance(reply, list) or len(reply) != len(calls):
            raise errors.ResponseError(f"{self.url}: invalid system.multicall reply")
        results: list[Any] = []
        for item in reply:
            if isinstance(item, list) and len(item) == 1:
                results.append(item[0])
            elif isinstance(item, dict) and "faultString" in item:
                results.append(CallFailure(int(item.get("faultCode", 0)), str(item["faultString"])))
            else:
                raise errors.ResponseError(f"{self.url}: invalid system.multicall reply item")
        return results

    async def multicall_groups(self, groups: Sequence[Sequence[Call]]) -> list[list[Any]]:
        """Results of each group of calls, in order; a failed call's result is a CallFailure.

        Sent as system.multicall requests chunked under the daemon's request
        size limit, a few in flight at once. The calls of one group go in one
        request, so they run in order.
        """
        if not groups:
            return []
        semaphore = asyncio.Semaphore(MAX_PARALLEL_REQUESTS)

        async def run(chunk: list[Sequence[Call]]) -> list[list[Any]]:
            async with semaphore:
                flat = await self._multicall_chunk([call for group in chunk for call in group])
            grouped: list[list[Any]] = []
            index = 0
            for group in chunk:
                grouped.append(flat[index : index + len(group)])
                index += len(group)
            return grouped

        results: list[list[Any]] = []
        for chunk_results in await asyncio.gather(*(run(chunk) for chunk in chunk_groups(groups))):
            results.extend(chunk_results)
        return results

    async def multicall(self, calls: Sequence[Call]) -> list[Any]:
        """Results of independent `calls`, in order; a failed call's result is a CallFailure."""
        return [group[0] for group in await self.multicall_groups([[call] for call in calls])]
