"""Deluge's reply shapes and their mapping to domain values.

``core.get_torrents_status`` returns ``{torrent_id: {key: value}}``; rencode
gives us plain dicts, converted here into :class:`StatusRow`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ...domain import errors
from ...domain.torrent import TorrentState, TorrentStatus


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


def to_status(row: StatusRow) -> TorrentStatus:
    """A domain TorrentStatus from one status row."""
    state, stopped = STATES.get(row.state, (TorrentState.unknown, None))
    if stopped is None and row.state not in _STOPPED_UNKNOWN:
        stopped = row.paused
    if state is TorrentState.downloading and row.total_size == 0:
        state = TorrentState.metadata  # a magnet still fetching its metadata
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
