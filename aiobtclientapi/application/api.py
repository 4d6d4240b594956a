"""APIBase: one client's operations, bound to one port."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any, ClassVar, TypeVar

import msgspec

from ..domain import errors
from ..domain.events import TorrentEvent
from ..domain.response import (
    AddResponse,
    LabelResponse,
    LimitResponse,
    MoveResponse,
    ReannounceResponse,
    RemoveResponse,
    Response,
    StartResponse,
    StopResponse,
    VerifyResponse,
)
from ..domain.session import RateLimits, Session
from ..domain.status import ConnectionStatus
from ..domain.torrent import Torrent
from ..domain.url import ClientURL, mask_password
from ._poller import PollPolicy
from ._sources import TorrentFetcher
from .ports import ClientPort, StatusListener
from .services import Interval, TorrentService, as_error

T = TypeVar("T")
#: A rate limit argument: bytes/s, ``None`` for unlimited, UNSET to leave it.
Limit = int | None | msgspec.UnsetType


async def _no_fetch(url: str) -> bytes:
    raise errors.NotImplementedError(f"{mask_password(url)}: no way to download torrents was configured")


class APIBase:
    """The operations every client offers.

    Methods that work on several torrents return a
    :class:`~aiobtclientapi.Response` and never raise. Every method connects
    first when not connected. Use as ``async with api:`` to disconnect at the
    end.
    """

    #: Client name as accepted by :func:`aiobtclientapi.api`.
    name: ClassVar[str] = ""
    #: Human-readable client name.
    label: ClassVar[str] = ""

    def __init__(
        self,
        port: ClientPort,
        *,
        fetch: TorrentFetcher = _no_fetch,
        policy: PollPolicy | None = None,
    ) -> None:
        self._port = port
        self._service = TorrentService(port, fetch, policy)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.url)!r})"

    # --- connection -----------------------------------------------------------------
    @property
    def url(self) -> ClientURL:
        """The client URL (``str()`` masks the password)."""
        return self._port.url

    @property
    def port(self) -> ClientPort:
        """The adapter behind this object: its ``request_counts``, client-specific extras."""
        return self._port

    @property
    def status(self) -> ConnectionStatus:
        """Whether the object is connecting, connected or disconnected."""
        return self._port.status

    def on_status_change(self, callback: StatusListener) -> Callable[[], None]:
        """Call `callback(status)` on every change; returns a function to unsubscribe."""
        return self._port.add_status_listener(callback)

    async def connect(self) -> None:
        """Connect and log in unless connected. Raises :class:`~aiobtclientapi.ConnectionError`."""
        await self._port.connect()

    async def disconnect(self) -> None:
        """Close the connection to the client; the next call connects again."""
        await self._port.disconnect()

    async def __aenter__(self) -> APIBase:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.disconnect()

    async def _connected_or_error(self, response: Response) -> bool:
        try:
            await self.connect()
        except Exception as exc:
            response.errors.append(as_error(exc))
            return False
        return True

    # --- operations -------------------------------------------------------------------
    async def add(
        self,
        *torrents: str | bytes,
        location: str | None = None,
        stopped: bool = False,
        verify: bool = True,
        label: str | None = None,
        content_path: str | None = None,
    ) -> AddResponse:
        """Add torrents: .torrent paths, http(s) URLs of them, magnet URIs, infohashes
        or the bytes of .torrent files.

        `location` is the download directory as the client sees it; `stopped`
        adds them without starting them; ``verify=False`` asks the client to
        skip checking existing data (a warning says where it can't). `label`
        is set as by :meth:`set_label` (an error says so where it can't be).
        `content_path`, instead of `location`: the folder that already holds
        a multi-file torrent's content under another name, or a single-file
        torrent's file under another name; the client uses it as it is,
        nothing on disk is copied or renamed.
        Response lists: ``added``, ``already_added``.
        """
        response = AddResponse()
        if not await self._connected_or_error(response):
            return response
        return await self._service.add(
            torrents, location=location, stopped=stopped, verify=verify, label=label, content_path=content_path
        )

    async def start(self, *infohashes: str) -> StartResponse:
        """Start torrents. Response lists: ``started``, ``already_started``."""
        response = StartResponse()
        if not await self._connected_or_error(response):
            return response
        return await self._service.start(infohashes)

    async def stop(self, *infohashes: str) -> StopResponse:
        """Stop torrents. Response lists: ``stopped``, ``already_stopped``."""
        response = StopResponse()
        if not await self._connected_or_error(response):
            return response
        return await self._service.stop(infohashes)

    async def verify(self, *infohashes: str) -> VerifyResponse:
        """Start verifying torrents' data. Response lists: ``verifying``, ``already_verifying``."""
        response = VerifyResponse()
        if not await self._connected_or_error(response):
            return response
        return await self._service.verify(infohashes)

    async def verify_wait(
        self, *infohashes: str, interval: Interval = (0.3, 3.0)
    ) -> AsyncIterator[tuple[str, float | errors.Error]]:
        """Yield ``(infohash, progress)`` while torrents verify.

        Progress is 0–100: the verified part while verifying, then the
        downloaded part. Every infohash is yielded at least once and its last
        value is final; errors (unknown torrent, lost connection) are yielded
        in place of progress. `interval` is (min, max) seconds between polls,
        growing from min to max, or one number.
        """
        try:
            await self.connect()
        except Exception as exc:
            error = as_error(exc)
            for infohash in infohashes:
                yield infohash, error
            return
        async for item in self._service.verify_wait(infohashes, interval):
            yield item

    async def remove(self, *infohashes: str, delete_data: bool = False) -> RemoveResponse:
        """Remove torrents; with `delete_data` their files too (just the
        torrent's own files, and the folders they leave empty).
        Response list: ``removed``."""
        response = RemoveResponse()
        if not await self._connected_or_error(response):
            return response
        return await self._service.remove(infohashes, delete_data=delete_data)

    async def move(self, *infohashes: str, location: str) -> MoveResponse:
        """Move torrents' data into `location` (an absolute folder as the
        client sees it, their new ``save_path``) and point the client at it.
        A torrent whose data can't be moved keeps it where it was.
        Response lists: ``moved``, ``already_moved``."""
        response = MoveResponse()
        if not await self._connected_or_error(response):
            return response
        return await self._service.move(infohashes, location)

    async def reannounce(self, *infohashes: str) -> ReannounceResponse:
        """Announce torrents to their trackers now. Stopped torrents don't
        announce: each is an error. Response list: ``reannounced``."""
        response = ReannounceResponse()
        if not await self._connected_or_error(response):
            return response
        return await self._service.reannounce(infohashes)

    async def set_label(self, *infohashes: str, label: str | None) -> LabelResponse:
        """Give torrents `label` (``None`` clears it): qBittorrent's category,
        Deluge's Label plugin, Transmission's first label, rTorrent's
        ``custom1`` as ruTorrent writes it. A label the client can't keep as
        it is (Deluge: only ``a-z0-9_.-``; Transmission: no comma) is an
        error. Response lists: ``labeled``, ``already_labeled``."""
        response = LabelResponse()
        if not await self._connected_or_error(response):
            return response
        return await self._service.set_label(infohashes, label)

    async def set_limits(
        self, *infohashes: str, down: Limit = msgspec.UNSET, up: Limit = msgspec.UNSET
    ) -> LimitResponse:
        """Set torrents' own rate limits in bytes/s (``None``: unlimited; a
        limit not given stays). Clients that count in KiB/s or kB/s round to
        the nearest unit (``port.limit_unit``). Response lists: ``limited``,
        ``already_limited``."""
        response = LimitResponse()
        if not await self._connected_or_error(response):
            return response
        return await self._service.set_limits(infohashes, RateLimits(down=down, up=up))

    async def get_session(self) -> Session:
        """The client's :class:`~aiobtclientapi.Session`: version, rates,
        totals, limits, free space and torrents by state. Raises like
        :meth:`get_infohashes`."""
        return await self._raising(self._service.get_session)

    async def set_session_limits(self, *, down: Limit = msgspec.UNSET, up: Limit = msgspec.UNSET) -> None:
        """Set the global rate limits in bytes/s (``None``: unlimited; a limit
        not given stays) and wait until the client reports them. Raises
        :class:`~aiobtclientapi.SessionError` if it doesn't."""
        await self._raising(lambda: self._service.set_session_limits(RateLimits(down=down, up=up)))

    async def get_torrent_file(self, infohash: str) -> bytes:
        """The torrent's .torrent file as the client keeps it.

        From the client where it hands it out (qBittorrent), else from the
        daemon's own state folder when it is readable here. Raises
        :class:`~aiobtclientapi.NoSuchTorrentError`, and
        :class:`~aiobtclientapi.NotImplementedError` saying why where the
        file can't be had.
        """
        return await self._raising(lambda: self._service.get_torrent_file(infohash))

    async def _raising(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Connect and run `operation`; nothing but our errors leaves the API."""
        try:
            await self.connect()
            return await operation()
        except errors.Error:
            raise
        except Exception as exc:
            raise as_error(exc) from exc

    async def get_infohashes(self) -> list[str]:
        """Every torrent's infohash. Raises :class:`~aiobtclientapi.ConnectionError`."""
        return await self._raising(self._service.get_infohashes)

    async def get_torrents(self, *infohashes: str, attributes: Iterable[str] | None = None) -> list[Torrent]:
        """The given torrents, or every torrent when none is given; unknown ones are absent.

        `attributes`: the :class:`~aiobtclientapi.Torrent` fields to fetch
        (names, or one comma-separated string); the others are
        ``msgspec.UNSET``. Default: every field but ``files``, ``trackers``
        and ``peers``. Raises :class:`~aiobtclientapi.ValueError` for an
        invalid infohash or unknown attribute and
        :class:`~aiobtclientapi.ConnectionError` like :meth:`get_infohashes`.
        """
        return await self._raising(lambda: self._service.get_torrents(infohashes, attributes))

    async def watch(
        self, attributes: Iterable[str] | None = None, interval: float = 2.0
    ) -> AsyncGenerator[TorrentEvent, None]:
        """Yield :class:`~aiobtclientapi.TorrentAdded`, ``TorrentRemoved`` and
        ``TorrentChanged`` events as torrents come, go and change, until the
        caller stops iterating.

        The first events are a ``TorrentAdded`` for every torrent there is.
        `attributes` as for :meth:`get_torrents` (not ``files``, ``trackers``
        or ``peers``); the client is asked every `interval` seconds in its
        cheapest way, sooner where it pushes news (Deluge). If the client
        can't be reached at first, :class:`~aiobtclientapi.ConnectionError`
        is raised; if it goes away later, it is asked again with backoff
        until it is back, and the events then say what changed meanwhile.
        The client is left alone once the iterator is closed: wrap it in
        ``contextlib.aclosing()`` to close it where you break out.
        """
        try:
            await self.connect()
            # Closing this generator closes the service's at once (not when collected).
            async with contextlib.aclosing(self._service.watch(attributes, interval)) as events:
                async for event in events:
                    yield event
        except errors.Error:
            raise
        except Exception as exc:  # nothing but our errors leaves the API
            raise as_error(exc) from exc

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Send a raw RPC call to the client and return its reply unchanged."""
        return await self._raising(lambda: self._port.call(method, *args, **kwargs))
