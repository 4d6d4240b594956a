"""Asynchronous API for the BitTorrent clients Deluge, qBittorrent, rTorrent and Transmission.

::

    api = aiobtclientapi.api("transmission", "user:pass@localhost:9091")
    async with api:
        response = await api.add("my.torrent", stopped=True)

Names are resolved lazily so ``import aiobtclientapi`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "api": "._api",
    "api_class": "._api",
    "client_names": "._registry",
    "DelugeAPI": "._api",
    "QbittorrentAPI": "._api",
    "RtorrentAPI": "._api",
    "TransmissionAPI": "._api",
    "APIBase": ".application.api",
    "PollPolicy": ".application._poller",
    "Response": ".domain.response",
    "AddResponse": ".domain.response",
    "StartResponse": ".domain.response",
    "StopResponse": ".domain.response",
    "VerifyResponse": ".domain.response",
    "RemoveResponse": ".domain.response",
    "MoveResponse": ".domain.response",
    "ReannounceResponse": ".domain.response",
    "LabelResponse": ".domain.response",
    "LimitResponse": ".domain.response",
    "TransferResponse": ".domain.response",
    "TransferProgress": ".application.transfer",
    "transfer": ".application.transfer",
    "Session": ".domain.session",
    "ConnectionStatus": ".domain.status",
    "TorrentState": ".domain.torrent",
    "Torrent": ".domain.torrent",
    "TorrentFileInfo": ".domain.torrent",
    "TrackerInfo": ".domain.torrent",
    "PeerInfo": ".domain.torrent",
    "FilePriority": ".domain.torrent",
    "TrackerStatus": ".domain.torrent",
    "ATTRIBUTES": ".domain.torrent",
    "TorrentAdded": ".domain.events",
    "TorrentRemoved": ".domain.events",
    "TorrentChanged": ".domain.events",
    "TorrentEvent": ".domain.events",
    "URL_FORMATS": "._registry",
}
_ERROR_NAMES = (
    "Error",
    "ValueError",
    "ReadError",
    "NotImplementedError",
    "ConnectionError",
    "TimeoutError",
    "AuthenticationError",
    "ResponseError",
    "NoSuchTorrentError",
    "InvalidTorrentError",
    "AddTorrentError",
    "StartResponse",
    "StartTorrentError",
    "StopResponse",
    "StopTorrentError",
    "VerifyTorrentError",
    "RemoveTorrentError",
    "MoveTorrentError",
    "ReannounceTorrentError",
    "LabelTorrentError",
    "LimitTorrentError",
    "TransferTorrentError",
    "SessionError",
    "Warning",
    "TorrentWarning",
    "TorrentAlreadyAdded",
    "TorrentAlreadyStarted",
    "TorrentAlreadyStopped",
    "TorrentAlreadyVerifying",
    "TorrentAlreadyMoved",
    "TorrentAlreadyLabeled",
    "TorrentAlreadyLimited",
    "TorrentAlreadyTransferred",
)
_EXPORTS.update(dict.fromkeys(_ERROR_NAMES, ".domain.errors"))

__all__ = [
    "ATTRIBUTES",
    "URL_FORMATS",
    "APIBase",
    "AddResponse",
    "AddTorrentError",
    "AuthenticationError",
    "ConnectionError",
    "ConnectionStatus",
    "DelugeAPI",
    "Error",
    "FilePriority",
    "InvalidTorrentError",
    "LabelResponse",
    "LabelTorrentError",
    "LimitResponse",
    "LimitTorrentError",
    "MoveResponse",
    "MoveTorrentError",
    "NoSuchTorrentError",
    "NotImplementedError",
    "PeerInfo",
    "PollPolicy",
    "QbittorrentAPI",
    "ReadError",
    "ReannounceResponse",
    "ReannounceTorrentError",
    "RemoveResponse",
    "RemoveTorrentError",
    "Response",
    "ResponseError",
    "RtorrentAPI",
    "Session",
    "SessionError",
    "StartResponse",
    "StartTorrentError",
    "StopResponse",
    "StopTorrentError",
    "TimeoutError",
    "Torrent",
    "TorrentAdded",
    "TorrentAlreadyAdded",
    "TorrentAlreadyLabeled",
    "TorrentAlreadyLimited",
    "TorrentAlreadyMoved",
    "TorrentAlreadyStarted",
    "TorrentAlreadyStopped",
    "TorrentAlreadyTransferred",
    "TorrentAlreadyVerifying",
    "TorrentChanged",
    "TorrentEvent",
    "TorrentFileInfo",
    "TorrentRemoved",
    "TorrentState",
    "TorrentWarning",
    "TrackerInfo",
    "TrackerStatus",
    "TransferProgress",
    "TransferResponse",
    "TransferTorrentError",
    "TransmissionAPI",
    "ValueError",
    "VerifyResponse",
    "VerifyTorrentError",
    "Warning",
    "api",
    "api_class",
    "client_names",
    "transfer",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)


if TYPE_CHECKING:
    from ._api import (
        DelugeAPI,
        QbittorrentAPI,
        RtorrentAPI,
        TransmissionAPI,
        api,
        api_class,
    )
    from ._registry import URL_FORMATS, client_names
    from .application._poller import PollPolicy
    from .application.api import APIBase
    from .application.transfer import TransferProgress, transfer
    from .domain.errors import (
        AddTorrentError,
        AuthenticationError,
        ConnectionError,
        Error,
        InvalidTorrentError,
        LabelTorrentError,
        LimitTorrentError,
        MoveTorrentError,
        NoSuchTorrentError,
        NotImplementedError,
        ReadError,
        ReannounceTorrentError,
        RemoveTorrentError,
        ResponseError,
        SessionError,
        StartTorrentError,
        StopTorrentError,
        TimeoutError,
        TorrentAlreadyAdded,
        TorrentAlreadyLabeled,
        TorrentAlreadyLimited,
        TorrentAlreadyMoved,
        TorrentAlreadyStarted,
        TorrentAlreadyStopped,
        TorrentAlreadyTransferred,
        TorrentAlreadyVerifying,
        TorrentWarning,
        TransferTorrentError,
        ValueError,
        VerifyTorrentError,
        Warning,
    )
    from .domain.events import TorrentAdded, TorrentChanged, TorrentEvent, TorrentRemoved
    from .domain.response import (
        AddResponse,
        LabelResponse,
        LimitResponse,
        MoveResponse,
        ReannounceResponse,
        RemoveResponse,
        Response,
        StartResponse,
        StopResponse,
        TransferResponse,
        VerifyResponse,
    )
    from .domain.session import Session
    from .domain.status import ConnectionStatus
    from .domain.torrent import (
        ATTRIBUTES,
        FilePriority,
        PeerInfo,
        Torrent,
        TorrentFileInfo,
        TorrentState,
        TrackerInfo,
        TrackerStatus,
    )
