"""The port every client adapter implements.

The primitives are batch-shaped: each takes all torrents of one operation and
costs a number of round trips to the client that does not grow with the
number of torrents. They know nothing of Responses: the services decide what
to ask and confirm the effect with :meth:`ClientPort.snapshot`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import msgspec

from ..domain.source import TorrentSource
from ..domain.status import ConnectionStatus
from ..domain.torrent import TorrentStatus
from ..domain.url import ClientURL

StatusListener = Callable[[ConnectionStatus], None]


class ConnectionOptions(msgspec.Struct, frozen=True, kw_only=True):
    """How an adapter connects.

    ``timeout``: seconds for connecting and for each request.
    ``tls_verify``: check the server's certificate (HTTPS). Deluge's daemon
    uses a self-signed certificate, so it is not checked there unless
    ``tls_ca_file`` or ``tls_fingerprint`` is given.
    ``tls_ca_file``: a PEM file of CA certificates to trust.
    ``tls_fingerprint``: SHA-256 of the server's certificate (hex, colons
    allowed) to pin it instead.
    """

    timeout: float = 10.0
    tls_verify: bool = True
    tls_ca_file: str | None = None
    tls_fingerprint: str | None = None


class AddOptions(msgspec.Struct, frozen=True, kw_only=True):
    """What :meth:`ClientPort.add` is asked to do with every source."""

    location: str | None = None
    stopped: bool = False
    verify: bool = True


class AddOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What became of one source passed to :meth:`ClientPort.add`.

    ``status`` is ``"added"``, ``"already_added"`` or ``"failed"``.
    ``infohash`` is the client's infohash where it told us one, else the
    source's. ``error`` is the client's message for a failure.
    """

    source: TorrentSource
    status: str
    infohash: str
    error: str | None = None


class ClientPort(Protocol):
    """What the services need from a client. Adapters fit it structurally."""

    #: What the adapter can't honour of :class:`AddOptions` — e.g. ``verify=False``.
    #: Services turn each into a warning.
    add_limitations: frozenset[str]

    #: Seconds the client may take to show a change it accepted (e.g. a
    #: recheck): its states are refreshed periodically or its events lag.
    #: Services count a torrent as verifying for that long after asking.
    state_latency: float

    @property
    def url(self) -> ClientURL: ...

    @property
    def status(self) -> ConnectionStatus: ...

    def set_status_listener(self, listener: StatusListener | None) -> None:
        """Call `listener` with every change of :attr:`status`."""

    async def connect(self) -> None:
        """Connect and log in. Raises :class:`~errors.ConnectionError`."""

    async def disconnect(self) -> None:
        """Close the connection; safe to call when not connected."""

    async def snapshot(self, infohashes: Sequence[str]) -> Mapping[str, TorrentStatus]:
        """The status of every given torrent the client knows, by infohash.

        Unknown infohashes are absent. One round trip for any number.
        """

    async def list_infohashes(self) -> list[str]:
        """Every torrent's infohash, lower-case hex."""

    async def add(self, sources: Sequence[TorrentSource], options: AddOptions) -> list[AddOutcome]:
        """Add every source; one outcome per source, in order."""

    async def start(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        """Ask the client to start these torrents; failures by infohash."""

    async def stop(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        """Ask the client to stop these torrents; failures by infohash."""

    async def verify(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        """Ask the client to verify these torrents; failures by infohash."""

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Send one raw RPC call and return the client's reply as it is."""
