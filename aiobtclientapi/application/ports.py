"""The port every client adapter implements.

The primitives are batch-shaped: each takes all torrents of one operation and
costs a number of round trips to the client that does not grow with the
number of torrents. They send and report what the daemon said; they never
check beforehand whether a torrent exists and never wait for an effect to
show. The services decide what to ask and confirm the effect with
:meth:`ClientPort.snapshot`, reading the client's timing quirks from
:attr:`ClientPort.timing`.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import msgspec

from ..domain import errors
from ..domain.session import RateLimits, Session
from ..domain.source import TorrentSource
from ..domain.status import ConnectionStatus
from ..domain.torrent import Torrent, TorrentStatus
from ..domain.url import ClientURL

#: Called with every new connection status; what it returns is ignored.
StatusListener = Callable[[ConnectionStatus], object]


class ConnectionOptions(msgspec.Struct, frozen=True, kw_only=True):
    """How an adapter connects.

    ``timeout``: seconds for connecting and for each request.
    ``tls_verify``: check the server's certificate (HTTPS). Deluge's daemon
    uses a self-signed certificate, so it is not checked there unless
    ``tls_ca_file`` or ``tls_fingerprint`` is given.
    ``tls_ca_file``: a PEM file of CA certificates to trust.
    ``tls_fingerprint``: SHA-256 of the server's certificate (hex, colons
    allowed) to pin it instead.
    ``proxy``: the SOCKS5, SOCKS4 or HTTP CONNECT proxy every connection to
    the client goes through (``client`` is ``"proxy"``); None: direct.
    """

    timeout: float = 10.0
    tls_verify: bool = True
    tls_ca_file: str | None = None
    tls_fingerprint: str | None = None
    proxy: ClientURL | None = None


class AddOptions(msgspec.Struct, frozen=True, kw_only=True):
    """What :meth:`ClientPort.add` is asked to do with every source.

    ``location``: the download directory. A multi-file torrent's folder is
    created inside it, whatever the daemon's own layout preferences.
    ``content_path``: instead of `location`, the folder (multi-file) or file
    (single-file) that holds every source's content as it is, whatever its
    name: the client uses it without copying or renaming anything on disk,
    and reports it as the torrent's ``content_path``. An absolute path with
    no trailing slash.
    """

    location: str | None = None
    content_path: str | None = None
    stopped: bool = False
    verify: bool = True


class AddStatus(enum.Enum):
    """What the daemon said to one source of :meth:`ClientPort.add`."""

    #: Accepted; the services wait for it to show.
    added = "added"
    #: The daemon has this torrent already.
    already_added = "already_added"
    #: The daemon refused it; ``AddOutcome.message`` says why in its words.
    refused = "refused"
    #: The request failed (``AddOutcome.error``): it may or may not have
    #: reached the daemon, so the services look whether the torrent is there.
    failed = "failed"


class AddOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What became of one source passed to :meth:`ClientPort.add`.

    ``infohash`` is the client's infohash where it told us one, else the
    source's. ``warning``: what the adapter could not do as asked for this
    source without failing it, in a few words (e.g. why verify=False can't be
    honoured for it); the services add it to the Response's warnings.
    """

    source: TorrentSource
    status: AddStatus
    infohash: str
    message: str | None = None
    error: errors.Error | None = None
    warning: str | None = None


class ClientTiming(msgspec.Struct, frozen=True, kw_only=True):
    """How late a client shows what it was asked to do: facts the services read.

    ``state_latency``: seconds the client may take to show a change it
    accepted (its states are refreshed periodically or its events lag): the
    services count a torrent asked to verify as verifying for that long.
    ``appear_within``: seconds a torrent the client accepted may take to
    show in its listing (it loads torrents asynchronously); after that it
    was not added. ``None``: the services' own deadline.
    ``started_shows_stopped``: seconds a torrent added started may read
    stopped (the client adds it paused and resumes it afterwards); after
    that the client's word stands.
    ``refused_may_show_within``: seconds within which a torrent the client
    refused may still show, added by a concurrent request (a client that
    refuses a duplicate it is still loading without saying so).
    ``check_keeps_request``: a torrent waiting for or in a hash check when
    the client accepts an add (stopped), start or stop runs or stays stopped
    as asked once the check ends: shown checking after such a request, it has
    taken it. Otherwise the services wait ``PollPolicy.ambiguous_grace``
    before they take a check for an answer.
    ``resend_after``: seconds after which a request a torrent doesn't show
    yet is sent again, where the client is known to skip some (Deluge's
    pause skips torrents its queue starts meanwhile). ``None``:
    ``PollPolicy.resend_after``, for a request the client may have dropped.
    ``refresh_interval``: seconds between the client's refreshes of the
    states it reports, where it refreshes them on a timer (qBittorrent): a
    change shows at the first refresh after it, at a moment the services
    can't know, so the services poll for it at an even pace
    (``PollPolicy.refresh_polls`` per interval). ``0``: no such timer.
    """

    state_latency: float = 0.0
    appear_within: float | None = None
    started_shows_stopped: float = 0.0
    refused_may_show_within: float = 0.0
    move_shows_within: float | None = 2.0
    check_keeps_request: bool = False
    resend_after: float | None = None
    refresh_interval: float = 0.0


class TorrentChanges(msgspec.Struct, frozen=True, kw_only=True):
    """What a :class:`ChangeFeed` learnt in one poll.

    ``changed``: torrents that are new or may have changed since the last
    poll, each with every attribute the feed was asked for (a client may
    repeat unchanged ones: the services compare). ``removed``: infohashes the
    client said are gone. ``present``: every infohash the client has now, when
    the reply tells; those the services knew and that are missing from it
    are gone too. ``None``: the reply doesn't tell.

    ``resumed``: this poll lists everything again after a break in what the
    feed followed (a new connection, a new daemon session or login, a cursor
    the client no longer knows): the client may have restarted and not have
    loaded all its torrents yet, so those missing from ``present`` are not
    known to be gone.
    """

    changed: list[Torrent]
    removed: list[str] = []
    present: frozenset[str] | None = None
    resumed: bool = False


class ChangeFeed(Protocol):
    """A client's cheapest way to learn what changed, one poll at a time.

    The first poll after the feed is made, and the first after the
    connection was lost, report every torrent (``present`` set); every such
    poll but the first is ``resumed``, however the feed noticed the break
    (a failed poll, a new connection, a daemon that no longer knows the
    feed's session or cursor). A poll raises
    :class:`~errors.ConnectionError` when the client can't be reached; the
    next one connects again.
    """

    #: Set when the client pushed news (e.g. Deluge's events): the services
    #: poll then instead of waiting the rest of the interval. ``None``: the
    #: client pushes nothing.
    news: asyncio.Event | None

    async def poll(self) -> TorrentChanges: ...

    async def close(self) -> None:
        """Release what the feed holds on the client (subscriptions); never raises."""


class ClientPort(Protocol):
    """What the services need from a client. Adapters fit it structurally."""

    #: What the adapter can't honour of :class:`AddOptions` — e.g. ``verify=False``.
    #: Services turn each into a warning.
    add_limitations: frozenset[str]

    #: Bytes/s the client counts rate limits in (1024 for KiB/s): a limit
    #: reads back rounded to a multiple of it, at least one.
    limit_unit: int

    @property
    def timing(self) -> ClientTiming:
        """The client's timing quirks (may change when it connects)."""

    @property
    def url(self) -> ClientURL: ...

    @property
    def request_counts(self) -> Mapping[str, int]:
        """Requests sent to the client so far, by its name for them (RPC method, Web API path)."""

    @property
    def bytes_received(self) -> int:
        """Bytes of the client's replies received so far (bodies, as decompressed for HTTP)."""

    @property
    def status(self) -> ConnectionStatus: ...

    def add_status_listener(self, listener: StatusListener) -> Callable[[], None]:
        """Call `listener` with every change of :attr:`status`; returns a function that removes it."""

    async def connect(self) -> None:
        """Connect and log in unless connected. Raises :class:`~errors.ConnectionError`."""

    async def disconnect(self) -> None:
        """Close the connection; safe to call when not connected."""

    async def snapshot(self, infohashes: Sequence[str]) -> Mapping[str, TorrentStatus]:
        """The status of every given torrent the client knows, by infohash.

        Unknown infohashes are absent. One round trip for any number.
        """

    async def list_infohashes(self) -> list[str]:
        """Every torrent's infohash, lower-case hex."""

    async def torrents(self, infohashes: Sequence[str] | None, attributes: frozenset[str]) -> list[Torrent]:
        """The given torrents the client knows (every torrent for None), each
        with just `attributes` set (known names of :class:`Torrent`). One
        request for any number where the protocol allows it."""

    def change_feed(self, attributes: frozenset[str]) -> ChangeFeed:
        """A new feed of changes to `attributes` (scalar attributes only)."""

    async def add(self, sources: Sequence[TorrentSource], options: AddOptions) -> list[AddOutcome]:
        """Add every source; one outcome per source, in order. Raises nothing but cancellation."""

    async def start(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        """Ask the client to start these torrents; failures by infohash."""

    async def stop(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        """Ask the client to stop these torrents; failures by infohash."""

    async def verify(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        """Ask the client to verify these torrents; failures by infohash."""

    async def remove(self, infohashes: Sequence[str], delete_data: bool) -> Mapping[str, str]:
        """Remove these torrents, with their data on disk if `delete_data`
        (just the torrent's own files and the folders they leave empty);
        failures by infohash."""

    async def move(self, infohashes: Sequence[str], location: str) -> Mapping[str, str]:
        """Move these torrents' data into `location` (an absolute folder,
        their new ``save_path``) and point the client at it; failures by
        infohash. The client may go on moving after this returns."""

    async def reannounce(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        """Ask the client to announce these torrents to their trackers now; failures by infohash."""

    async def set_label(self, infohashes: Sequence[str], label: str | None) -> Mapping[str, str]:
        """Give these torrents `label` (``None``: none); failures by infohash,
        e.g. a label the client can't store as it is."""

    async def set_limits(self, infohashes: Sequence[str], limits: RateLimits) -> Mapping[str, str]:
        """Set these torrents' own rate limits (the UNSET ones stay); failures by infohash."""

    async def session(self) -> Session:
        """The client's session; ``torrents`` is left empty (the services count them)."""

    async def set_session_limits(self, limits: RateLimits) -> None:
        """Set the global rate limits (the UNSET ones stay). Raises :class:`~errors.SessionError`."""

    async def torrent_file(self, infohash: str) -> bytes:
        """The .torrent file of a torrent the client has, as the client keeps it.

        Raises :class:`~errors.NoSuchTorrentError`, or
        :class:`~errors.NotImplementedError` saying why the client can't hand it out.
        """

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Send one raw RPC call and return the client's reply as it is."""
