"""Torrent states and the per-torrent status every adapter reports."""

from __future__ import annotations

import enum

import msgspec


class TorrentState(enum.Enum):
    """What a torrent is doing, in the same words for every client."""

    downloading = "downloading"
    seeding = "seeding"
    stopped = "stopped"
    queued = "queued"
    verifying = "verifying"
    moving = "moving"
    metadata = "metadata"
    error = "error"
    unknown = "unknown"


class TorrentStatus(msgspec.Struct, frozen=True, kw_only=True):
    """The state of one torrent as the client reports it right now.

    ``stopped`` says whether the torrent will not transfer (stopped or paused).
    It is ``None`` where the client can't tell, e.g. Transmission while it
    verifies a torrent: verification says nothing about what comes after.

    ``progress`` is the downloaded fraction (0.0–1.0); ``verify_progress`` the
    verified fraction (0.0–1.0) while ``state`` is ``verifying``, else None.
    """

    infohash: str
    name: str
    state: TorrentState
    stopped: bool | None
    progress: float
    verify_progress: float | None = None
    error: str | None = None

    @property
    def is_verifying(self) -> bool:
        return self.state is TorrentState.verifying
