"""qBittorrent Web API v2 reply shapes, version-dependent names and the state table."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec

from ...domain.session import Session
from ...domain.torrent import (
    FilePriority,
    PeerInfo,
    Torrent,
    TorrentFileInfo,
    TorrentState,
    TorrentStatus,
    TrackerInfo,
    TrackerStatus,
    timestamp,
)


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
    #: ... and those that put its files straight into the save path.
    add_layout_flat: tuple[str, str]
    #: The torrents/add form field that skips the hash check.
    add_skip_check: str


# 5.0 (WebAPI 2.11) renamed pause/resume; the old endpoints answer 404 and
# `paused` is ignored on add. 4.3.2 (WebAPI 2.7) replaced root_folder with
# contentLayout ("Original": the torrent's own layout).
_PAUSE = {"start": "torrents/resume", "stop": "torrents/pause", "add_stopped": "paused"}
_STOP = {"start": "torrents/start", "stop": "torrents/stop", "add_stopped": "stopped"}
_ROOT_FOLDER = ("root_folder", "true")
_CONTENT_LAYOUT = ("contentLayout", "Original")
_NO_ROOT_FOLDER = ("root_folder", "false")
_NO_SUBFOLDER = ("contentLayout", "NoSubfolder")
#: WebAPI 2.16.0 replaced skip_checking with seedMode (and refuses skip_checking).
SEED_MODE = (2, 16)


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
        add_layout_flat=_NO_SUBFOLDER if version >= (2, 7) else _NO_ROOT_FOLDER,
        add_skip_check="seedMode" if version >= SEED_MODE else "skip_checking",
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
    # Loading the torrent's resume data, not hashing its pieces: not "verifying".
    # A recheck asked meanwhile of a started torrent leaves 4.5.2 at checkingDL
    # 0 % for good (measured): the status says "loading" so it isn't asked.
    "checkingResumeData": (TorrentState.queued, None),
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
        loading=row.state == "checkingResumeData",
    )


# --- listing: torrents/info, sync/maindata and the per-torrent calls ----------------------------
#: qBittorrent's "infinite" ETA (100 days), its MAX_ETA.
MAX_ETA = 8640000
#: qBittorrent caps ratios at this (its MAX_RATIO), e.g. uploaded with nothing downloaded.
MAX_RATIO = 9999.0


class FileRow(msgspec.Struct):
    """One file of ``torrents/files`` (or of ``torrents/info`` ``includeFiles``, 2.11.8+)."""

    #: "/"-separated, starting with the torrent's top folder if it has one.
    name: str
    size: int = 0
    progress: float = 0.0
    #: 0 don't download, 1 normal, 6 high, 7 maximal.
    priority: int = 1


class TrackerRow(msgspec.Struct):
    """One tracker of ``torrents/trackers`` (or of ``torrents/info`` ``includeTrackers``, 2.11.4+)."""

    url: str
    #: Old versions sent "" for the pseudo rows.
    tier: int | str = 0
    #: 0 disabled, 1 not contacted, 2 working, 3 updating, 4 not working; 5 tracker error, 6 unreachable (2.13.0+).
    status: int = -1
    msg: str = ""
    num_seeds: int = -1
    num_leeches: int = -1
    #: 2.13.0+: an announce is under way (status keeps its last value).
    updating: bool = False


class PeerRow(msgspec.Struct):
    """One peer of ``sync/torrentPeers``."""

    ip: str = ""
    port: int = 0
    client: str = ""
    progress: float = 0.0
    dl_speed: int = 0
    up_speed: int = 0


class PeersReply(msgspec.Struct):
    peers: dict[str, PeerRow] = {}


class PropertiesReply(msgspec.Struct):
    """``torrents/properties`` (only what 4.x lacks in torrents/info)."""

    is_private: bool = False


class ListingRow(TorrentRow, kw_only=True):
    """A ``torrents/info`` row (or a merged ``sync/maindata`` one) with every field the listing reads."""

    total_size: int = 0
    size: int = 0
    completed: int = 0
    amount_left: int = 0
    downloaded: int = 0
    uploaded: int = 0
    dlspeed: int = 0
    upspeed: int = 0
    ratio: float = 0.0
    eta: int = MAX_ETA
    num_seeds: int = -1
    num_leechs: int = -1
    num_complete: int = -1
    num_incomplete: int = -1
    save_path: str = ""
    download_path: str = ""
    content_path: str = ""
    #: 5.0+ (WebAPI 2.11): the top folder, "" without one; None: not sent (4.x).
    root_path: str | None = None
    category: str = ""
    tags: str = ""
    added_on: int = 0
    completion_on: int = 0
    #: 5.0+; null without metadata; None: not sent (4.x: torrents/properties).
    private: bool | None = None
    #: The torrent's own limits in bytes/s; 0 (and -1, libtorrent's own word) unlimited.
    dl_limit: int = 0
    up_limit: int = 0
    files: list[FileRow] | None = None
    trackers: list[TrackerRow] | None = None


class MainData(msgspec.Struct):
    """``sync/maindata``: whole rows on a full update, else only the changed keys of each."""

    rid: int = 0
    full_update: bool = False
    torrents: dict[str, dict[str, Any]] = {}
    torrents_removed: list[str] = []


decode_listing = msgspec.json.Decoder(list[ListingRow]).decode
decode_files = msgspec.json.Decoder(list[FileRow]).decode
decode_trackers = msgspec.json.Decoder(list[TrackerRow]).decode
decode_peers = msgspec.json.Decoder(PeersReply).decode
decode_properties = msgspec.json.Decoder(PropertiesReply).decode
decode_maindata = msgspec.json.Decoder(MainData).decode

#: The keys of a sync/maindata row the listing reads (the rest is not kept).
LISTING_KEYS = frozenset(ListingRow.__struct_fields__) - {"hash", "files", "trackers"}

#: The row keys each scalar attribute is made of: a sync/maindata update that
#: touches none of an attribute's keys leaves it as it was.
ATTRIBUTE_KEYS: dict[str, frozenset[str]] = {
    name: frozenset(keys)
    for name, keys in {
        "infohash_v2": {"infohash_v2"},
        "name": {"name"},
        "state": {"state"},
        "progress": {"progress"},
        "size_total": {"total_size"},
        "size_wanted": {"size"},
        "size_done": {"completed"},
        "downloaded": {"downloaded"},
        "uploaded": {"uploaded"},
        "rate_down": {"dlspeed"},
        "rate_up": {"upspeed"},
        "ratio": {"ratio"},
        "eta": {"eta", "amount_left"},
        "seeds_connected": {"num_seeds"},
        "peers_connected": {"num_leechs"},
        "seeds_swarm": {"num_complete"},
        "peers_swarm": {"num_incomplete"},
        "save_path": {"save_path"},
        "content_path": {"content_path", "root_path", "save_path", "download_path"},
        "label": {"category"},
        "tags": {"tags"},
        "limit_down": {"dl_limit"},
        "limit_up": {"up_limit"},
        "added_at": {"added_on"},
        "completed_at": {"completion_on", "amount_left"},
        "error": {"state"},
        # 4.x sends no `private`: asked again when the state changes (metadata arrived).
        "is_private": {"private", "state"},
    }.items()
}


def torrent_infohash(row: TorrentRow) -> str:
    """The full v1 (or v2) infohash: `hash` is a v2 one truncated for v2-only torrents."""
    return (row.infohash_v1 or row.infohash_v2 or row.hash).lower()


def has_metadata(row: ListingRow) -> bool:
    return row.total_size > 0


def _count(value: int) -> int | None:
    return None if value < 0 else value


def _eta(row: ListingRow) -> timedelta | None:
    # Done: qBittorrent's eta is then the time left to its share limits.
    if row.amount_left <= 0 or row.eta < 0 or row.eta >= MAX_ETA:
        return None
    return timedelta(seconds=row.eta)


def _ratio(row: ListingRow) -> float:
    # MAX_RATIO: uploaded with nothing downloaded (or more than 9999 times it); -1 above that.
    return math.inf if row.ratio < 0 or row.ratio >= MAX_RATIO else row.ratio


_SEPARATORS = re.compile(r"[/\\]")
_ABSOLUTE = re.compile(r"[/\\]|[A-Za-z]:")


def _absolute(path: str, row: ListingRow) -> str:
    # Relative (to the save path) until the daemon has loaded the torrent.
    if not path or _ABSOLUTE.match(path) or not row.save_path:
        return path
    return row.save_path.rstrip("/\\") + "/" + path


def _content_path(row: ListingRow) -> str:
    """The torrent's top folder, else its single file (or, with no top folder, where its files are).

    qBittorrent's content_path is the file for a torrent of one file in a folder
    (the other clients give the folder), and "" without metadata. 5.0+ sends the
    folder as root_path; on 4.x it is the first path component below the folder
    the content is in.
    """
    if not row.content_path:
        # No metadata yet: where the content will be, as the other clients say.
        return row.save_path.rstrip("/\\") + "/" + row.name if row.name else row.save_path
    if row.root_path is not None:  # 5.0+
        return _absolute(row.root_path or row.content_path, row)
    path = _absolute(row.content_path, row)
    for location in sorted(filter(None, (row.download_path, row.save_path)), key=len, reverse=True):
        location = location.rstrip("/\\")
        if path.startswith(location) and path[len(location) : len(location) + 1] in ("/", "\\"):
            top = _SEPARATORS.split(path[len(location) + 1 :], maxsplit=1)[0]
            return path[: len(location) + 1 + len(top)]
    return path


def _limit(value: int) -> int | None:
    return value if value > 0 else None


def _completed_at(row: ListingRow) -> datetime | None:
    return None if row.amount_left > 0 else timestamp(row.completion_on)


def _tags(text: str) -> tuple[str, ...]:
    return tuple(tag for tag in (part.strip() for part in text.split(",")) if tag)


_SCALARS: dict[str, Callable[[ListingRow], Any]] = {
    "infohash_v2": lambda row: row.infohash_v2.lower() or None,
    "name": lambda row: row.name,
    "progress": lambda row: min(max(row.progress, 0.0), 1.0),
    "size_total": lambda row: row.total_size,
    "size_wanted": lambda row: row.size,
    "size_done": lambda row: row.completed,
    "downloaded": lambda row: row.downloaded,
    "uploaded": lambda row: row.uploaded,
    "rate_down": lambda row: row.dlspeed,
    "rate_up": lambda row: row.upspeed,
    "ratio": _ratio,
    "eta": _eta,
    "seeds_connected": lambda row: _count(row.num_seeds),
    "peers_connected": lambda row: _count(row.num_leechs),
    "seeds_swarm": lambda row: _count(row.num_complete),
    "peers_swarm": lambda row: _count(row.num_incomplete),
    "save_path": lambda row: row.save_path,
    "content_path": _content_path,
    "label": lambda row: row.category or None,
    "tags": lambda row: _tags(row.tags),
    "limit_down": lambda row: _limit(row.dl_limit),
    "limit_up": lambda row: _limit(row.up_limit),
    "added_at": lambda row: timestamp(row.added_on),
    "completed_at": _completed_at,
}


def _relative_paths(names: Sequence[str]) -> list[str]:
    """File names without the torrent's top folder: the first component all share
    (qBittorrent's own rule for its root path)."""
    split = [name.split("/", 1) for name in names]
    if split and all(len(parts) == 2 for parts in split) and len({parts[0] for parts in split}) == 1:
        return [parts[1] for parts in split]
    return list(names)


def _file_priority(priority: int) -> FilePriority | None:
    if priority <= 0:
        return None
    return FilePriority.high if priority >= 6 else FilePriority.normal


def _files(rows: Sequence[FileRow]) -> tuple[TorrentFileInfo, ...]:
    paths = _relative_paths([row.name for row in rows])
    return tuple(
        TorrentFileInfo(
            path=path,
            size=row.size,
            progress=min(max(row.progress, 0.0), 1.0),
            wanted=row.priority > 0,
            priority=_file_priority(row.priority),
        )
        for path, row in zip(paths, rows, strict=True)
    )


_TRACKER_STATUS = {
    0: TrackerStatus.disabled,
    1: TrackerStatus.not_contacted,
    2: TrackerStatus.working,
    3: TrackerStatus.updating,
    4: TrackerStatus.error,
    5: TrackerStatus.error,
    6: TrackerStatus.error,
}


def is_pseudo_tracker(row: TrackerRow) -> bool:
    """qBittorrent lists DHT, PeX and LSD as trackers "** [DHT] **" etc."""
    return row.url.startswith("** [")


def _trackers(rows: Sequence[TrackerRow]) -> tuple[TrackerInfo, ...]:
    return tuple(
        TrackerInfo(
            url=row.url,
            tier=row.tier if isinstance(row.tier, int) else 0,
            status=TrackerStatus.updating if row.updating else _TRACKER_STATUS.get(row.status, TrackerStatus.unknown),
            seeds=_count(row.num_seeds),
            peers=_count(row.num_leeches),
            message=row.msg or None,
        )
        for row in rows
        if not is_pseudo_tracker(row)
    )


def _peers(reply: PeersReply) -> tuple[PeerInfo, ...]:
    return tuple(
        PeerInfo(
            address=f"[{row.ip}]:{row.port}" if ":" in row.ip else f"{row.ip}:{row.port}",
            client=row.client or None,
            progress=min(max(row.progress, 0.0), 1.0),
            rate_down=row.dl_speed,
            rate_up=row.up_speed,
        )
        for row in reply.peers.values()
    )


def to_torrent(
    row: ListingRow,
    attributes: frozenset[str],
    *,
    files: Sequence[FileRow] | None = None,
    trackers: Sequence[TrackerRow] | None = None,
    peers: PeersReply | None = None,
    is_private: bool | None = None,
) -> Torrent:
    """A listing row as a Torrent with just `attributes` set.

    `files`, `trackers`, `peers`: fetched per torrent when the row doesn't
    carry them; `is_private`: from torrents/properties where the row has no
    `private` (4.x). A torrent without metadata is not private and has no files.
    """
    infohash = torrent_infohash(row)
    values: dict[str, Any] = {name: _SCALARS[name](row) for name in attributes if name in _SCALARS}
    if "state" in attributes or "error" in attributes:
        status = to_status(row, infohash)
        if "state" in attributes:
            values["state"] = status.state
        if "error" in attributes:
            values["error"] = status.error
    if "is_private" in attributes:
        values["is_private"] = bool(row.private if row.private is not None else is_private)
    if "files" in attributes:
        values["files"] = _files(files if files is not None else row.files or ())
    if "trackers" in attributes:
        values["trackers"] = _trackers(trackers if trackers is not None else row.trackers or ())
    if "peers" in attributes:
        values["peers"] = _peers(peers) if peers is not None else ()
    return Torrent(infohash=infohash, **values)


# --- the session --------------------------------------------------------------------------------
class ServerState(msgspec.Struct):
    """``transfer/info``, or ``sync/maindata``'s ``server_state`` (which adds the free space)."""

    dl_info_speed: int = 0
    up_info_speed: int = 0
    #: Bytes since the daemon started.
    dl_info_data: int = 0
    up_info_data: int = 0
    #: Global limits in bytes/s, 0 unlimited.
    dl_rate_limit: int = 0
    up_rate_limit: int = 0
    free_space_on_disk: int | None = None


class MainDataState(msgspec.Struct):
    """``sync/maindata`` as far as the session reads it (the torrents are skipped unread)."""

    server_state: ServerState = msgspec.field(default_factory=ServerState)


decode_server_state = msgspec.json.Decoder(ServerState).decode
decode_maindata_state = msgspec.json.Decoder(MainDataState).decode


def to_free_space(text: str) -> int | None:
    """app/getFreeSpaceAtPath's plain-text number; negative (unknown) as None."""
    try:
        value = int(text.strip())
    except ValueError:
        return None
    return value if value >= 0 else None


def to_session(version: str, state: ServerState, save_path: str | None, free_space: int | None) -> Session:
    """The session from app/version ("v4.5.2"), the server state and the default save path."""
    if state.free_space_on_disk is not None and free_space is None:
        # 4.x measures it per Web API session, first when the session is 30 s
        # old (SyncController::getFreeDiskSpace): 0 until then means unknown.
        free_space = state.free_space_on_disk if state.free_space_on_disk > 0 else None
    return Session(
        client="qbittorrent",
        version=version.strip().removeprefix("v") or None,
        rate_down=state.dl_info_speed,
        rate_up=state.up_info_speed,
        downloaded=state.dl_info_data,
        uploaded=state.up_info_data,
        limit_down=_limit(state.dl_rate_limit),
        limit_up=_limit(state.up_rate_limit),
        save_path=save_path,
        free_space=free_space,
    )
