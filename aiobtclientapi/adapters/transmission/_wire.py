"""Transmission's reply shapes in both dialects, and their mapping to domain values.

Transmission speaks two dialects: the original protocol (3.00 and later:
kebab-case methods and arguments, camelCase torrent fields,
``{"result": "success", "arguments": ...}``) and, from rpc-version 18 (4.1),
JSON-RPC 2.0 with every name in snake_case. The adapter's code uses the
original names; :class:`Dialect` translates names and decodes replies.
"""

from __future__ import annotations

import functools
import math
import posixpath
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar, cast

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
from .._torrents import TorrentMaker

S = TypeVar("S", bound=msgspec.Struct)

#: rpc-version-semver major from which the daemon speaks JSON-RPC 2.0. Not
#: rpc-version 18: 4.1.0-beta.2 reports 18 (semver 5.4.0) and still answers
#: JSON-RPC requests with "no method name"; 4.1.3 reports 19 (semver 6.0.1).
JSONRPC_MIN_SEMVER_MAJOR = 6

#: Bytes/s in the unit of Transmission's speed fields unless session-get says otherwise (kB/s).
DEFAULT_SPEED_UNIT = 1000

#: torrent-get fields the snapshot reads (original spelling).
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


#: torrent-get fields (original spelling) each Torrent attribute is read from.
#: Every one exists since rpc-version 16 (3.00), the oldest version supported,
#: so none is gated on the version (3.00 answers 0 for names it doesn't know).
#: seeds/peers_connected need the peer list: Transmission counts connected
#: peers but not which of them are seeds.
LISTING_FIELDS: dict[str, tuple[str, ...]] = {
    "infohash_v2": (),  # Transmission reports no v2 infohash (up to 4.1 at least)
    "name": ("name",),
    "state": ("status", "error", "metadataPercentComplete"),
    "progress": ("percentDone",),
    "size_total": ("totalSize",),
    "size_wanted": ("sizeWhenDone",),
    "size_done": ("haveValid", "haveUnchecked"),
    "downloaded": ("downloadedEver",),
    "uploaded": ("uploadedEver",),
    "rate_down": ("rateDownload",),
    "rate_up": ("rateUpload",),
    "ratio": ("uploadRatio",),
    "eta": ("eta", "leftUntilDone"),
    "seeds_connected": ("peers",),
    "peers_connected": ("peers",),
    "seeds_swarm": ("trackerStats",),
    "peers_swarm": ("trackerStats",),
    "save_path": ("downloadDir",),
    "content_path": ("downloadDir", "name"),
    "label": ("labels",),
    "tags": ("labels",),
    "limit_down": ("downloadLimit", "downloadLimited"),
    "limit_up": ("uploadLimit", "uploadLimited"),
    "added_at": ("addedDate",),
    "completed_at": ("doneDate", "leftUntilDone"),
    "error": ("error", "errorString"),
    "is_private": ("isPrivate",),
    "files": ("files", "fileStats"),
    "trackers": ("trackerStats",),
    "peers": ("peers",),
}


def listing_fields(attributes: Iterable[str], *extra: str) -> list[str]:
    """The torrent-get fields for these attributes, plus hashString and `extra`, each once."""
    fields = dict.fromkeys(("hashString", *extra))
    for attribute in sorted(attributes):
        fields.update(dict.fromkeys(LISTING_FIELDS[attribute]))
    return list(fields)


class TorrentRow(msgspec.Struct):
    hash_string: str
    name: str = ""
    status: int = 0
    percent_done: float = 0.0
    recheck_progress: float = 0.0
    metadata_percent_complete: float = 1.0
    error: int = 0
    error_string: str = ""


class HashRow(msgspec.Struct):
    hash_string: str


# Listing rows: only the fields asked for are in a reply; the defaults are
# never read (to_torrents reads just the fields of the asked attributes).
# Collections are tuples: the empty default is shared, and a row holding
# only scalars is left untracked by the garbage collector.
class FileRow(msgspec.Struct):
    name: str = ""
    length: int = 0


class FileStatRow(msgspec.Struct):
    bytes_completed: int = 0
    wanted: bool | int = True  # 1/0 in the original protocol up to 4.0.2 (not always)
    priority: int = 0


class TrackerStatRow(msgspec.Struct):
    announce: str = ""
    tier: int = 0
    announce_state: int = 0
    has_announced: bool = False
    last_announce_succeeded: bool = False
    last_announce_timed_out: bool = False
    last_announce_result: str = ""
    seeder_count: int = -1
    leecher_count: int = -1


class TrackerRow(msgspec.Struct):
    announce: str = ""


class PeerRow(msgspec.Struct):
    address: str = ""
    port: int = 0
    client_name: str = ""
    progress: float = 0.0
    rate_to_client: int = 0
    rate_to_peer: int = 0


class ListRow(msgspec.Struct):
    hash_string: str
    id: int = 0
    name: str = ""
    status: int = 0
    error: int = 0
    error_string: str = ""
    metadata_percent_complete: float = 1.0
    percent_done: float = 0.0
    total_size: int = 0
    size_when_done: int = 0
    have_valid: int = 0
    have_unchecked: int = 0
    left_until_done: int = 0
    downloaded_ever: int = 0
    uploaded_ever: int = 0
    rate_download: int = 0
    rate_upload: int = 0
    upload_ratio: float = 0.0
    eta: int = -1
    download_dir: str = ""
    labels: tuple[str, ...] = ()
    added_date: int = 0
    done_date: int = 0
    is_private: bool = False
    # kB/s; floats from some versions (4.1.0-beta.2's session-get).
    download_limit: float = 0
    download_limited: bool = False
    upload_limit: float = 0
    upload_limited: bool = False
    #: A path on the daemon's host.
    torrent_file: str = ""
    trackers: tuple[TrackerRow, ...] = ()
    files: tuple[FileRow, ...] = ()
    file_stats: tuple[FileStatRow, ...] = ()
    tracker_stats: tuple[TrackerStatRow, ...] = ()
    peers: tuple[PeerRow, ...] = ()


class ListRows(msgspec.Struct):
    torrents: list[ListRow] = []
    #: With ids "recently-active": ids (not hashes) of torrents removed in the last 60 s.
    removed: list[int] = []


class AddedTorrent(msgspec.Struct):
    hash_string: str
    name: str = ""


class TorrentRows(msgspec.Struct):
    torrents: list[TorrentRow] = []


class HashRows(msgspec.Struct):
    torrents: list[HashRow] = []


class AddResult(msgspec.Struct):
    torrent_added: AddedTorrent | None = None
    torrent_duplicate: AddedTorrent | None = None


class Units(msgspec.Struct):
    #: Bytes in a kB of the speed fields: 1000 (kB/s) or 1024 (KiB/s).
    speed_bytes: int = DEFAULT_SPEED_UNIT


class SessionInfo(msgspec.Struct):
    version: str = ""
    rpc_version: int = 0
    rpc_version_semver: str = ""  # 4.0+
    units: Units = msgspec.field(default_factory=Units)

    @property
    def speaks_jsonrpc(self) -> bool:
        major = self.rpc_version_semver.split(".", 1)[0]
        return major.isdigit() and int(major) >= JSONRPC_MIN_SEMVER_MAJOR


#: session-get fields :class:`SessionSettings` reads (original spelling).
SESSION_FIELDS = (
    "version",
    "download-dir",
    "speed-limit-down",
    "speed-limit-down-enabled",
    "speed-limit-up",
    "speed-limit-up-enabled",
    "units",
)


class SessionSettings(msgspec.Struct):
    version: str = ""
    download_dir: str = ""
    speed_limit_down: float = 0  # 4.1.0-beta.2: 100.0
    speed_limit_down_enabled: bool = False
    speed_limit_up: float = 0
    speed_limit_up_enabled: bool = False
    units: Units = msgspec.field(default_factory=Units)


class TransferStats(msgspec.Struct):
    downloaded_bytes: int = 0
    uploaded_bytes: int = 0


class SessionStats(msgspec.Struct):
    download_speed: int = 0
    upload_speed: int = 0
    #: Since the daemon started (cumulative-stats: over every session).
    current_stats: TransferStats = msgspec.field(default_factory=TransferStats)


class FreeSpace(msgspec.Struct):
    size_bytes: int = -1


def _respelled(base: type[S], rename: Literal["camel", "kebab"] | dict[str, str], **types: Any) -> type[S]:
    """A subclass of `base` reading the same fields spelled `rename`-style.

    msgspec applies ``rename`` only to the fields a class defines itself, so
    every field is defined again; `types` replaces nested struct types.
    """
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for field in msgspec.structs.fields(base):
        kind = types.get(field.name, field.type)
        if field.required:
            fields.append((field.name, kind))
        elif field.default_factory is not msgspec.NODEFAULT:  # e.g. `= []`
            fields.append((field.name, kind, msgspec.field(default_factory=field.default_factory)))
        else:
            fields.append((field.name, kind, field.default))
    return cast(type[S], msgspec.defstruct(f"Legacy{base.__name__}", fields, bases=(base,), rename=rename))


# The original protocol's spelling: camelCase torrent fields, kebab-case the rest.
_LegacyTorrentRow = _respelled(TorrentRow, "camel")
_LegacyAddedTorrent = _respelled(AddedTorrent, "camel")
_LegacyTorrentRows = _respelled(TorrentRows, "camel", torrents=list[_LegacyTorrentRow])  # type: ignore[valid-type]
_LegacyHashRows = _respelled(HashRows, "camel", torrents=list[_respelled(HashRow, "camel")])  # type: ignore[misc]
_LegacyAddResult = _respelled(
    AddResult,
    "kebab",
    torrent_added=_LegacyAddedTorrent | None,
    torrent_duplicate=_LegacyAddedTorrent | None,
)
_LegacyUnits = _respelled(Units, "kebab")
_LegacySessionInfo = _respelled(SessionInfo, "kebab", units=_LegacyUnits)
_LegacySessionSettings = _respelled(SessionSettings, "kebab", units=_LegacyUnits)
# session-stats mixes both spellings.
_LegacySessionStats = _respelled(
    SessionStats,
    {"download_speed": "downloadSpeed", "upload_speed": "uploadSpeed", "current_stats": "current-stats"},
    current_stats=_respelled(TransferStats, "camel"),
)
_LegacyFreeSpace = _respelled(FreeSpace, "kebab")
_LegacyListRow = _respelled(
    ListRow,
    "camel",
    files=tuple[_respelled(FileRow, "camel"), ...],  # type: ignore[misc]
    file_stats=tuple[_respelled(FileStatRow, "camel"), ...],  # type: ignore[misc]
    tracker_stats=tuple[_respelled(TrackerStatRow, "camel"), ...],  # type: ignore[misc]
    peers=tuple[_respelled(PeerRow, "camel"), ...],  # type: ignore[misc]
    trackers=tuple[_respelled(TrackerRow, "camel"), ...],  # type: ignore[misc]
)
_LegacyListRows = _respelled(ListRows, "camel", torrents=list[_LegacyListRow])  # type: ignore[valid-type]


class LegacyReply(msgspec.Struct):
    result: str
    arguments: dict[str, Any] = {}


class JsonRpcError(msgspec.Struct):
    code: int = 0
    message: str = ""
    data: Any = None


class JsonRpcReply(msgspec.Struct):
    result: dict[str, Any] | None = None
    error: JsonRpcError | None = None


class Outcome(msgspec.Struct):
    """A reply in either dialect: its arguments, or the daemon's error message."""

    arguments: dict[str, Any]
    error: str | None = None


_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake(name: str) -> str:
    """hashString / download-dir → hash_string / download_dir."""
    return _CAMEL.sub(r"_\1", name).replace("-", "_").lower()


class Dialect:
    """How requests are spelled and replies decoded for one protocol generation."""

    def __init__(self, name: str, *, jsonrpc: bool) -> None:
        self.name = name
        self.jsonrpc = jsonrpc
        self.rows: type[TorrentRows] = TorrentRows if jsonrpc else _LegacyTorrentRows
        self.hashes: type[HashRows] = HashRows if jsonrpc else _LegacyHashRows
        self.add_result: type[AddResult] = AddResult if jsonrpc else _LegacyAddResult
        self.session: type[SessionInfo] = SessionInfo if jsonrpc else _LegacySessionInfo
        self.listing: type[ListRows] = ListRows if jsonrpc else _LegacyListRows
        self.session_settings: type[SessionSettings] = SessionSettings if jsonrpc else _LegacySessionSettings
        self.session_stats: type[SessionStats] = SessionStats if jsonrpc else _LegacySessionStats
        self.free_space: type[FreeSpace] = FreeSpace if jsonrpc else _LegacyFreeSpace
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(JsonRpcReply if jsonrpc else LegacyReply)
        self._reply_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}

    def request(self, method: str, arguments: dict[str, Any] | None, request_id: int) -> dict[str, Any]:
        if not self.jsonrpc:
            request: dict[str, Any] = {"method": method, "tag": request_id}
            if arguments:
                request["arguments"] = arguments
            return request
        request = {"jsonrpc": "2.0", "method": snake(method), "id": request_id}
        if arguments:
            request["params"] = {snake(key): self._value(key, value) for key, value in arguments.items()}
        return request

    @staticmethod
    def _value(key: str, value: Any) -> Any:
        if key == "fields":
            return [snake(field) for field in value]
        if key == "ids" and value == RECENTLY_ACTIVE:
            return snake(value)
        return value

    def reply_decoder(self, shape: type[S]) -> msgspec.json.Decoder[Any]:
        """A decoder of whole replies carrying `shape` as their arguments: one
        pass from the body to Structs, unknown fields skipped (built once)."""
        decoder = self._reply_decoders.get(shape)
        if decoder is None:
            reply: type[msgspec.Struct]
            if self.jsonrpc:
                fields: list[tuple[str, Any, Any]] = [
                    ("result", shape | None, None),
                    ("error", JsonRpcError | None, None),
                ]
                reply = msgspec.defstruct(f"JsonRpc{shape.__name__}Reply", fields)
            else:
                fields = [("arguments", shape, msgspec.field(default_factory=shape))]
                reply = msgspec.defstruct(f"Legacy{shape.__name__}Reply", [("result", str), *fields])
            decoder = self._reply_decoders[shape] = msgspec.json.Decoder(reply)
        return decoder

    def decode_as(self, body: bytes | bytearray, shape: type[S]) -> tuple[S, str | None]:
        """(the reply's arguments as `shape`, None), or (empty `shape`, the daemon's error).

        Raises msgspec.DecodeError for a body of neither shape and
        msgspec.ValidationError for arguments not of `shape` in a successful reply.
        """
        try:
            reply: Any = self.reply_decoder(shape).decode(body)
        except msgspec.ValidationError:
            # An error reply's arguments may be of any shape: its error comes first.
            outcome = self.decode(body)
            if outcome.error is not None:
                return shape(), outcome.error
            raise
        if self.jsonrpc:
            if reply.error is not None:
                return shape(), self._error_message(reply.error)
            return (shape() if reply.result is None else reply.result), None
        if reply.result == "success":
            return reply.arguments, None
        return reply.arguments, reply.result

    @staticmethod
    def _error_message(error: JsonRpcError) -> str:
        message = error.message
        if isinstance(error.data, dict) and error.data.get("error_string"):
            message = f"{message}: {error.data['error_string']}"
        return message or f"error {error.code}"

    def decode(self, body: bytes | bytearray) -> Outcome:
        """Raises msgspec.DecodeError for a body of neither shape."""
        reply = self._decoder.decode(body)
        if isinstance(reply, LegacyReply):
            if reply.result == "success":
                return Outcome(arguments=reply.arguments)
            return Outcome(arguments=reply.arguments, error=reply.result)
        if reply.error is not None:
            return Outcome(arguments={}, error=self._error_message(reply.error))
        return Outcome(arguments=reply.result or {})


#: torrent-get ids: torrents active (or changed, 4.x) in the last 60 s, and the removed ones' ids.
RECENTLY_ACTIVE = "recently-active"

LEGACY = Dialect("legacy", jsonrpc=False)
JSONRPC = Dialect("json-rpc 2.0", jsonrpc=True)

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


def state_of(status: int, error: int, metadata_percent_complete: float) -> tuple[TorrentState, bool | None]:
    """(state, stopped) from tr_stat's status, error and metadata progress: one rule
    for the snapshot and the listing."""
    state, stopped = _STATES.get(status, (TorrentState.unknown, None))
    if error == _LOCAL_ERROR and state is not TorrentState.verifying:
        state = TorrentState.error
    elif state is TorrentState.downloading and metadata_percent_complete < 1:
        state = TorrentState.metadata
    return state, stopped


def to_status(row: TorrentRow) -> TorrentStatus:
    """One torrent-get row as a domain TorrentStatus."""
    state, stopped = state_of(row.status, row.error, row.metadata_percent_complete)
    return TorrentStatus(
        infohash=row.hash_string.lower(),
        name=row.name,
        state=state,
        stopped=stopped,
        progress=row.percent_done,
        verify_progress=row.recheck_progress if state is TorrentState.verifying else None,
        error=row.error_string or None,
    )


#: tr_stat ratio and eta sentinels (transmission.h).
_RATIO_NA, _RATIO_INF = -1, -2
_PRIORITIES = {-1: FilePriority.low, 0: FilePriority.normal, 1: FilePriority.high}
#: tr_tracker_stat.announceState: TR_TRACKER_ACTIVE is an announce under way.
_ANNOUNCING = 3


def _file(row: FileRow, stat: FileStatRow) -> TorrentFileInfo:
    # Names start with the torrent's folder for multi-file torrents; a
    # single-file torrent's one file is just its name.
    _, _, path = row.name.partition("/")
    return TorrentFileInfo(
        path=path or row.name,
        size=row.length,
        progress=stat.bytes_completed / row.length if row.length else 1.0,
        wanted=bool(stat.wanted),
        priority=_PRIORITIES.get(stat.priority, FilePriority.normal),
    )


def _count(value: int) -> int | None:
    return value if value >= 0 else None


def _tracker(row: TrackerStatRow) -> TrackerInfo:
    if row.announce_state == _ANNOUNCING:
        status = TrackerStatus.updating
    elif not row.has_announced:
        status = TrackerStatus.not_contacted
    elif row.last_announce_succeeded:
        status = TrackerStatus.working
    else:
        status = TrackerStatus.error
    return TrackerInfo(
        url=row.announce,
        tier=row.tier,
        status=status,
        seeds=_count(row.seeder_count),
        peers=_count(row.leecher_count),
        message=row.last_announce_result or None,
    )


def _peer(row: PeerRow) -> PeerInfo:
    host = f"[{row.address}]" if ":" in row.address else row.address
    return PeerInfo(
        address=f"{host}:{row.port}",
        client=row.client_name or None,
        progress=row.progress,
        rate_down=row.rate_to_client,
        rate_up=row.rate_to_peer,
    )


def _swarm(counts: Iterable[int]) -> int | None:
    known = [count for count in counts if count >= 0]
    return max(known) if known else None


def _ratio(ratio: float) -> float:
    # Transmission divides by the verified bytes when nothing was downloaded.
    return math.inf if ratio == _RATIO_INF else 0.0 if ratio == _RATIO_NA else ratio


def _eta(eta: int, left_until_done: int) -> timedelta | None:
    # A finished torrent's eta is the time to its seed ratio limit: not ours.
    return None if left_until_done == 0 or eta < 0 else timedelta(seconds=eta)


def _completed_at(row: ListRow) -> datetime | None:
    # doneDate stays after a verification found pieces missing again.
    return timestamp(row.done_date) if row.left_until_done == 0 else None


#: Attributes that are a listing row's field as it is.
_FIELDS: dict[str, str] = {
    "name": "name",
    "progress": "percent_done",
    "size_total": "total_size",
    "size_wanted": "size_when_done",
    "downloaded": "downloaded_ever",
    "uploaded": "uploaded_ever",
    "rate_down": "rate_download",
    "rate_up": "rate_upload",
    "save_path": "download_dir",
    "is_private": "is_private",
}

#: The other attributes, from a row holding the fields LISTING_FIELDS names
#: for them. ``label`` is the first of Transmission's labels, ``tags`` the others.
_VALUES: dict[str, Callable[[ListRow], Any]] = {
    "infohash_v2": lambda row: None,
    "state": lambda row: state_of(row.status, row.error, row.metadata_percent_complete)[0],
    "size_done": lambda row: row.have_valid + row.have_unchecked,
    "ratio": lambda row: _ratio(row.upload_ratio),
    "eta": lambda row: _eta(row.eta, row.left_until_done),
    "seeds_connected": lambda row: sum(1 for peer in row.peers if peer.progress >= 1),
    "peers_connected": lambda row: sum(1 for peer in row.peers if peer.progress < 1),
    "seeds_swarm": lambda row: _swarm(tracker.seeder_count for tracker in row.tracker_stats),
    "peers_swarm": lambda row: _swarm(tracker.leecher_count for tracker in row.tracker_stats),
    "content_path": lambda row: posixpath.join(row.download_dir, row.name),
    "label": lambda row: row.labels[0] if row.labels else None,
    "tags": lambda row: row.labels[1:],
    "added_at": lambda row: timestamp(row.added_date),
    "completed_at": _completed_at,
    "error": lambda row: (row.error_string or f"error {row.error}") if row.error else None,
    "files": lambda row: tuple(map(_file, row.files, row.file_stats)),
    "trackers": lambda row: tuple(map(_tracker, row.tracker_stats)),
    "peers": lambda row: tuple(map(_peer, row.peers)),
}


#: What Transmission strips off a label (C isspace): such a label would be stored altered.
_LABEL_SPACE = " \t\n\v\f\r"


def label_refusal(label: str) -> str | None:
    """Why Transmission can't store `label` exactly as it is; None if it can."""
    if "," in label:
        return f"Transmission labels can't contain a comma: {label!r}"
    if not label.strip(_LABEL_SPACE):
        return "Transmission labels can't be empty"
    if label != label.strip(_LABEL_SPACE):
        return f"Transmission strips spaces off the ends of labels: {label!r}"
    return None


def limit_from_wire(limit: float, limited: bool, unit: int) -> int | None:
    """A speed limit field pair as bytes/s; None for unlimited."""
    return round(limit * unit) if limited else None


def limit_to_wire(limit: int | None, unit: int) -> tuple[int, bool]:
    """Bytes/s (None: unlimited) as the (limit, limited) field pair: the
    nearest whole unit, at least one for a positive limit."""
    if limit is None:
        return 0, False
    return (max(1, round(limit / unit)) if limit > 0 else 0), True


@functools.lru_cache(maxsize=64)
def _maker(attributes: frozenset[str], unit: int) -> TorrentMaker[ListRow]:
    values = {
        **_VALUES,
        "limit_down": lambda row: limit_from_wire(row.download_limit, row.download_limited, unit),
        "limit_up": lambda row: limit_from_wire(row.upload_limit, row.upload_limited, unit),
    }
    return TorrentMaker(attributes, _FIELDS, values)


def to_torrents(rows: Sequence[ListRow], attributes: frozenset[str], unit: int = DEFAULT_SPEED_UNIT) -> list[Torrent]:
    """Listing rows as Torrents with just `attributes` set; speed limits
    counted in `unit` bytes/s (session-get's units.speed-bytes)."""
    make = _maker(attributes, unit)
    return [make(row.hash_string.lower(), row) for row in rows]


def to_torrent(row: ListRow, attributes: frozenset[str], unit: int = DEFAULT_SPEED_UNIT) -> Torrent:
    """One listing row as a Torrent with just `attributes` set."""
    return to_torrents([row], attributes, unit)[0]


def to_session(settings: SessionSettings, stats: SessionStats, free_space: int | None) -> Session:
    """session-get, session-stats and free-space of the download dir as a domain Session."""
    unit = settings.units.speed_bytes
    return Session(
        client="transmission",
        version=settings.version or None,
        rate_down=stats.download_speed,
        rate_up=stats.upload_speed,
        downloaded=stats.current_stats.downloaded_bytes,
        uploaded=stats.current_stats.uploaded_bytes,
        limit_down=limit_from_wire(settings.speed_limit_down, settings.speed_limit_down_enabled, unit),
        limit_up=limit_from_wire(settings.speed_limit_up, settings.speed_limit_up_enabled, unit),
        save_path=settings.download_dir or None,
        free_space=free_space,
    )
