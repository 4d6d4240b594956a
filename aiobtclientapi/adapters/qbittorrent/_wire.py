"""qBittorrent Web API v2 reply shapes, version-dependent names and the state table."""

from __future__ import annotations

import msgspec

from ...domain.torrent import TorrentState, TorrentStatus


class TorrentRow(msgspec.Struct):
    """One row of ``torrents/info`` (only the fields we read)."""

    hash: str
    name: str = ""
    state: str = "unknown"
    progress: float = 0.0
    # 4.4+ (WebAPI 2.8.4): both hashes of hybrid torrents; "" where absent.
    infohash_v1: str = ""
    infohash_v2: str = ""


decode_rows = msgspec.json.Decoder(list[TorrentRow]).decode


class Preferences(msgspec.Struct):
    """``app/preferences`` (only the fields we read)."""

    #: Milliseconds between the daemon's refreshes of the torrent states it reports.
    refresh_interval: int = 1500


decode_preferences = msgspec.json.Decoder(Preferences).decode


class WebApiNames(msgspec.Struct, frozen=True, kw_only=True):
    """Names that changed between WebAPI versions."""

    start: str
    stop: str
    #: The torrents/add form field that adds torrents without starting them.
    add_stopped: str
    #: The torrents/add form field and value that keep a multi-file torrent's
    #: own folder, whatever the daemon's default content layout.
    add_layout: tuple[str, str]


# 5.0 (WebAPI 2.11) renamed pause/resume; the old endpoints answer 404 and
# `paused` is ignored on add. 4.3.2 (WebAPI 2.7) replaced root_folder with
# contentLayout ("Original": the torrent's own layout).
_PAUSE = {"start": "torrents/resume", "stop": "torrents/pause", "add_stopped": "paused"}
_STOP = {"start": "torrents/start", "stop": "torrents/stop", "add_stopped": "stopped"}
_ROOT_FOLDER = ("root_folder", "true")
_CONTENT_LAYOUT = ("contentLayout", "Original")


def parse_webapi_version(text: str) -> tuple[int, ...]:
    """Parse "2.8.19" into (2, 8, 19). Raises ValueError (the built-in) if it isn't one."""
    parts = tuple(int(part) for part in text.strip().split("."))
    if not parts:
        raise ValueError(text)
    return parts


def webapi_names(version: tuple[int, ...]) -> WebApiNames:
    """The endpoint and field names to use with a daemon speaking WebAPI `version`."""
    return WebApiNames(
        **(_STOP if version >= (2, 11) else _PAUSE),
        add_layout=_CONTENT_LAYOUT if version >= (2, 7) else _ROOT_FOLDER,
    )


# state → (domain state, stopped). Both spellings: 4.x paused*, 5.x stopped*.
# Checking says nothing about what follows (4.5.2 checks a paused torrent it was
# asked to recheck and pauses it again afterwards): stopped is None there.
# error/missingFiles: libtorrent stops a torrent with a file error until resumed.
# moving happens to running and paused torrents alike.
_STATES: dict[str, tuple[TorrentState, bool | None]] = {
    "error": (TorrentState.error, True),
    "missingFiles": (TorrentState.error, True),
    "uploading": (TorrentState.seeding, False),
    "stalledUP": (TorrentState.seeding, False),
    "forcedUP": (TorrentState.seeding, False),
    "queuedUP": (TorrentState.queued, False),
    "pausedUP": (TorrentState.stopped, True),
    "stoppedUP": (TorrentState.stopped, True),
    "checkingUP": (TorrentState.verifying, None),
    "downloading": (TorrentState.downloading, False),
    "stalledDL": (TorrentState.downloading, False),
    "forcedDL": (TorrentState.downloading, False),
    "metaDL": (TorrentState.metadata, False),
    "forcedMetaDL": (TorrentState.metadata, False),
    "queuedDL": (TorrentState.queued, False),
    "pausedDL": (TorrentState.stopped, True),
    "stoppedDL": (TorrentState.stopped, True),
    "checkingDL": (TorrentState.verifying, None),
    "checkingResumeData": (TorrentState.verifying, None),
    "moving": (TorrentState.moving, None),
    "unknown": (TorrentState.unknown, None),
}


def to_status(row: TorrentRow, infohash: str) -> TorrentStatus:
    """A ``torrents/info`` row as the domain status of `infohash`."""
    state, stopped = _STATES.get(row.state, (TorrentState.unknown, None))
    progress = min(max(row.progress, 0.0), 1.0)
    verifying = state is TorrentState.verifying
    return TorrentStatus(
        infohash=infohash,
        name=row.name,
        state=state,
        stopped=stopped,
        # While checking, qBittorrent's progress is the checked fraction.
        progress=progress,
        verify_progress=progress if verifying else None,
        error=row.state if state is TorrentState.error else None,
    )
