"""rTorrent's reply shapes and their mapping to domain values.

Rows of ``d.multicall2`` (and of the per-torrent getters in a
``system.multicall``) come as lists in :data:`FIELDS` order; msgspec turns
them into :class:`TorrentRow` (``array_like``).
"""

from __future__ import annotations

import urllib.parse
from typing import Any, Literal

import msgspec

from ...domain.source import TorrentSource
from ...domain.torrent import TorrentState, TorrentStatus

#: The d.* getters read for a torrent's status, in TorrentRow order.
FIELDS: tuple[str, ...] = (
    "d.hash",
    "d.name",
    "d.state",
    "d.is_open",
    "d.is_active",
    "d.complete",
    "d.hashing",
    "d.is_hash_checking",
    "d.chunks_hashed",
    "d.size_chunks",
    "d.completed_bytes",
    "d.size_bytes",
    "d.message",
    "d.is_meta",
)


class TorrentRow(msgspec.Struct, array_like=True, frozen=True):
    """One torrent as the :data:`FIELDS` getters report it."""

    hash: str
    name: str
    state: int  # 1: the user wants it started (d.start), 0: stopped
    is_open: int
    is_active: int
    complete: int
    hashing: int  # 0: not hashing; 1 initial, 2 on completion, 3 rehash — also while queued
    is_hash_checking: int  # 1 only while its data is being hashed right now
    chunks_hashed: int
    size_chunks: int
    completed_bytes: int
    size_bytes: int
    message: str
    is_meta: int


def to_row(values: Any) -> TorrentRow:
    """Validate one row; raises msgspec.ValidationError."""
    return msgspec.convert(values, TorrentRow)


def _fraction(part: int, whole: int) -> float:
    if whole <= 0:
        return 0.0
    return min(max(part / whole, 0.0), 1.0)


def to_status(row: TorrentRow) -> TorrentStatus:
    """The domain status of one torrent.

    rTorrent users know three forms: closed (is_open=0), paused (open, not
    active) and started (open, active); only the last transfers. While a
    torrent is hashed (or queued for it) rTorrent makes it inactive, but
    d.state still tells what comes after: 1 means it starts when the check
    is done, 0 that it stays stopped (measured on 0.9.8).
    """
    infohash = row.hash.lower()
    progress = _fraction(row.completed_bytes, row.size_bytes)
    error: str | None = None
    verify_progress: float | None = None
    if row.hashing or row.is_hash_checking:
        state = TorrentState.verifying
        stopped = row.state == 0
        # A queued check has hashed nothing yet.
        verify_progress = _fraction(row.chunks_hashed, row.size_chunks) if row.is_hash_checking else 0.0
    elif not (row.is_open and row.is_active):
        state = TorrentState.stopped
        stopped = True
        # Tracker messages are not the torrent's failure; others (e.g. a
        # storage error that stopped it) are.
        if row.message and not row.message.startswith("Tracker:"):
            error = row.message
    elif row.is_meta:
        state = TorrentState.metadata
        stopped = False
    else:
        state = TorrentState.seeding if row.complete else TorrentState.downloading
        stopped = False
    return TorrentStatus(
        infohash=infohash,
        name=row.name,
        state=state,
        stopped=stopped,
        progress=progress,
        verify_progress=verify_progress,
        error=error,
    )


def refuses_trackerless(version: str) -> bool:
    """Whether rTorrent `version` (system.client_version) refuses torrents without trackers.

    0.9.8 does (see :func:`trackerless`); 0.16.17 adds and starts them, even
    private ones with DHT off (measured). Versions in between weren't
    measured: for them, and for versions we can't read, the daemon decides,
    so we never refuse what it would take.
    """
    parts = version.split(".")
    if len(parts) < 2 or not all(part.isdigit() for part in parts[:2]):
        return False
    return (int(parts[0]), int(parts[1])) < (0, 10)


def trackerless(source: TorrentSource) -> Literal["private", "dht", None]:
    """Why rTorrent may refuse `source` for lack of trackers.

    rTorrent 0.9.8 refuses a download without trackers ("Could not find any
    trackers", in its log only) when it is private, or when DHT isn't
    running (libtorrent asks whether its DHT was set up; we ask
    ``dht.statistics`` whether it is active: the same unless DHT was turned
    off after it ran). ``"private"``: always refused; ``"dht"``: refused unless DHT
    runs; None: it has trackers.
    """
    if source.metainfo is None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(source.magnet or "").query)
        return None if any(query.get("tr", [])) else "dht"
    import bencode2  # lazy: only needed when adding .torrent files

    try:
        decoded = bencode2.bdecode(source.metainfo)
    except Exception:  # validated by the service already; let rTorrent judge
        return None
    if not isinstance(decoded, dict):
        return None
    # As libtorrent's DownloadConstructor::parse_tracker decides.
    tiers = decoded.get(b"announce-list")
    if isinstance(tiers, list) and any(isinstance(tier, list) for tier in tiers):
        return None
    if b"announce" in decoded:
        return None
    info = decoded.get(b"info")
    if isinstance(info, dict) and info.get(b"private") == 1:
        return "private"
    return "dht"
