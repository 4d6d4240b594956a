"""Connection status tracking shared by the adapters."""

from __future__ import annotations

from ..application.ports import StatusListener
from ..domain.status import ConnectionStatus


class StatusTracker:
    """Holds an adapter's connection status and tells the listener of changes."""

    def __init__(self) -> None:
        self._status = ConnectionStatus.disconnected
        self._listener: StatusListener | None = None

    @property
    def status(self) -> ConnectionStatus:
        return self._status

    def set_listener(self, listener: StatusListener | None) -> None:
        self._listener = listener

    def set(self, status: ConnectionStatus) -> None:
        if status is not self._status:
            self._status = status
            if self._listener is not None:
                self._listener(status)
