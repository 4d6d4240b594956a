"""Deluge's reply shapes and their mapping to domain values.

``core.get_torrents_status`` returns ``{torrent_id: {key: value}}``; rencode
gives us plain dicts, converted here into :class:`StatusRow` (snapshots) and
:class:`ListingRow` (listings and the change feed).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import msgspec

from ...domain import errors
from ...domain.session import Session
from ...domain.torrent import (
    UNSET,
    FilePriority,
    PeerInfo,
    Torrent,
    TorrentFileInfo,
    TorrentState,
    TorrentStatus,
    TrackerInfo,
    TrackerStatus,
    Unset,
    ratio_of,
    timestamp,
)
from .._torrents import TorrentMaker


class StatusRow(msgspec.Struct, frozen=True):
    """One torrent of ``core.get_torrents_status``: only the keys we read."""

    hash: str
    name: str
    state: str
    progress: float  # 0–100: downloaded, or checked while Checking
    paused: bool
    total_size: int = 0
    message: str = ""


#: The keys to ask ``core.get_torrents_status`` for.
STATUS_KEYS: list[str] = list(StatusRow.__struct_fields__)

#: Deluge state → (our state, stopped). stopped None: read the `paused` key.
#:
#: Measured on Deluge 2.0.3 / libtorrent 2.0.8 (get_torrents_status answers
#: from a cache up to 1.5 s old):
#: - `state` follows pause/resume within ~0.2 s; `paused` lags it by ~0.5 s
#:   (Seeding with paused=True right after a resume), so `state` decides.
#: - while Checking, `paused` is True both for a paused torrent being
#:   rechecked (paused again afterwards) and for a running one (runs
#:   afterwards): it says nothing about what follows, so stopped is unknown.
#: - Queued (auto-managed, held by the queue) reports paused=True but will run.
STATES: dict[str, tuple[TorrentState, bool | None]] = {
    "Downloading": (TorrentState.downloading, False),
    "Seeding": (TorrentState.seeding, False),
    "Paused": (TorrentState.stopped, True),
    "Queued": (TorrentState.queued, False),
    "Checking": (TorrentState.verifying, None),
    "Allocating": (TorrentState.queued, None),
    "Moving": (TorrentState.moving, None),
    "Error": (TorrentState.error, None),
}

#: States in which `paused` can't tell whether the torrent runs afterwards.
_STOPPED_UNKNOWN = frozenset({"Checking", "Allocating"})


def decode_rows(reply: Any, where: str) -> list[StatusRow]:
    """The rows of a ``core.get_torrents_status`` reply.

    Ids the daemon doesn't know come back as empty dicts (a torrent removed
    meanwhile) or not at all; both are left out.
    """
    if not isinstance(reply, dict):
        raise errors.ResponseError(f"{where}: core.get_torrents_status: unexpected reply: {type(reply).__name__}")
    try:
        return [msgspec.convert(row, StatusRow) for row in reply.values() if row]
    except msgspec.ValidationError as exc:
        raise errors.ResponseError(f"{where}: core.get_torrents_status: unexpected reply: {exc}") from exc


_STATE_OF = {name: state for name, (state, _) in STATES.items()}
_UNKNOWN, _DOWNLOADING, _METADATA = TorrentState.unknown, TorrentState.downloading, TorrentState.metadata


def state_of(deluge_state: str, total_size: int) -> TorrentState:
    """Our state for Deluge's `state` (snapshots and listings alike)."""
    state = _STATE_OF.get(deluge_state, _UNKNOWN)
    if state is _DOWNLOADING and total_size == 0:
        return _METADATA  # a magnet still fetching its metadata
    return state


def to_status(row: StatusRow) -> TorrentStatus:
    """A domain TorrentStatus from one status row."""
    stopped = STATES.get(row.state, (TorrentState.unknown, None))[1]
    if stopped is None and row.state not in _STOPPED_UNKNOWN:
        stopped = row.paused
    state = state_of(row.state, row.total_size)
    fraction = min(max(row.progress / 100.0, 0.0), 1.0)
    verify_progress = fraction if state is TorrentState.verifying else None
    return TorrentStatus(
        infohash=row.hash.lower(),
        name=row.name,
        state=state,
        stopped=stopped,
        progress=fraction,
        verify_progress=verify_progress,
        error=(row.message or "Error") if state is TorrentState.error else None,
    )


# --- listings ------------------------------------------------------------------------------
class FileRow(msgspec.Struct, frozen=True):
    """One entry of the ``files`` key (also has index and offset)."""

    path: str
    size: int


class TrackerRow(msgspec.Struct, frozen=True):
    """One entry of the ``trackers`` key.

    Deluge keeps the libtorrent tracker list as it was when the torrent was
    loaded (after a restart: url and tier only) and never refreshes it, so
    its message, fails and scrape counts are stale: only url and tier are read.
    """

    url: str
    tier: int = 0


class PeerRow(msgspec.Struct, frozen=True):
    """One entry of the ``peers`` key."""

    ip: str  # "host:port", IPv6 without brackets
    client: str = ""
    progress: float = 0.0  # 0–1
    down_speed: int = 0
    up_speed: int = 0


class ListingRow(msgspec.Struct, frozen=True, gc=False):
    """One torrent of a listing: every key we may ask, UNSET where not asked
    (a diff reply carries only the changed keys; a plugin's key is absent
    while the plugin is off). Untracked by the garbage collector (nothing in
    it can refer back to it): a listing makes one per torrent."""

    name: str | Unset = UNSET
    state: str | Unset = UNSET
    progress: float | Unset = UNSET  # 0–100, of the current task (checking, moving)
    total_size: int | Unset = UNSET
    total_wanted: int | Unset = UNSET
    total_done: int | Unset = UNSET
    all_time_download: int | Unset = UNSET
    total_uploaded: int | Unset = UNSET
    download_payload_rate: int | Unset = UNSET
    upload_payload_rate: int | Unset = UNSET
    ratio: float | Unset = UNSET  # -1: nothing done yet
    eta: float | Unset = UNSET  # 0: done or no rate; -1: over a year
    is_finished: bool | Unset = UNSET
    num_seeds: int | Unset = UNSET
    num_peers: int | Unset = UNSET
    total_seeds: int | Unset = UNSET  # -1: not scraped
    total_peers: int | Unset = UNSET
    download_location: str | Unset = UNSET
    label: str | Unset = UNSET
    time_added: float | Unset = UNSET
    completed_time: float | Unset = UNSET  # 0: never
    message: str | Unset = UNSET
    private: bool | Unset = UNSET
    files: list[FileRow] | Unset = UNSET
    file_progress: list[float] | Unset = UNSET  # 0–1
    file_priorities: list[int] | Unset = UNSET  # libtorrent's 0–7
    trackers: list[TrackerRow] | Unset = UNSET
    tracker_status: str | Unset = UNSET  # about the last tracker that answered
    tracker: str | Unset = UNSET  # the tracker libtorrent talks to now
    peers: list[PeerRow] | Unset = UNSET
    max_download_speed: float | Unset = UNSET  # KiB/s, -1: unlimited
    max_upload_speed: float | Unset = UNSET


#: The ``core.get_torrents_status`` keys each Torrent attribute needs.
ATTRIBUTE_KEYS: dict[str, tuple[str, ...]] = {
    "infohash_v2": (),
    "name": ("name",),
    "state": ("state", "total_size"),
    "progress": ("progress", "state", "total_done", "total_wanted"),
    "size_total": ("total_size",),
    "size_wanted": ("total_wanted",),
    "size_done": ("total_done",),
    "downloaded": ("all_time_download",),
    "uploaded": ("total_uploaded",),
    "rate_down": ("download_payload_rate",),
    "rate_up": ("upload_payload_rate",),
    "ratio": ("ratio", "total_uploaded"),
    "eta": ("eta", "is_finished"),
    "seeds_connected": ("num_seeds",),
    "peers_connected": ("num_peers",),
    "seeds_swarm": ("total_seeds",),
    "peers_swarm": ("total_peers",),
    "save_path": ("download_location",),
    "content_path": ("download_location", "name"),
    "label": ("label",),
    "tags": (),
    "added_at": ("time_added",),
    "completed_at": ("completed_time",),
    "error": ("state", "message", "total_size"),
    "is_private": ("private",),
    "files": ("files", "file_progress", "file_priorities"),
    "trackers": ("trackers", "tracker_status", "tracker"),
    "peers": ("peers",),
    "limit_down": ("max_download_speed",),
    "limit_up": ("max_upload_speed",),
}

#: Keys a daemon may leave out of a full row: plugin keys (the plugin is off).
OPTIONAL_KEYS = frozenset({"label"})

#: States in which Deluge's `progress` is a task's (checking, moving) or a
#: fixed 100 (Error), not the downloaded fraction.
_TASK_PROGRESS = frozenset({"Checking", "Moving", "Error"})


def listing_keys(attributes: Iterable[str]) -> list[str]:
    """The keys to ask for `attributes`, sorted.

    With no torrent key among them, "hash" is added: an empty key list means
    every key to Deluge, and with plugin keys only (the plugin off) a known
    torrent's row would be empty like an unknown one's.
    """
    keys = {key for name in attributes for key in ATTRIBUTE_KEYS[name]}
    if keys <= OPTIONAL_KEYS:
        keys.add("hash")
    return sorted(keys)


def listing_rows(reply: Any, where: str) -> dict[str, dict[str, Any]]:
    """The rows of a ``core.get_torrents_status`` reply as plain dicts, by
    lower-case infohash (a diff reply's unchanged torrents: empty dicts)."""
    if not isinstance(reply, dict) or not all(isinstance(row, dict) for row in reply.values()):
        raise errors.ResponseError(f"{where}: core.get_torrents_status: unexpected reply: {type(reply).__name__}")
    return {str(infohash).lower(): row for infohash, row in reply.items()}


def decode_listing_row(row: dict[str, Any], where: str) -> ListingRow:
    try:
        return msgspec.convert(row, ListingRow)
    except msgspec.ValidationError as exc:
        raise errors.ResponseError(f"{where}: core.get_torrents_status: unexpected reply: {exc}") from exc


def _fraction(part: float, whole: float) -> float:
    return min(max(part / whole, 0.0), 1.0) if whole > 0 else 0.0


# The getters a listing calls for every row take the row as Any: it has
# their keys (missing_keys checked), and isinstance asserts would cost more
# than the rest of the getter.
def _state(row: Any) -> TorrentState:
    return state_of(row.state, row.total_size)


def _progress(row: Any) -> float:
    if row.state in _TASK_PROGRESS:
        return _fraction(row.total_done, row.total_wanted)
    fraction: float = row.progress / 100.0
    return 0.0 if fraction < 0.0 else 1.0 if fraction > 1.0 else fraction


def _added_at(row: Any) -> datetime | None:
    return timestamp(row.time_added)


def _count(value: int) -> int | None:
    return value if value >= 0 else None


def _priority(value: int) -> FilePriority | None:
    if value <= 0:
        return None
    if value < 4:
        return FilePriority.low
    return FilePriority.normal if value == 4 else FilePriority.high


def _files(row: ListingRow) -> tuple[TorrentFileInfo, ...]:
    assert isinstance(row.files, list) and isinstance(row.file_progress, list)
    assert isinstance(row.file_priorities, list)
    progress, priorities = row.file_progress, row.file_priorities
    files = []
    for index, file in enumerate(row.files):
        priority = priorities[index] if index < len(priorities) else 4
        # A multi-file torrent's paths start with its own folder.
        path = file.path.split("/", 1)[1] if "/" in file.path else file.path
        files.append(
            TorrentFileInfo(
                path=path,
                size=file.size,
                progress=min(max(progress[index], 0.0), 1.0) if index < len(progress) else 0.0,
                wanted=priority > 0,
                priority=_priority(priority),
            )
        )
    return tuple(files)


def _tracker_status(text: str) -> tuple[TrackerStatus, str | None]:
    """Deluge's `tracker_status` text: "Announce OK", "Announce Sent",
    "Warning: <msg>", "Error: <msg>", "" (not announced yet)."""
    if text == "Announce OK":
        return TrackerStatus.working, None
    if text == "Announce Sent":
        return TrackerStatus.updating, None
    if text.startswith("Warning:"):
        return TrackerStatus.working, text.partition(":")[2].strip() or None
    if text.startswith("Error:"):
        return TrackerStatus.error, text.partition(":")[2].strip() or None
    if not text:
        return TrackerStatus.not_contacted, None
    return TrackerStatus.unknown, text


def _trackers(row: ListingRow) -> tuple[TrackerInfo, ...]:
    assert isinstance(row.trackers, list) and isinstance(row.tracker_status, str)
    # Deluge keeps one status text per torrent, about the tracker that last
    # answered: it is that tracker's (libtorrent's current one, or the only one).
    status, message = _tracker_status(row.tracker_status)
    current = row.tracker if isinstance(row.tracker, str) else ""
    single = len(row.trackers) == 1
    return tuple(
        TrackerInfo(
            url=tracker.url,
            tier=tracker.tier,
            status=status if single or tracker.url == current else TrackerStatus.unknown,
            seeds=None,
            peers=None,
            message=message if single or tracker.url == current else None,
        )
        for tracker in row.trackers
    )


def _address(ip: str) -> str:
    host, sep, port = ip.rpartition(":")
    if sep and ":" in host and not host.startswith("["):
        return f"[{host}]:{port}"
    return ip


def _peers(row: ListingRow) -> tuple[PeerInfo, ...]:
    assert isinstance(row.peers, list)
    return tuple(
        PeerInfo(
            address=_address(peer.ip),
            client=peer.client or None,
            progress=min(max(peer.progress, 0.0), 1.0),
            rate_down=peer.down_speed,
            rate_up=peer.up_speed,
        )
        for peer in row.peers
    )


def _error(row: ListingRow) -> str | None:
    assert isinstance(row.state, str) and isinstance(row.total_size, int)
    if state_of(row.state, row.total_size) is TorrentState.error:
        return (row.message if isinstance(row.message, str) else "") or "Error"
    return None


def _ratio(row: Any) -> float:
    # Deluge divides by the bytes it has (total_done); -1 when it has none.
    ratio: float = row.ratio
    return ratio if ratio >= 0 else ratio_of(row.total_uploaded, 0)


def _eta(row: ListingRow) -> timedelta | None:
    assert isinstance(row.eta, float)
    # When finished Deluge's eta is the time to its stop ratio, if any.
    if row.is_finished is True or row.eta <= 0:
        return None
    return timedelta(seconds=row.eta)


def limit_of(kib: float) -> int | None:
    """Bytes/s for Deluge's KiB/s rate limit (-1, or any value <= 0: unlimited)."""
    return round(kib * 1024) if kib > 0 else None


def kib_of(limit: int | None) -> float:
    """Deluge's KiB/s for a limit in bytes/s (None: unlimited): the nearest KiB/s, at least one."""
    return -1.0 if limit is None else float(max(1, round(limit / 1024)))


def _content_path(row: ListingRow) -> str:
    assert isinstance(row.download_location, str) and isinstance(row.name, str)
    return f"{row.download_location.rstrip('/')}/{row.name}"


#: Attribute → the ListingRow field that is its value as it is.
_FIELDS: dict[str, str] = {
    "name": "name",
    "size_total": "total_size",
    "size_wanted": "total_wanted",
    "size_done": "total_done",
    "downloaded": "all_time_download",
    "uploaded": "total_uploaded",
    "rate_down": "download_payload_rate",
    "rate_up": "upload_payload_rate",
    "seeds_connected": "num_seeds",
    "peers_connected": "num_peers",
    "save_path": "download_location",
    "is_private": "private",
}

#: Attribute → its value from a row that has every key the attribute needs.
_VALUES: dict[str, Callable[[Any], Any]] = {
    "infohash_v2": lambda row: None,
    "state": _state,
    "progress": _progress,
    "ratio": _ratio,
    "eta": _eta,
    "seeds_swarm": lambda row: _count(row.total_seeds),
    "peers_swarm": lambda row: _count(row.total_peers),
    "content_path": _content_path,
    "label": lambda row: row.label or None,  # no plugin (UNSET) or no label ("")
    "tags": lambda row: (),
    "added_at": _added_at,
    "completed_at": lambda row: timestamp(row.completed_time),
    "error": _error,
    "files": _files,
    "trackers": _trackers,
    "peers": _peers,
    "limit_down": lambda row: limit_of(row.max_download_speed),
    "limit_up": lambda row: limit_of(row.max_upload_speed),
}


def required_keys(keys: Iterable[str]) -> frozenset[str]:
    """The keys of `keys` a full row must have (plugin keys may be absent)."""
    return frozenset(keys) - OPTIONAL_KEYS


def missing_keys(row: dict[str, Any], required: frozenset[str]) -> bool:
    """Whether a row lacks a key it must have (`required`: see :func:`required_keys`)."""
    return not row.keys() >= required


@functools.lru_cache(maxsize=64)
def torrent_maker(attributes: frozenset[str]) -> TorrentMaker[ListingRow]:
    """:func:`to_torrent` for one set of attributes, made once per set."""
    return TorrentMaker(attributes, _FIELDS, _VALUES)


def to_torrent(infohash: str, row: ListingRow, attributes: Iterable[str]) -> Torrent:
    """A Torrent with just `attributes` set, from a row with their keys."""
    return torrent_maker(frozenset(attributes))(infohash, row)


# --- remove, session ------------------------------------------------------------------------
def removal_failures(reply: Any, where: str) -> dict[str, str]:
    """``core.remove_torrents``'s ``[(torrent_id, error), ...]`` (the torrents
    it could not remove) by lower-case infohash."""
    try:
        failures = msgspec.convert(reply, list[tuple[str, str]])
    except msgspec.ValidationError as exc:
        raise errors.ResponseError(f"{where}: core.remove_torrents: unexpected reply: {reply!r:.100}") from exc
    return {infohash.lower(): message for infohash, message in failures}


class SessionStatus(msgspec.Struct, frozen=True):
    """``core.get_session_status(SESSION_KEYS)``: libtorrent's counters as Deluge keeps them."""

    payload_download_rate: float  # bytes/s
    payload_upload_rate: float
    total_payload_download: int  # bytes since the daemon started
    total_payload_upload: int


SESSION_KEYS: list[str] = list(SessionStatus.__struct_fields__)


class SessionConfig(msgspec.Struct, frozen=True):
    """``core.get_config_values(CONFIG_KEYS)``."""

    download_location: str
    max_download_speed: float  # KiB/s, -1: unlimited
    max_upload_speed: float


CONFIG_KEYS: list[str] = list(SessionConfig.__struct_fields__)


def to_session(version: Any, status: Any, config: Any, free_space: Any, where: str) -> Session:
    """A domain Session from the replies of daemon.info, core.get_session_status,
    core.get_config_values and core.get_free_space (-1: unknown)."""
    try:
        status_row = msgspec.convert(status, SessionStatus)
        config_row = msgspec.convert(config, SessionConfig)
        free = msgspec.convert(free_space, int)
        version_text = msgspec.convert(version, str)
    except msgspec.ValidationError as exc:
        raise errors.ResponseError(f"{where}: unexpected session reply: {exc}") from exc
    return Session(
        client="deluge",
        version=version_text or None,
        rate_down=round(status_row.payload_download_rate),
        rate_up=round(status_row.payload_upload_rate),
        downloaded=status_row.total_payload_download,
        uploaded=status_row.total_payload_upload,
        limit_down=limit_of(config_row.max_download_speed),
        limit_up=limit_of(config_row.max_upload_speed),
        save_path=config_row.download_location or None,
        free_space=free if free >= 0 else None,
    )
