"""What every adapter has in common: its URL and its connection status."""

from __future__ import annotations

from ..application.ports import StatusListener
from ..domain.status import ConnectionStatus
from ..domain.url import ClientURL
from ._status import StatusTracker


class AdapterBase:
    """The ClientPort members that don't depend on the client.

    Subclasses set ``self._status`` (a StatusTracker) through this
    constructor and override :attr:`add_limitations` and
    :attr:`state_latency` where the client needs it.
    """

    #: What the client can't honour of AddOptions (e.g. ``{"verify"}``).
    add_limitations: frozenset[str] = frozenset()
    #: Seconds the client may take to show a change it accepted.
    state_latency: float = 0.0

    def __init__(self, url: ClientURL) -> None:
        self._url = url
        self._status = StatusTracker()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self._url)!r})"

    @property
    def url(self) -> ClientURL:
        return self._url

    @property
    def status(self) -> ConnectionStatus:
        return self._status.status

    def set_status_listener(self, listener: StatusListener | None) -> None:
        self._status.set_listener(listener)
