"""Transmission's reply shapes, and their mapping to domain values."""

from __future__ import annotations

from typing import Any

import msgspec

from ...domain.torrent import TorrentState, TorrentStatus

#: torrent-get fields the snapshot reads.
SNAPSHOT_FIELDS = (
    "hashString",
    "name",
    "status",
    "percentDone",
    "recheckProgress",
    "metadataPercentComplete",
    "error",
    "errorString",
)


class Reply(msgspec.Struct):
    """Every reply of the (pre-JSON-RPC) protocol."""

    result: str
    arguments: dict[str, Any] = {}


class TorrentRow(msgspec.Struct, rename="camel"):
    hash_string: str
    name: str = ""
    status: int = 0
    percent_done: float = 0.0
    recheck_progress: float = 0.0
    metadata_percent_complete: float = 1.0
    error: int = 0
    error_string: str = ""


class HashRow(msgspec.Struct, rename="camel"):
    hash_string: str


class TorrentRows(msgspec.Struct):
    torrents: list[TorrentRow] = []


class HashRows(msgspec.Struct):
    torrents: list[HashRow] = []


class AddedTorrent(msgspec.Struct, rename="camel"):
    hash_string: str


class AddResult(msgspec.Struct, rename="kebab"):
    torrent_added: AddedTorrent | None = None
    torrent_duplicate: AddedTorrent | None = None


class SessionInfo(msgspec.Struct, rename="kebab"):
    version: str = ""
    rpc_version: int = 0


reply_decoder = msgspec.json.Decoder(Reply)

#: Transmission's status numbers: (state, stopped). While it verifies,
#: Transmission doesn't say whether the torrent runs afterwards: None.
_STATES: dict[int, tuple[TorrentState, bool | None]] = {
    0: (TorrentState.stopped, True),
    1: (TorrentState.verifying, None),  # queued to verify
    2: (TorrentState.verifying, None),
    3: (TorrentState.queued, False),  # queued to download
    4: (TorrentState.downloading, False),
    5: (TorrentState.queued, False),  # queued to seed
    6: (TorrentState.seeding, False),
}

#: tr_stat.error: 3 is a local error (e.g. missing data), which stops the torrent;
#: 1 and 2 are tracker warnings/errors, which don't.
_LOCAL_ERROR = 3


def to_status(row: TorrentRow) -> TorrentStatus:
    """One torrent-get row as a domain TorrentStatus."""
    state, stopped = _STATES.get(row.status, (TorrentState.unknown, None))
    if row.error == _LOCAL_ERROR and state is not TorrentState.verifying:
        state = TorrentState.error
    elif state is TorrentState.downloading and row.metadata_percent_complete < 1:
        state = TorrentState.metadata
    return TorrentStatus(
        infohash=row.hash_string.lower(),
        name=row.name,
        state=state,
        stopped=stopped,
        progress=row.percent_done,
        verify_progress=row.recheck_progress if state is TorrentState.verifying else None,
        error=row.error_string or None,
    )
