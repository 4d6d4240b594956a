"""rTorrent's reply shapes and their mapping to domain values.

A status read and a listing ask for columns (:data:`STATUS_COLUMNS`,
:func:`columns_for`): of every torrent in one ``d.multicall2``, of a few in
a ``system.multicall`` of each one's getters. Either way the integer getters
are packed into one string per torrent (:class:`Multicall2`), and msgspec
validates the rows (``array_like``). A listing row becomes a
:class:`ListingRow` and then a Torrent (:func:`to_torrent`).
"""

from __future__ import annotations

import functools
import math
import operator
import posixpath
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal, NamedTuple, Protocol

import msgspec

from ...domain.source import TorrentSource
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


def _fraction(part: int, whole: int) -> float:
    if whole <= 0:
        return 0.0
    return min(max(part / whole, 0.0), 1.0)


class StatusFields(Protocol):
    """The getters :func:`to_status` reads: a row of :data:`STATUS_COLUMNS` or a ListingRow."""

    @property
    def hash(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def state(self) -> int: ...
    @property
    def is_open(self) -> int: ...
    @property
    def is_active(self) -> int: ...
    @property
    def complete(self) -> int: ...
    @property
    def hashing(self) -> int: ...
    @property
    def is_hash_checking(self) -> int: ...
    @property
    def chunks_hashed(self) -> int: ...
    @property
    def size_chunks(self) -> int: ...
    @property
    def completed_bytes(self) -> int: ...
    @property
    def size_bytes(self) -> int: ...
    @property
    def message(self) -> str: ...
    @property
    def is_meta(self) -> int: ...


def to_status(row: StatusFields) -> TorrentStatus:
    """The domain status of one torrent.

    rTorrent users know three forms: closed (is_open=0), paused (open, not
    active) and started (open, active); only the last transfers. While a
    torrent is hashed (or queued for it) rTorrent makes it inactive, but
    d.state still tells what comes after: 1 means it starts when the check
    is done, 0 that it stays stopped (measured on 0.9.8).
    """
    state, stopped, error = _state(row)
    verify_progress: float | None = None
    if state is TorrentState.verifying:
        # A queued check has hashed nothing yet.
        verify_progress = _fraction(row.chunks_hashed, row.size_chunks) if row.is_hash_checking else 0.0
    return TorrentStatus(
        infohash=row.hash.lower(),
        name=row.name,
        state=state,
        stopped=stopped,
        progress=_fraction(row.completed_bytes, row.size_bytes),
        verify_progress=verify_progress,
        error=error,
    )


def _state(row: Any) -> tuple[TorrentState, bool, str | None]:
    """State, whether stopped, and error of `row`: :func:`to_status`'s rule, reading only
    the ``_STATUS`` getters (a listing row may have no others)."""
    if row.hashing or row.is_hash_checking:
        return TorrentState.verifying, row.state == 0, None
    if not (row.is_open and row.is_active):
        # Tracker messages are not the torrent's failure; others (e.g. a
        # storage error that stopped it) are.
        message = row.message
        return TorrentState.stopped, True, (message if message and not message.startswith("Tracker:") else None)
    if row.is_meta:
        return TorrentState.metadata, False, None
    return (TorrentState.seeding if row.complete else TorrentState.downloading), False, None


# --- listing -------------------------------------------------------------------------------
class Column(NamedTuple):
    """One value per torrent: a d.* getter, or an f./t./p.multicall over its items.

    ``key`` names the :class:`ListingRow` field it fills.
    """

    key: str
    method: str
    #: Arguments after the target: the multicalls' item filter and getters.
    args: tuple[str, ...] = ()

    def multicall2_arg(self) -> str:
        """The column as a d.multicall2 command (``d.name=``, ``f.multicall=,f.path=``)."""
        return f"{self.method}={','.join(self.args)}"

    def call(self, wire_hash: str) -> tuple[str, tuple[str, ...]]:
        """The column as a call of a system.multicall, for one torrent."""
        return self.method, (wire_hash, *self.args)


#: ListingRow field → its d.* getter.
GETTERS: Mapping[str, str] = {
    "hash": "d.hash",
    **{field: f"d.{field}" for field in (
        "name", "state", "is_open", "is_active", "complete", "hashing", "is_hash_checking",
        "chunks_hashed", "size_chunks", "completed_bytes", "size_bytes", "message", "is_meta",
        "left_bytes", "wanted_chunks", "chunk_size", "ratio", "peers_connected", "peers_complete",
        "directory", "is_multi_file", "base_path", "custom1", "load_date", "is_private",
    )},
    "down_total": "d.down.total",
    "up_total": "d.up.total",
    "down_rate": "d.down.rate",
    "up_rate": "d.up.rate",
    "timestamp_finished": "d.timestamp.finished",
}  # fmt: skip

#: Listing columns that are not plain d.* getters, by ListingRow field: a torrent's
#: own rate limits, the max rates of its throttle group (bytes/s). ``branch`` runs
#: the command strings with the download as target, in d.multicall2 and in a
#: system.multicall alike; a torrent in no group reads 0, not the global limit
#: that ``throttle.down.max=""`` would give. A group reads 0 while the global
#: limit is off (rTorrent applies group limits only under a global one) and -1
#: when it has no limit that way.
COMPUTED: Mapping[str, Column] = {
    f"throttle_{direction}": Column(
        f"throttle_{direction}",
        "branch",
        ("d.throttle_name=", f"throttle.{direction}.max=$d.throttle_name=", "value=0"),
    )
    for direction in ("down", "up")
}

#: What to_status() reads for state and error (its progress and name aren't used here).
_STATUS = ("state", "is_open", "is_active", "complete", "hashing", "is_hash_checking", "message", "is_meta")

#: What to_status() reads: a torrent's status.
STATUS_COLUMNS = tuple(
    Column(key, GETTERS[key])
    for key in ("hash", "name", *_STATUS, "chunks_hashed", "size_chunks", "completed_bytes", "size_bytes")
)

#: Attribute → the getters it is computed from (GETTERS keys).
ATTRIBUTE_GETTERS: Mapping[str, tuple[str, ...]] = {
    "infohash_v2": (),  # rTorrent knows no v2 hashes
    "name": ("name",),
    "state": _STATUS,
    "progress": ("completed_bytes", "size_bytes"),
    "size_total": ("size_bytes",),
    "size_wanted": (),  # summed over files
    "size_done": ("completed_bytes",),
    "downloaded": ("down_total",),
    "uploaded": ("up_total",),
    "rate_down": ("down_rate",),
    "rate_up": ("up_rate",),
    "ratio": ("ratio", "is_hash_checking"),
    "eta": ("complete", "down_rate", "left_bytes", "wanted_chunks", "chunk_size"),
    "seeds_connected": ("peers_complete",),
    "peers_connected": ("peers_connected", "peers_complete"),
    "seeds_swarm": (),  # from the trackers
    "peers_swarm": (),
    "save_path": ("directory", "is_multi_file"),
    "content_path": ("base_path", "directory", "is_multi_file", "name"),
    "label": ("custom1",),
    "tags": (),
    "added_at": ("load_date",),
    "completed_at": ("timestamp_finished",),
    "limit_down": ("throttle_down",),
    "limit_up": ("throttle_up",),
    "error": _STATUS,  # the same rule as the snapshot's
    "is_private": ("is_private",),
    "files": (),
    "trackers": (),
    "peers": (),
}

#: Getters whose values come from the info dict, so can't change for an infohash
#: (but for a magnet's meta download, which rTorrent replaces with the real one).
STATIC_GETTERS = frozenset({"name", "size_bytes", "size_chunks", "chunk_size", "is_private", "is_multi_file"})

# Each item multicall reads a prefix of its getters: the rest of the row's
# fields keep their defaults (array_like Structs take shorter arrays).
_FILE_GETTERS = ("f.size_bytes=", "f.priority=", "f.path=", "f.completed_chunks=", "f.size_chunks=")
_TRACKER_GETTERS = (
    "t.scrape_time_last=", "t.scrape_complete=", "t.scrape_incomplete=",
    "t.url=", "t.group=", "t.is_enabled=", "t.is_busy=", "t.success_counter=", "t.failed_counter=",
)  # fmt: skip
_PEER_GETTERS = ("p.address=", "p.port=", "p.client_version=", "p.completed_percent=", "p.down_rate=", "p.up_rate=")


class FileRow(msgspec.Struct, array_like=True, frozen=True):
    size_bytes: int
    priority: int  # 0 off, 1 normal, 2 high
    path: str = ""  # without the torrent's folder
    completed_chunks: int = 0
    size_chunks: int = 0


class TrackerRow(msgspec.Struct, array_like=True, frozen=True):
    scrape_time_last: int  # 0: no scrape (nor announce reply with counts) yet
    scrape_complete: int
    scrape_incomplete: int
    url: str = ""
    group: int = 0
    is_enabled: int = 1
    is_busy: int = 0
    success_counter: int = 0
    failed_counter: int = 0  # reset by a success


class PeerRow(msgspec.Struct, array_like=True, frozen=True):
    address: str  # IPv6 already in brackets
    port: int
    client_version: str  # "Unknown" when rTorrent doesn't know the client
    completed_percent: int
    down_rate: int
    up_rate: int


class ListingRow(msgspec.Struct, frozen=True, kw_only=True):
    """One torrent as the listing's columns report it; fields not asked keep their defaults."""

    hash: str
    name: str = ""
    state: int = 0  # 1: the user wants it started (d.start), 0: stopped
    is_open: int = 0
    is_active: int = 0
    complete: int = 0
    hashing: int = 0  # 0: not hashing; 1 initial, 2 on completion, 3 rehash — also while queued
    is_hash_checking: int = 0  # 1 only while its data is being hashed right now
    chunks_hashed: int = 0
    size_chunks: int = 0
    completed_bytes: int = 0
    size_bytes: int = 0
    message: str = ""
    is_meta: int = 0
    left_bytes: int = 0
    wanted_chunks: int = 0
    chunk_size: int = 0
    ratio: int = 0  # per mille of uploaded / bytes done; 0 while hashed
    peers_connected: int = 0
    peers_complete: int = 0
    directory: str = ""  # multi-file: the torrent's own folder
    is_multi_file: int = 0
    base_path: str = ""  # empty while closed
    custom1: str = ""
    load_date: int = 0
    is_private: int = 0
    down_total: int = 0
    up_total: int = 0
    down_rate: int = 0
    up_rate: int = 0
    timestamp_finished: int = 0
    throttle_down: int = 0
    throttle_up: int = 0
    files: list[FileRow] = []
    trackers: list[TrackerRow] = []
    peers: list[PeerRow] = []


def columns_for(attributes: Iterable[str], *, skip: Iterable[str] = ()) -> list[Column]:
    """The columns a listing of `attributes` asks for, d.hash first; without getters in `skip`."""
    names = frozenset(attributes)
    keys = dict.fromkeys(["hash", *(key for name in sorted(names) for key in ATTRIBUTE_GETTERS[name])])
    for key in skip:
        if key != "hash":
            keys.pop(key, None)
    columns = [Column(key, GETTERS[key]) if key in GETTERS else COMPUTED[key] for key in keys]
    if "files" in names:
        columns.append(Column("files", "f.multicall", ("", *_FILE_GETTERS)))
    elif "size_wanted" in names:
        columns.append(Column("files", "f.multicall", ("", *_FILE_GETTERS[:2])))
    if "trackers" in names:
        columns.append(Column("trackers", "t.multicall", ("", *_TRACKER_GETTERS)))
    elif names & {"seeds_swarm", "peers_swarm"}:
        columns.append(Column("trackers", "t.multicall", ("", *_TRACKER_GETTERS[:3])))
    if "peers" in names:
        columns.append(Column("peers", "p.multicall", ("", *_PEER_GETTERS)))
    return columns


def to_listing_row(columns: Sequence[Column], values: Sequence[Any]) -> ListingRow:
    """Validate one row of `columns`' values; raises msgspec.ValidationError (or TypeError)."""
    if len(values) != len(columns):
        raise TypeError(f"{len(values)} values for {len(columns)} columns")
    return msgspec.convert({column.key: value for column, value in zip(columns, values, strict=True)}, ListingRow)


def _file(row: FileRow) -> TorrentFileInfo:
    wanted = row.priority > 0
    return TorrentFileInfo(
        path=row.path,
        size=row.size_bytes,
        # An empty file has nothing to download.
        progress=_fraction(row.completed_chunks, row.size_chunks) if row.size_bytes else 1.0,
        wanted=wanted,
        priority=(FilePriority.high if row.priority >= 2 else FilePriority.normal) if wanted else None,
    )


def _tracker(row: TrackerRow) -> TrackerInfo:
    if not row.is_enabled:
        status = TrackerStatus.disabled
    elif row.is_busy:
        status = TrackerStatus.updating
    elif row.failed_counter:
        status = TrackerStatus.error
    elif row.success_counter:
        status = TrackerStatus.working
    else:
        status = TrackerStatus.not_contacted
    scraped = row.scrape_time_last > 0
    return TrackerInfo(
        url=row.url,
        tier=row.group,
        status=status,
        seeds=row.scrape_complete if scraped else None,
        peers=row.scrape_incomplete if scraped else None,
        message=None,  # rTorrent keeps no message per tracker
    )


def _peer(row: PeerRow) -> PeerInfo:
    client = row.client_version if row.client_version not in ("", "Unknown") else None
    return PeerInfo(
        address=f"{row.address}:{row.port}",
        client=client,
        progress=min(max(row.completed_percent / 100, 0.0), 1.0),
        rate_down=row.down_rate,
        rate_up=row.up_rate,
    )


def _swarm(rows: Sequence[TrackerRow], complete: bool) -> int | None:
    counts = [(r.scrape_complete if complete else r.scrape_incomplete) for r in rows if r.scrape_time_last > 0]
    return max(counts) if counts else None


def _eta(row: ListingRow) -> timedelta | None:
    # Wanted chunks left bound what is left of the files to download.
    left = min(row.left_bytes, row.wanted_chunks * row.chunk_size)
    if row.complete or left <= 0 or row.down_rate <= 0:
        return None
    return timedelta(seconds=math.ceil(left / row.down_rate))


def _save_path(row: ListingRow) -> str:
    # A multi-file torrent's d.directory is its own folder.
    directory = row.directory.rstrip("/") or row.directory
    return posixpath.dirname(directory) if row.is_multi_file else directory


def _content_path(row: ListingRow) -> str:
    if row.base_path:
        return row.base_path
    # Closed: rTorrent clears base_path, but the content is where it was.
    directory = row.directory.rstrip("/") or row.directory
    return directory if row.is_multi_file else posixpath.join(directory, row.name)


def to_torrent(row: ListingRow, attributes: Iterable[str]) -> Torrent:
    """The Torrent of one row, with just `attributes` set."""
    return listing(frozenset(attributes)).torrent(row)


#: Attribute → its value from a row (state and error: _state), a ListingRow or a Listing row.
_VALUES: Mapping[str, Callable[[Any], Any]] = {
    "infohash_v2": lambda row: None,
    "name": operator.attrgetter("name"),
    "progress": lambda row: _fraction(row.completed_bytes, row.size_bytes),
    "size_total": operator.attrgetter("size_bytes"),
    "size_wanted": lambda row: sum(f.size_bytes for f in row.files if f.priority > 0),
    "size_done": operator.attrgetter("completed_bytes"),
    "downloaded": operator.attrgetter("down_total"),
    "uploaded": operator.attrgetter("up_total"),
    "rate_down": operator.attrgetter("down_rate"),
    "rate_up": operator.attrgetter("up_rate"),
    "ratio": lambda row: None if row.is_hash_checking else row.ratio / 1000,
    "eta": _eta,
    "seeds_connected": operator.attrgetter("peers_complete"),
    "peers_connected": lambda row: max(row.peers_connected - row.peers_complete, 0),
    "seeds_swarm": lambda row: _swarm(row.trackers, complete=True),
    "peers_swarm": lambda row: _swarm(row.trackers, complete=False),
    "save_path": _save_path,
    "content_path": _content_path,
    # ruTorrent's convention: percent-encoded.
    "label": lambda row: urllib.parse.unquote(row.custom1) or None,
    "tags": lambda row: (),
    "added_at": lambda row: timestamp(row.load_date),
    "completed_at": lambda row: timestamp(row.timestamp_finished),
    "limit_down": lambda row: row.throttle_down if row.throttle_down > 0 else None,
    "limit_up": lambda row: row.throttle_up if row.throttle_up > 0 else None,
    "is_private": lambda row: bool(row.is_private),
    "files": lambda row: tuple(_file(f) for f in row.files),
    # rTorrent lists DHT as a tracker ("dht://") for public torrents.
    "trackers": lambda row: tuple(_tracker(t) for t in row.trackers if not t.url.startswith("dht://")),
    "peers": lambda row: tuple(_peer(p) for p in row.peers),
}


class Multicall2:
    """How d.multicall2 reads some columns: the integer getters packed into one
    column, ``cat=$d.state=,:,$d.is_open=,...`` (``"1:0:..."``).

    Each value costs the daemon XML to write and us XML to parse: one string
    for all the integers costs a fraction (``cat`` and ``$`` commands
    measured on 0.9.8 and 0.16.17). Built once per columns (:func:`multicall2`).
    """

    def __init__(self, columns: tuple[Column, ...]) -> None:
        types = {field.name: field.type for field in msgspec.structs.fields(ListingRow)}
        packed = [c for c in columns if c.method.startswith("d.") and not c.args and types[c.key] is int]
        if len(packed) < 2:
            packed = []
        others = [c for c in columns if c not in packed]
        #: The columns as d.multicall2 asks them: the integer getters last, in one.
        self.wire_columns = others
        if packed:
            self.wire_columns = [*others, Column("packed", "cat", (",:,".join(f"${c.method}=" for c in packed),))]
        #: The columns in the order of an unpacked row's values.
        self.columns = [*others, *packed]
        self._packed = len(packed)
        #: One row of the values, unpacked (array_like: validated with no dict per row).
        self.row_type = msgspec.defstruct(
            "Row",
            [(c.key, types[c.key]) for c in self.columns],
            array_like=True,
            forbid_unknown_fields=True,
            frozen=True,
            gc=False,
        )
        self._rows_type: Any = list[self.row_type]  # type: ignore[name-defined]

    def args(self) -> list[str]:
        """The arguments of d.multicall2 after its target and view."""
        return [column.multicall2_arg() for column in self.wire_columns]

    def calls(self, wire_hash: str) -> list[tuple[str, tuple[str, ...]]]:
        """The columns of one torrent as calls of a system.multicall, their results a row
        as d.multicall2 gives it. The packed column is a ``branch`` whose condition
        (d.hash) holds, so that its command string runs with the torrent as target."""
        calls = [column.call(wire_hash) for column in self.wire_columns]
        if self._packed:
            calls[-1] = ("branch", (wire_hash, "d.hash=", self.wire_columns[-1].multicall2_arg()))
        return calls

    def unpack(self, reply: Any) -> list[Any]:
        """The rows of a reply, as lists of values in :attr:`columns` order; raises TypeError."""
        if not isinstance(reply, list):
            raise TypeError("not a list")
        if not self._packed:
            return reply
        width, packed = len(self.wire_columns), self._packed
        unpacked = []
        for values in reply:
            if not isinstance(values, list) or len(values) != width or not isinstance(values[-1], str):
                raise TypeError(f"not a row of {width} values, the last a string")
            ints = values[-1].split(":")
            if len(ints) != packed:
                raise TypeError(f"not {packed} integers: {values[-1]!r}")
            try:
                unpacked.append([*values[:-1], *map(int, ints)])
            except ValueError:
                raise TypeError(f"not {packed} integers: {values[-1]!r}") from None
        return unpacked

    def rows(self, reply: Any) -> list[Any]:
        """The rows of a reply, of :attr:`row_type`; raises msgspec.ValidationError or TypeError."""
        rows: list[Any] = msgspec.convert(self.unpack(reply), self._rows_type)
        return rows


@functools.lru_cache(maxsize=64)
def multicall2(columns: tuple[Column, ...]) -> Multicall2:
    """The :class:`Multicall2` of `columns`, built once."""
    return Multicall2(columns)


#: How a status is read (rows of its ``row_type`` are :class:`StatusFields`).
STATUS = multicall2(STATUS_COLUMNS)


class Listing:
    """A listing of some attributes: its columns, how d.multicall2 reads them, and how
    a row becomes a Torrent. Built once per set of attributes (:func:`listing`),
    so that a row costs no more than reading its values."""

    def __init__(self, attributes: frozenset[str]) -> None:
        #: The columns, each getter on its own (as system.multicall takes them).
        self.columns = columns_for(attributes)
        self.multicall2 = multicall2(tuple(self.columns))
        self._state = "state" in attributes
        self._error = "error" in attributes
        self._values = tuple((name, _VALUES[name]) for name in sorted(attributes - {"state", "error"}))

    def torrent(self, row: Any) -> Torrent:
        """The Torrent of one row (of :attr:`row_type`, or a ListingRow)."""
        values = {name: value(row) for name, value in self._values}
        if self._state or self._error:
            state, _, error = _state(row)
            if self._state:
                values["state"] = state
            if self._error:
                values["error"] = error
        return Torrent(infohash=row.hash.lower(), **values)


@functools.lru_cache(maxsize=64)
def listing(attributes: frozenset[str]) -> Listing:
    """The :class:`Listing` of `attributes`, built once."""
    return Listing(attributes)


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


# --- labels and limits ------------------------------------------------------------------
#: ruTorrent keeps labels no longer than this, encoded.
MAX_LABEL_SIZE = 4096


def encode_label(label: str) -> str:
    """`label` as ruTorrent stores it in d.custom1: PHP's rawurlencode (RFC 3986:
    everything but letters, digits and ``-_.~`` percent-encoded as UTF-8)."""
    return urllib.parse.quote(label, safe="")


#: rTorrent counts throttle rates in KiB/s (throttle.down/up: KiB, the global
#: max_rate.set: bytes shifted right by 10).
LIMIT_UNIT = 1024
#: The highest global limit rTorrent 0.9.8-0.16 takes, in KiB/s: it sets its
#: number of unchoked peers to 10 + rate/5, which must stay under 2^16
#: ("Max unchoked must be between 0 and 2^16"). Set when a torrent gets a limit
#: while the global one is off: rTorrent applies a throttle group's limit only
#: under a global limit (libtorrent's slave throttles tick with the root one).
GLOBAL_LIMIT_FOR_GROUPS_KIB = 327_630


def limit_kib(limit: int | None) -> int:
    """A limit in bytes/s (None: unlimited) in rTorrent's KiB/s: the nearest, at
    least 1 for a positive limit; 0 means unlimited."""
    if limit is None or limit <= 0:
        return 0
    return max(1, round(limit / LIMIT_UNIT))


def throttle_group(down_kib: int, up_kib: int) -> str:
    """The throttle group of torrents limited to these rates: one group per pair
    (d.throttle_name takes one name for both directions); "" for none."""
    if not down_kib and not up_kib:
        return ""
    return f"aiobtc_d{down_kib}_u{up_kib}"


_GROUP = re.compile(r"^aiobtc_d(\d+)_u(\d+)$")


def group_rates(name: Any, down: Any, up: Any) -> tuple[int, int]:
    """A torrent's (down, up) limits in KiB/s (0: none) from its throttle group's name
    (ours tell their rates even while the global limit is off) or else its max rates."""
    if isinstance(name, str) and (match := _GROUP.match(name)):
        return int(match.group(1)), int(match.group(2))

    def kib(value: Any) -> int:
        return value // LIMIT_UNIT if isinstance(value, int) and value > 0 else 0

    return kib(down), kib(up)


# --- data on the daemon's host ------------------------------------------------------------
# rTorrent never deletes nor moves data. Its own execute.capture runs these
# POSIX sh scripts on the daemon's host (wherever it runs: a container, another
# machine), with paths as separate arguments (no shell quoting involved). Each
# exits 0 so that execute.capture hands back its output: empty (delete) or "OK"
# (move, probe) on success, else the tools' own messages.

#: Whether execute.capture works (an untrusted SCGI connection of 0.16 refuses it).
PROBE_SCRIPT = "echo OK"

#: Triples "ID ROOT COUNT" each followed by COUNT files under ROOT (a torrent's
#: own folder). Deletes each file (a symlink as a link), never through a
#: symlinked folder; prints "ID<tab>problem" lines.
DELETE_SCRIPT = r"""while [ $# -gt 0 ]; do
  id=$1 root=$2 n=$3; shift 3
  real=$(cd -P -- "$root" 2>/dev/null && pwd) || real=
  while [ "$n" -gt 0 ]; do
    f=$1; shift; n=$((n - 1))
    [ -n "$real" ] || continue
    dir=${f%/*}
    if [ -d "$dir" ] && [ "$(cd -P -- "$dir" 2>/dev/null && pwd)" != "$real${dir#"$root"}" ]; then
      printf '%s\t%s\n' "$id" "not deleted, its folder is a symlink: $f"
      continue
    fi
    out=$(rm -f -- "$f" 2>&1) || printf '%s\t%s\n' "$id" "$out"
  done
done
exit 0"""

#: Folders, deepest first: each removed if empty.
RMDIR_SCRIPT = r"""for d do rmdir -- "$d" 2>/dev/null; done
exit 0"""

#: $1: the content (folder or file), $2: where it goes, $3: the folder that gets it.
MOVE_SCRIPT = r"""if [ -e "$2" ] || [ -L "$2" ]; then printf '%s already exists\n' "$2"; exit 0; fi
if [ ! -e "$1" ] && [ ! -L "$1" ]; then echo OK; exit 0; fi
out=$(mkdir -p -- "$3" 2>&1) || { printf '%s\n' "$out"; exit 0; }
out=$(mv -- "$1" "$2" 2>&1) || { printf '%s\n' "$out"; exit 0; }
echo OK"""

#: execute.* takes at most 128 arguments (rpc::ExecFile::max_args, 0.9.8-0.16):
#: paths per call, after "sh -c SCRIPT sh ROOT".
PATHS_PER_CALL = 100


#: A call of a system.multicall: method, arguments.
ScriptCall = tuple[str, tuple[str, ...]]


def script_call(script: str, *args: str) -> ScriptCall:
    """An execute.capture call running `script` with `args` as $1, $2, ..."""
    return "execute.capture", ("", "sh", "-c", script, "sh", *args)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


class Removal(NamedTuple):
    """What deleting one torrent's data takes: its folder, files, and the folders
    its files leave empty (deepest first; none for a single file)."""

    root: str
    files: list[str]
    folders: list[str]


def removal(directory: str, is_multi_file: int, files: Sequence[Sequence[str]]) -> Removal | str:
    """The :class:`Removal` of a torrent from d.directory, d.is_multi_file and its
    files' ``[f.frozen_path, f.path]`` (frozen_path is empty while closed); or why
    not (a file outside its folder)."""
    root = posixpath.normpath(directory) if directory else ""
    if not root.startswith("/"):
        return f"its folder is not an absolute path: {directory!r}"
    paths: list[str] = []
    for frozen, relative in files:
        path = posixpath.normpath(frozen or posixpath.join(root, relative))
        if not _inside(path, root) or path == root:
            return f"a file is outside the torrent's folder {root}: {path}"
        paths.append(path)
    folders: set[str] = set()
    if is_multi_file:
        for path in paths:
            folder = posixpath.dirname(path)
            while _inside(folder, root):
                folders.add(folder)
                if folder == root:
                    break
                folder = posixpath.dirname(folder)
    ordered = sorted(folders, key=lambda f: (-f.count("/"), f))
    return Removal(root, paths, ordered)


def removal_calls(
    plans: Sequence[Removal],
) -> tuple[list[tuple[str, tuple[str, ...]]], list[tuple[str, tuple[str, ...]]]]:
    """The execute.capture calls deleting the files of `plans` (problems reported
    under each plan's index), and then those removing the folders left empty:
    many torrents per call, so a few calls for any number."""
    deletes: list[ScriptCall] = []
    args: list[str] = []
    for index, plan in enumerate(plans):
        files = plan.files
        while files:
            room = PATHS_PER_CALL - len(args) - 3
            if room < 1:
                deletes.append(script_call(DELETE_SCRIPT, *args))
                args = []
                continue
            piece, files = files[:room], files[room:]
            args += [str(index), plan.root, str(len(piece)), *piece]
    if args:
        deletes.append(script_call(DELETE_SCRIPT, *args))
    folders = [folder for plan in plans for folder in plan.folders]
    rmdirs = [
        script_call(RMDIR_SCRIPT, *folders[i : i + PATHS_PER_CALL]) for i in range(0, len(folders), PATHS_PER_CALL)
    ]
    return deletes, rmdirs


def removal_problems(outputs: Sequence[Any]) -> dict[int, list[str]]:
    """The problems DELETE_SCRIPT printed, by plan index; index -1: a call that failed as a whole."""
    problems: dict[int, list[str]] = {}
    for output in outputs:
        if not isinstance(output, str):
            problems.setdefault(-1, []).append(str(getattr(output, "message", output)))
            continue
        for line in output.splitlines():
            index, _, problem = line.partition("\t")
            if index.isdigit() and problem:
                problems.setdefault(int(index), []).append(problem)
            elif line.strip():
                problems.setdefault(-1, []).append(line.strip())
    return problems


class Move(NamedTuple):
    """Moving one torrent's content: from, to, and its new d.directory_base."""

    source: str
    target: str
    base: str


def move(directory: str, is_multi_file: int, name: str, location: str) -> Move:
    """Where a torrent's content goes when it moves into `location` (its new save path).

    A multi-file torrent's d.directory is its content folder (maybe named
    otherwise than the torrent): it keeps its name. A single file is named
    after the torrent and sits in d.directory.
    """
    directory = posixpath.normpath(directory)
    location = posixpath.normpath(location)
    if is_multi_file:
        target = posixpath.join(location, posixpath.basename(directory))
        return Move(directory, target, target)
    return Move(posixpath.join(directory, name), posixpath.join(location, name), location)


def single_file_name(source: TorrentSource) -> str | None:
    """The file name of a single-file torrent; None for a multi-file one (or a magnet)."""
    if len(source.files) == 1 and len(source.files[0].path) == 1:
        return source.files[0].path[0]
    return None
