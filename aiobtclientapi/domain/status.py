"""Connection status of an API object."""

from __future__ import annotations

import enum


class ConnectionStatus(enum.Enum):
    """Whether an API object is connected to its client."""

    connecting = "connecting"
    connected = "connected"
    disconnected = "disconnected"
