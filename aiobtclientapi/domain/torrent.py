"""The normalized torrent model: states, the status the services poll, and Torrent."""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import msgspec

from . import errors


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

    ``loading``: the client is still loading the torrent (qBittorrent's
    checkingResumeData); a verification asked meanwhile may never run.
    """

    infohash: str
    name: str
    state: TorrentState
    stopped: bool | None
    progress: float
    verify_progress: float | None = None
    error: str | None = None
    loading: bool = False

    @property
    def is_verifying(self) -> bool:
        return self.state is TorrentState.verifying


class FilePriority(enum.Enum):
    """How eagerly a client downloads a file it is to download."""

    low = "low"
    normal = "normal"
    high = "high"


class TrackerStatus(enum.Enum):
    """What became of a torrent's last announce to one tracker."""

    disabled = "disabled"
    not_contacted = "not_contacted"
    working = "working"
    updating = "updating"
    error = "error"
    unknown = "unknown"


class TorrentFileInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One file of a torrent.

    ``path``: relative to the torrent's content folder, ``/``-separated,
    without the torrent's own folder (a single-file torrent's file: its name).
    ``progress``: the downloaded fraction, 0.0–1.0. ``wanted``: whether the
    client downloads it. ``priority``: ``None`` where the client keeps none for
    a file it doesn't download.
    """

    path: str
    size: int
    progress: float
    wanted: bool
    priority: FilePriority | None


class TrackerInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One tracker of a torrent. ``tier``: 0 is tried first. ``seeds``/``peers``:
    the tracker's last scrape (complete/incomplete), ``None`` when unknown.
    ``message``: the tracker's or client's last word about it, ``None`` if none."""

    url: str
    tier: int
    status: TrackerStatus
    seeds: int | None
    peers: int | None
    message: str | None


class PeerInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One connected peer. ``address``: ``host:port`` (IPv6 in brackets).
    ``client``: its software as it says, ``None`` if it didn't.
    ``progress``: its fraction of the torrent, 0.0–1.0; rates in bytes/s."""

    address: str
    client: str | None
    progress: float
    rate_down: int
    rate_up: int


Unset = msgspec.UnsetType
UNSET = msgspec.UNSET


class Torrent(msgspec.Struct, frozen=True, kw_only=True):
    """One torrent, the same fields in the same units on every client.

    Sizes and totals in bytes, rates in bytes/s, fractions 0.0–1.0, times as
    timezone-aware UTC datetimes. ``None``: the client has no such value (see
    the per-client notes in the documentation). A field that was not asked for
    is :data:`msgspec.UNSET` (falsy, and left out of ``msgspec`` encodings):
    test it with ``torrent.name is not msgspec.UNSET`` or read it with
    ``getattr`` after asking for it.

    ``state``: what it does now; a stopped torrent being verified is
    ``verifying``. ``ratio``: the client's share ratio: uploaded/downloaded,
    or uploaded/data held when (almost) nothing was downloaded. ``eta``: time
    left to download, ``None`` when done or unknown. ``seeds_connected``/``peers_connected``: peers we are connected to
    that have/lack the whole torrent; ``*_swarm``: the trackers' counts
    (largest of the working trackers). ``save_path``: the folder the
    torrent's content is in (as the daemon sees it); ``content_path``: the
    content itself (the torrent's folder, or its single file). ``label``: the
    client's one label (qBittorrent category, Deluge Label plugin, Transmission
    first label, rTorrent ``custom1`` as ruTorrent writes it); ``tags``: its
    further labels. ``added_at``: when the client got the torrent (not its
    creation date); ``completed_at``: when it finished downloading.
    ``limit_down``/``limit_up``: the torrent's own rate limits in bytes/s,
    ``None`` for unlimited (the global limits still apply).
    ``files``, ``trackers``, ``peers`` are fetched only when asked for.
    """

    infohash: str
    infohash_v2: str | Unset | None = UNSET
    name: str | Unset = UNSET
    state: TorrentState | Unset = UNSET
    progress: float | Unset = UNSET
    size_total: int | Unset = UNSET
    size_wanted: int | Unset = UNSET
    size_done: int | Unset = UNSET
    downloaded: int | Unset = UNSET
    uploaded: int | Unset = UNSET
    rate_down: int | Unset = UNSET
    rate_up: int | Unset = UNSET
    ratio: float | Unset | None = UNSET
    eta: timedelta | Unset | None = UNSET
    seeds_connected: int | Unset | None = UNSET
    peers_connected: int | Unset | None = UNSET
    seeds_swarm: int | Unset | None = UNSET
    peers_swarm: int | Unset | None = UNSET
    save_path: str | Unset = UNSET
    content_path: str | Unset = UNSET
    label: str | Unset | None = UNSET
    tags: tuple[str, ...] | Unset = UNSET
    added_at: datetime | Unset | None = UNSET
    completed_at: datetime | Unset | None = UNSET
    limit_down: int | Unset | None = UNSET
    limit_up: int | Unset | None = UNSET
    error: str | Unset | None = UNSET
    is_private: bool | Unset = UNSET
    files: tuple[TorrentFileInfo, ...] | Unset = UNSET
    trackers: tuple[TrackerInfo, ...] | Unset = UNSET
    peers: tuple[PeerInfo, ...] | Unset = UNSET


#: Every attribute get_torrents() can be asked for.
ATTRIBUTES: tuple[str, ...] = tuple(name for name in Torrent.__struct_fields__ if name != "infohash")
#: Attributes fetched per file, tracker or peer: only when asked for.
COLLECTION_ATTRIBUTES = frozenset({"files", "trackers", "peers"})
#: What get_torrents() fetches when not told: every attribute but the collections.
DEFAULT_ATTRIBUTES: frozenset[str] = frozenset(ATTRIBUTES) - COLLECTION_ATTRIBUTES


def parse_attributes(attributes: Iterable[str] | None) -> frozenset[str]:
    """The attribute names asked for; :data:`DEFAULT_ATTRIBUTES` for None.

    Raises :class:`~errors.ValueError` naming an unknown one.
    """
    if attributes is None:
        return DEFAULT_ATTRIBUTES
    if isinstance(attributes, str):
        attributes = attributes.split(",")
    names = frozenset(name.strip() for name in attributes)
    unknown = sorted(names - set(ATTRIBUTES))
    if unknown:
        raise errors.ValueError(f"Unknown torrent attribute: {', '.join(unknown)}")
    return names


def timestamp(seconds: float | None) -> datetime | None:
    """A client's Unix time as UTC datetime; ``None`` for the unset values (0, negative)."""
    if seconds is None or seconds <= 0:
        return None
    return datetime.fromtimestamp(seconds, tz=UTC)


def ratio_of(uploaded: int, downloaded: int) -> float:
    """uploaded/downloaded, ``inf`` when something was uploaded with nothing downloaded."""
    if downloaded > 0:
        return uploaded / downloaded
    return math.inf if uploaded > 0 else 0.0
