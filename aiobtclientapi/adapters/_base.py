"""What every adapter has in common: its URL, its connection and the status of it.

:class:`AdapterBase` owns connecting on demand, logging in again and the
connection status, with one rule for every client:

- every call connects first unless connected (one lock: concurrent calls
  connect once);
- before a call is sent, a connection the daemon has closed meanwhile (e.g.
  it restarted while the program's event loop was busy) is noticed and
  replaced, so the call goes out on a live one;
- a connection error that is not a timeout means disconnected: the
  connection is closed and the next call connects and logs in again;
- a call that failed so is sent once more on a new connection when it is
  idempotent (reads, start, stop, verify): it cannot do harm twice;
- a connect that fails or is cancelled at any point leaves the status
  ``disconnected`` and nothing open.

Subclasses implement :meth:`_open` (connect and log in), :meth:`_close`
(release everything, never raise) and, where the transport can tell,
:meth:`_is_open`; and route every request through :meth:`_request`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from .._log import get_logger
from ..application.ports import ClientTiming, ConnectionOptions, StatusListener
from ..domain import errors
from ..domain.status import ConnectionStatus
from ..domain.url import ClientURL

T = TypeVar("T")

#: Event loop iterations a request yields before it is sent.
_IO_ROUNDS = 3


class AdapterBase:
    """The ClientPort members that don't depend on the client."""

    #: What the client can't honour of AddOptions (e.g. ``{"verify"}``).
    add_limitations: frozenset[str] = frozenset()
    #: Bytes/s the client counts rate limits in.
    limit_unit: int = 1
    #: The client's timing quirks; see :class:`~..application.ports.ClientTiming`.
    timing: ClientTiming = ClientTiming()

    def __init__(self, url: ClientURL, options: ConnectionOptions | None = None) -> None:
        self._url = url
        self._options = options or ConnectionOptions()
        self._status = ConnectionStatus.disconnected
        self._listeners: list[StatusListener] = []
        self._connect_lock = asyncio.Lock()
        #: Connections made so far: a change feed that sees it grow knows the
        #: client may have restarted (its ids and cursors are void).
        self.connections = 0
        self._log = get_logger(client=url.client, url=str(url))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self._url)!r})"

    @property
    def url(self) -> ClientURL:
        return self._url

    @property
    def request_counts(self) -> Mapping[str, int]:
        return {}

    @property
    def bytes_received(self) -> int:
        return 0

    # --- status ----------------------------------------------------------------------
    @property
    def status(self) -> ConnectionStatus:
        return self._status

    def add_status_listener(self, listener: StatusListener) -> Callable[[], None]:
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    def _set_status(self, status: ConnectionStatus) -> None:
        if status is not self._status:
            self._status = status
            self._log.debug("status", status=status.name)
            for listener in list(self._listeners):
                listener(status)

    # --- what subclasses provide -------------------------------------------------------
    async def _open(self) -> None:
        """Connect and log in; raise an error of our hierarchy if that fails."""

    async def _close(self) -> None:
        """Release the connection and everything belonging to it; never raises."""

    def _is_open(self) -> bool:
        """Whether the connection is still usable, as far as the transport can tell."""
        return True

    # --- connection ----------------------------------------------------------------------
    def _is_connected(self) -> bool:
        return self._status is ConnectionStatus.connected and self._is_open()

    async def connect(self) -> None:
        if self._is_connected():
            return
        async with self._connect_lock:
            if self._is_connected():
                return
            if self._status is ConnectionStatus.connected:
                # The daemon closed the connection since the last call.
                await self._lost()
            self._set_status(ConnectionStatus.connecting)
            try:
                await self._open()
            except BaseException:
                # Failed or cancelled midway: nothing stays open.
                await asyncio.shield(self._close())
                self._set_status(ConnectionStatus.disconnected)
                raise
            self.connections += 1
            self._set_status(ConnectionStatus.connected)

    async def disconnect(self) -> None:
        await self._close()
        self._set_status(ConnectionStatus.disconnected)

    async def _lost(self) -> None:
        await self._close()
        self._set_status(ConnectionStatus.disconnected)

    async def _request(self, send: Callable[[], Awaitable[T]], *, idempotent: bool) -> T:
        """Run one request to the daemon under the connection rules above."""
        # Let the event loop take in what the daemon sent meanwhile (e.g. that
        # it closed the connection) before we pick the connection to send on:
        # a resumed task runs before the I/O callbacks of the same loop
        # iteration, and TLS takes one more to pass an EOF on.
        for _ in range(_IO_ROUNDS):
            await asyncio.sleep(0)
        await self.connect()
        try:
            return await send()
        except errors.TimeoutError:
            raise  # slow, not gone
        except errors.ConnectionError as exc:
            await self._lost()
            if not idempotent or isinstance(exc, errors.AuthenticationError):
                raise
            self._log.debug("sending again on a new connection", error=str(exc))
        await self.connect()
        try:
            return await send()
        except errors.TimeoutError:
            raise
        except errors.ConnectionError:
            await self._lost()
            raise
