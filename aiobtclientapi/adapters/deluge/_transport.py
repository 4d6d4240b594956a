"""Deluge 2.x daemon RPC: one TLS connection, many calls in flight, events.

Framing (Deluge 2.0+, deluge/transfer.py): every message is
``struct.pack("!BI", 1, len(body)) + body`` with ``body =
zlib.compress(rencode.dumps(obj))``. Requests are lists of
``[request_id, method, args, kwargs]``; the daemon answers each call with
``(1, id, value)`` or ``(2, id, exc_name, exc_args, exc_kwargs, traceback)``
and pushes ``(3, event_name, event_args)`` for events we registered for.
Replies are matched to calls by id, so any number of calls share the one
connection.

Every socket, ssl, zlib and rencode failure becomes an error from our
hierarchy here, with the URL (password masked) in the message.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import ssl
import struct
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from ..._log import get_logger
from ...application.ports import ConnectionOptions
from ...domain import errors
from ...domain.url import ClientURL
from .. import _proxy, _tls
from . import _rencode

PROTOCOL_VERSION = 1
HEADER = struct.Struct("!BI")

RPC_RESPONSE = 1
RPC_ERROR = 2
RPC_EVENT = 3

#: A frame announcing more compressed bytes than this is refused before we
#: buffer it, and one inflating to more than MAX_DECOMPRESSED is refused while
#: inflating; the decoded value is bounded by _rencode's limits. Together
#: they keep the bytes one reply makes us hold under 100 MB. A listing of
#: 10,000 torrents is 2 MB of rencode compressed to 0.4 MB: the limits leave
#: room for about 130,000 torrents (_rencode.MAX_DECODED binds first).
MAX_FRAME = 16 * 1024 * 1024
MAX_DECOMPRESSED = 64 * 1024 * 1024
_INFLATE_STEP = 1024 * 1024

#: Sent by deluge-console/deluge-gtk 2.0.3 too; the daemon refuses a login
#: without it (IncompatibleClient).
CLIENT_VERSION = "2.0.3"

#: Daemon exceptions that mean the credentials were refused.
_AUTH_ERRORS = frozenset({"BadLoginError", "AuthenticationRequired", "AuthManagerError"})

EventCallback = Callable[..., Any]

#: One call of :meth:`DelugeTransport.call_many`: method, positional and keyword arguments.
Call = tuple[str, Sequence[Any], dict[str, Any]]


class DaemonError(errors.ResponseError):
    """The daemon answered a call with an exception (message type 2)."""

    def __init__(self, where: str, method: str, exc_name: str, message: str) -> None:
        super().__init__(f"{where}: {method}: {exc_name}: {message}")
        self.exc_name = exc_name
        self.message = message


def _exception_message(exc_name: str, exc_args: Any, exc_kwargs: Any) -> str:
    # DelugeError sends its constructor's arguments, not its message: rebuild
    # the message of the ones whose arguments are not the message itself.
    args = list(exc_args) if isinstance(exc_args, (list, tuple)) else []
    if isinstance(exc_kwargs, dict) and isinstance(exc_kwargs.get("message"), str):
        return str(exc_kwargs["message"])
    if exc_name == "NotAuthorizedError" and len(args) == 2:
        return f"Auth level too low: {args[0]} < {args[1]}"
    if exc_name == "WrappedException" and len(args) >= 2:
        return f"{args[1]}: {args[0]}"  # (message, original exception type, traceback)
    return str(args[0]) if args else ""


class FrameDecoder:
    """Cuts a byte stream into decoded messages.

    Handles several frames per read and frames split across reads. Raises
    ConnectionError for anything that is not Deluge 2.x framing: the stream
    can't be resynchronised after that.
    """

    def __init__(self, where: str) -> None:
        self._where = where
        self._buffer = bytearray()
        self._length: int | None = None

    def feed(self, data: bytes) -> list[Any]:
        self._buffer += data
        messages: list[Any] = []
        while True:
            if self._length is None:
                if not self._buffer:
                    break
                if self._buffer[0] != PROTOCOL_VERSION:
                    raise errors.ConnectionError(self._unsupported(self._buffer[0]))
                if len(self._buffer) < HEADER.size:
                    break
                _, length = HEADER.unpack_from(self._buffer)
                if length > MAX_FRAME:
                    raise errors.ConnectionError(
                        f"{self._where}: reply frame of {length} bytes exceeds the limit of {MAX_FRAME} bytes"
                    )
                del self._buffer[: HEADER.size]
                self._length = length
            if len(self._buffer) < self._length:
                break
            messages.append(self._decode(self._length))
            del self._buffer[: self._length]
            self._length = None
        return messages

    def _decode(self, length: int) -> Any:
        raw = bytearray()
        try:
            self._inflate(length, raw)
            return _rencode.loads(raw)
        except _rencode.RencodeError as exc:
            raise errors.ConnectionError(f"{self._where}: undecodable reply: rencode: {exc}") from exc
        finally:
            # The error's traceback keeps this frame alive, and with it the
            # buffer, while the call is resent on a new connection.
            raw.clear()

    def _inflate(self, length: int, raw: bytearray) -> None:
        """Inflate the frame's first `length` bytes into `raw`, a step at a time.

        In one call zlib builds the output in pieces and then joins them:
        twice the size at the peak.
        """
        inflater = zlib.decompressobj()
        with memoryview(self._buffer) as view:
            pending: bytes | memoryview = view[:length]
            try:
                while not inflater.eof and len(raw) <= MAX_DECOMPRESSED:
                    step = inflater.decompress(pending, _INFLATE_STEP)
                    pending = inflater.unconsumed_tail
                    if not step and not pending:
                        break  # all input read, the stream unfinished
                    raw += step
            except zlib.error as exc:
                raise errors.ConnectionError(f"{self._where}: undecodable reply: zlib: {exc}") from exc
            finally:
                del pending  # the view can't be released while a slice of it lives
        if len(raw) > MAX_DECOMPRESSED:
            raise errors.ConnectionError(f"{self._where}: reply inflates to more than {MAX_DECOMPRESSED} bytes")
        if not inflater.eof:
            raise errors.ConnectionError(f"{self._where}: undecodable reply: truncated zlib stream")

    def _unsupported(self, first: int) -> str:
        if first == 0x78:  # zlib header without our framing: Deluge 1.x
            return (
                f"{self._where}: unsupported protocol: the daemon speaks Deluge 1.x's protocol; "
                "only Deluge 2.x is supported"
            )
        return f"{self._where}: unsupported protocol: not a Deluge 2.x daemon (protocol version byte {first})"


def encode_frame(obj: Any) -> bytes:
    import rencode

    body = zlib.compress(rencode.dumps(obj))
    return HEADER.pack(PROTOCOL_VERSION, len(body)) + body


class DelugeTransport:
    """One TLS connection to a Deluge daemon carrying many concurrent calls.

    ``open()`` connects, ``login()`` authenticates, ``connect()`` does both
    and registers the event interests of :meth:`subscribe`. After the
    connection breaks every pending call fails with ConnectionError and
    `on_lost` is called; ``connect()`` may then be called again.
    """

    def __init__(
        self,
        url: ClientURL,
        options: ConnectionOptions,
        *,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self.url = url
        self.options = options
        self._where = str(url)
        self._on_lost = on_lost
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._subscribers: dict[str, list[EventCallback]] = {}
        self._write_lock = asyncio.Lock()
        #: How many connections were opened (each reconnect opens one).
        self.connections_opened = 0
        #: Calls sent so far, by RPC method (for tests and logging).
        self.requests: collections.Counter[str] = collections.Counter()
        #: Bytes received and sent so far, framing included (what a poll costs).
        self.bytes_received = 0
        self.bytes_sent = 0
        #: Frames written so far: one per call, one per :meth:`call_many` batch.
        self.messages_sent = 0
        self._log = get_logger(client="deluge", url=self._where)

    @property
    def is_open(self) -> bool:
        """Whether the connection is up, as far as the bytes received so far tell."""
        reader, task = self._reader, self._read_task
        return reader is not None and not reader.at_eof() and task is not None and not task.done()

    # --- connection ---------------------------------------------------------------
    async def open(self) -> None:
        """Open the TLS connection (without logging in)."""
        await self.close()
        # The daemon's certificate is self-signed and names no host: it is
        # checked only against a CA file or a pinned fingerprint, and a CA
        # file verifies the chain only.
        context = _tls.client_context(self.options, verify_by_default=False, check_hostname=False)
        host, port = self.url.host, self.url.port or 58846
        proxy = self.options.proxy
        try:
            if proxy is not None:  # keeps the timeout itself: the proxy's part names the proxy
                opening = _proxy.open_connection(
                    proxy, host, port, timeout=self.options.timeout, limit=2**20, tls=context
                )
            else:
                opening = asyncio.wait_for(
                    asyncio.open_connection(host, port, ssl=context, limit=2**20), self.options.timeout
                )
            reader, writer = await opening
        except errors.Error:
            raise  # the proxy's failure, naming it
        except TimeoutError as exc:
            raise errors.TimeoutError(f"{self._where}: timed out connecting") from exc
        except ssl.SSLCertVerificationError as exc:
            raise errors.ConnectionError(
                f"{self._where}: certificate verification failed: {exc.verify_message}"
            ) from exc
        except ssl.SSLError as exc:
            raise errors.ConnectionError(f"{self._where}: TLS error: {exc.reason or exc}") from exc
        except OSError as exc:
            raise errors.ConnectionError(f"{self._where}: {exc.strerror or exc}") from exc
        ssl_object = writer.get_extra_info("ssl_object")
        try:
            _tls.check_pin(ssl_object.getpeercert(binary_form=True) if ssl_object else None, self.options, self.url)
        except errors.Error:
            writer.close()
            raise
        self._reader, self._writer = reader, writer
        self.connections_opened += 1
        self._log.debug("connected")
        self._read_task = asyncio.get_running_loop().create_task(self._read_loop(reader))

    async def login(self) -> None:
        """Log in with the URL's credentials; AuthenticationError if refused."""
        try:
            level = await self.call(
                "daemon.login",
                self.url.username or "",
                self.url.password or "",
                client_version=CLIENT_VERSION,
            )
        except DaemonError as exc:
            if exc.exc_name in _AUTH_ERRORS:
                raise errors.AuthenticationError(f"{self._where}: authentication failed: {exc.message}") from exc
            raise
        except errors.TimeoutError as exc:
            # A Deluge 2.x daemon always answers daemon.login; Deluge 1.x
            # buffers our frames forever without answering.
            raise errors.TimeoutError(
                f"{self._where}: no reply to login within {self.options.timeout}s (not a Deluge 2.x daemon?)"
            ) from exc
        if not level:  # auth level 0: the daemon hangs up on us
            raise errors.AuthenticationError(f"{self._where}: authentication failed: account has no access")
        self._log.debug("logged in", auth_level=level)

    async def connect(self) -> None:
        """Open, log in and register our event interests."""
        await self.open()
        try:
            await self.login()
            if self._subscribers:
                await self.call("daemon.set_event_interest", sorted(self._subscribers))
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Close the connection; pending calls fail with ConnectionError."""
        task, writer = self._read_task, self._writer
        self._read_task = self._writer = self._reader = None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
        self._fail_pending(errors.ConnectionError(f"{self._where}: connection closed"))

    def _fail_pending(self, error: errors.Error) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)

    # --- reading ------------------------------------------------------------------
    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        decoder = FrameDecoder(self._where)
        error: errors.Error
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    error = errors.ConnectionError(f"{self._where}: connection closed by the daemon")
                    break
                self.bytes_received += len(data)
                for message in decoder.feed(data):
                    self._dispatch(message)
        except errors.Error as exc:
            error = exc
        except (OSError, ssl.SSLError) as exc:
            error = errors.ConnectionError(f"{self._where}: connection lost: {type(exc).__name__}: {exc}")
            error.__cause__ = exc
        except Exception as exc:  # a reply shaped so oddly that dispatching it failed
            error = errors.ConnectionError(f"{self._where}: malformed reply: {type(exc).__name__}: {exc}")
            error.__cause__ = exc
        # Only reached when the connection broke, not when close() cancelled us.
        self._log.debug("connection lost", error=str(error))
        writer = self._writer
        self._read_task = self._writer = self._reader = None
        if writer is not None:
            writer.close()
        self._fail_pending(error)
        if self._on_lost is not None:
            self._on_lost()

    def _dispatch(self, message: Any) -> None:
        if not isinstance(message, (list, tuple)) or not message:
            raise errors.ConnectionError(f"{self._where}: malformed message: {type(message).__name__}")
        kind = message[0]
        if kind == RPC_RESPONSE and len(message) == 3:
            future = self._pending.pop(message[1], None)
            if future is not None and not future.done():
                future.set_result(message[2])
        elif kind == RPC_ERROR and len(message) >= 3:
            future = self._pending.pop(message[1], None)
            if future is not None and not future.done():
                exc_name = str(message[2])
                exc_args = message[3] if len(message) > 3 else ()
                exc_kwargs = message[4] if len(message) > 4 else {}
                future.set_exception(_PendingError(exc_name, _exception_message(exc_name, exc_args, exc_kwargs)))
        elif kind == RPC_EVENT and len(message) >= 2:
            self._emit(str(message[1]), message[2] if len(message) > 2 else ())
        else:
            raise errors.ConnectionError(f"{self._where}: malformed message of type {kind!r}")

    def _emit(self, name: str, args: Any) -> None:
        for callback in list(self._subscribers.get(name, ())):
            try:
                callback(*(args if isinstance(args, (list, tuple)) else (args,)))
            except Exception:
                self._log.exception("event callback failed", event_name=name)

    # --- calls --------------------------------------------------------------------
    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Send one call and wait (at most options.timeout) for its reply."""
        [reply] = await self.call_many([(method, args, kwargs)])
        if isinstance(reply, DaemonError):
            raise reply
        return reply

    async def call_many(self, calls: Sequence[Call]) -> list[Any]:
        """Send `calls` in one frame and wait (at most options.timeout) for every reply.

        The daemon takes a list of requests per message (deluge/core/rpcserver.py
        message_received) and answers each on its own: one round trip for any
        number of calls. It may run them in any order: calls that depend on each
        other go in separate batches. Returns, in the order of `calls`, each
        reply or the DaemonError it raised; a failure of the whole (connection,
        timeout) raises.
        """
        writer = self._writer
        if writer is None or not self.is_open:
            raise errors.ConnectionError(f"{self._where}: not connected")
        if not calls:
            return []
        loop = asyncio.get_running_loop()
        requests: list[list[Any]] = []
        futures: list[asyncio.Future[Any]] = []
        for method, args, kwargs in calls:
            request_id = next(self._ids)
            future: asyncio.Future[Any] = loop.create_future()
            self._pending[request_id] = future
            requests.append([request_id, method, list(args), kwargs])
            futures.append(future)
        ids = [request[0] for request in requests]
        methods = sorted({method for method, _, _ in calls})
        where = f"{self._where}: {', '.join(methods)}"
        try:
            try:
                frame = encode_frame(requests)
            except Exception as exc:  # rencode refuses types it can't encode
                raise errors.ValueError(f"{where}: can't encode arguments: {exc}") from exc
            for method, _, _ in calls:
                self.requests[method] += 1
            try:
                async with self._write_lock:
                    writer.write(frame)
                    self.bytes_sent += len(frame)
                    self.messages_sent += 1
                    await writer.drain()
            except (OSError, ssl.SSLError) as exc:
                raise errors.ConnectionError(f"{where}: sending failed: {exc}") from exc
            try:
                done = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), self.options.timeout)
            except TimeoutError as exc:
                raise errors.TimeoutError(f"{where}: no reply within {self.options.timeout}s") from exc
        finally:
            for request_id in ids:
                self._pending.pop(request_id, None)
        results: list[Any] = []
        for (method, _, _), result in zip(calls, done, strict=True):
            if isinstance(result, _PendingError):
                results.append(DaemonError(self._where, method, result.exc_name, result.message))
            elif isinstance(result, BaseException):
                raise result  # the connection broke: every call failed alike
            else:
                results.append(result)
        return results

    # --- events -------------------------------------------------------------------
    def subscribe(self, event_name: str, callback: EventCallback) -> Callable[[], None]:
        """Call `callback(*event_args)` for every `event_name` event.

        The daemon only sends events after ``daemon.set_event_interest``:
        :meth:`connect` registers every subscribed name; a caller subscribing
        on an open connection registers it with :meth:`register_events`.
        Returns a function that unsubscribes.
        """
        self._subscribers.setdefault(event_name, []).append(callback)

        def unsubscribe() -> None:
            callbacks = self._subscribers.get(event_name, [])
            if callback in callbacks:
                callbacks.remove(callback)

        return unsubscribe

    async def register_events(self) -> None:
        """Tell the daemon every event name we have subscribers for."""
        if self._subscribers:
            await self.call("daemon.set_event_interest", sorted(self._subscribers))


class _PendingError(Exception):
    """A daemon error carried from the reader to the waiting call (which adds the method)."""

    def __init__(self, exc_name: str, message: str) -> None:
        super().__init__(exc_name, message)
        self.exc_name = exc_name
        self.message = message
