"""RtorrentAdapter: ClientPort over rTorrent's XML-RPC (SCGI or HTTP(S)).

Every multi-torrent primitive is one ``system.multicall`` (chunked under
rTorrent's request size limit) or one ``d.multicall2``, whatever the number
of torrents. Infohashes are upper-case on the wire, lower-case to callers.

A listing is one request, files, trackers and peers included: d.multicall2
runs ``f.multicall=,f.path=,...`` per torrent like any getter, and a
system.multicall takes f./t./p.multicall calls beside the d.* getters.
"""

from __future__ import annotations

import asyncio
import re
import xmlrpc.client
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from ...application.ports import (
    AddOptions,
    AddOutcome,
    AddStatus,
    ChangeFeed,
    ClientTiming,
    ConnectionOptions,
    TorrentChanges,
)
from ...domain import errors
from ...domain.source import TorrentSource
from ...domain.torrent import Torrent, TorrentStatus
from ...domain.url import ClientURL
from .._base import AdapterBase
from . import _wire
from ._transport import Call, CallFailure, RtorrentTransport

_INFOHASH = re.compile(r"^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$")
#: Up to this many torrents, snapshot() asks for each one's getters; beyond,
#: one d.multicall2 over all torrents is cheaper than many getter requests.
_GETTERS_UP_TO = 50
#: The same bound for listings, in getter calls: a system.multicall this size
#: is one request (under MAX_CALLS_PER_REQUEST and the size limit).
_GETTER_CALLS_UP_TO = _GETTERS_UP_TO * len(_wire.FIELDS)
#: Commands whose first argument is a download's infohash (``HASH`` or ``HASH:i``).
_TARGETED_PREFIXES = ("d.", "f.", "p.", "t.")


def _quote(value: str) -> str:
    """`value` as one argument of an rTorrent command string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


#: XML-RPC methods that change nothing, or nothing more when sent twice.
_IDEMPOTENT_PREFIXES = ("system.client_version", "d.multicall2", "download_list", "d.hash", "dht.statistics")


class RtorrentAdapter(AdapterBase):
    """Implements ClientPort for rTorrent 0.9.8 to 0.16 (tested: 0.9.8, 0.16.17)."""

    # rTorrent hashes every torrent with data when it starts it; skipping that
    # needs crafted resume data (file mtimes of the daemon's machine), which
    # is neither simple nor reliable.
    add_limitations: frozenset[str] = frozenset({"verify"})

    def __init__(self, url: ClientURL, options: ConnectionOptions) -> None:
        super().__init__(url, options)
        self._transport = RtorrentTransport(url, options)
        #: Whether the daemon refuses torrents without trackers (by its version);
        #: None until it told its version.
        self._refuses_trackerless: bool | None = None
        # rTorrent answers load.* with 0 and inserts the download later; it
        # reports a refusal only in its log: one not shown within a request's
        # timeout was refused.
        self.timing = ClientTiming(appear_within=options.timeout)

    @property
    def request_count(self) -> int:
        """XML-RPC requests sent so far."""
        return sum(self._transport.requests.values())

    @property
    def request_counts(self) -> Mapping[str, int]:
        """Requests sent so far, by XML-RPC method (``system.multicall`` for batches)."""
        return dict(self._transport.requests)

    @property
    def bytes_received(self) -> int:
        return self._transport.bytes_received

    # --- lifecycle -------------------------------------------------------------------
    async def _open(self) -> None:
        # SCGI is connectionless: "connected" means the daemon answered.
        version = await self._transport.call("system.client_version")
        if isinstance(version, str):
            self._refuses_trackerless = _wire.refuses_trackerless(version)
        self._log.debug("connected", version=version)

    async def _close(self) -> None:
        await self._transport.close()

    async def _call(self, method: str, *params: Any) -> Any:
        return await self._request(
            lambda: self._transport.call(method, *params), idempotent=method.startswith(_IDEMPOTENT_PREFIXES)
        )

    async def _multicall_groups(self, groups: Sequence[Sequence[Call]], *, idempotent: bool) -> list[list[Any]]:
        return await self._request(lambda: self._transport.multicall_groups(groups), idempotent=idempotent)

    async def _multicall(self, calls: Sequence[Call], *, idempotent: bool) -> list[Any]:
        return await self._request(lambda: self._transport.multicall(calls), idempotent=idempotent)

    # --- reading ---------------------------------------------------------------------
    async def _all_rows(self) -> list[_wire.TorrentRow]:
        rows = await self._call("d.multicall2", "", "main", *(f"{field}=" for field in _wire.FIELDS))
        try:
            return [_wire.to_row(row) for row in rows]
        except (msgspec.ValidationError, TypeError) as exc:
            raise errors.ResponseError(f"{self._url}: invalid d.multicall2 reply: {exc}") from exc

    async def _known_groups(self, groups: Sequence[Sequence[Call]]) -> list[list[Any]]:
        """Results of per-torrent groups of calls whose first takes the infohash;
        groups of unknown torrents left out."""
        known: list[list[Any]] = []
        for values in await self._multicall_groups(groups, idempotent=True):
            if isinstance(values[0], CallFailure):
                continue  # unknown infohash: "Could not find info-hash." (0.16: "info-hash not found")
            failure = next((v for v in values if isinstance(v, CallFailure)), None)
            if failure is not None:
                raise errors.ResponseError(f"{self._url}: {failure.message}")
            known.append(values)
        return known

    async def _rows_of(self, infohashes: Sequence[str]) -> list[_wire.TorrentRow]:
        groups = [[(field, (h.upper(),)) for field in _wire.FIELDS] for h in infohashes]
        try:
            return [_wire.to_row(values) for values in await self._known_groups(groups)]
        except (msgspec.ValidationError, TypeError) as exc:
            raise errors.ResponseError(f"{self._url}: invalid torrent status: {exc}") from exc

    async def snapshot(self, infohashes: Sequence[str]) -> Mapping[str, TorrentStatus]:
        wanted = {h.lower() for h in infohashes}
        if not wanted:
            return {}
        if len(wanted) <= _GETTERS_UP_TO:
            rows = await self._rows_of(sorted(wanted))
        else:
            rows = await self._all_rows()
        statuses = (_wire.to_status(row) for row in rows)
        return {status.infohash: status for status in statuses if status.infohash in wanted}

    async def list_infohashes(self) -> list[str]:
        hashes = await self._call("download_list", "", "main")
        if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
            raise errors.ResponseError(f"{self._url}: invalid download_list reply")
        return [h.lower() for h in hashes]

    # --- listing -------------------------------------------------------------------
    async def _listing(self, columns: Sequence[_wire.Column]) -> list[_wire.ListingRow]:
        """`columns` of every torrent: one d.multicall2."""
        plan = _wire.multicall2(tuple(columns))
        reply = await self._call("d.multicall2", "", "main", *plan.args())
        try:
            return [_wire.to_listing_row(plan.columns, values) for values in plan.unpack(reply)]
        except (msgspec.ValidationError, TypeError) as exc:
            raise errors.ResponseError(f"{self._url}: invalid d.multicall2 reply: {exc}") from exc

    async def _listing_of(self, infohashes: Sequence[str], columns: Sequence[_wire.Column]) -> list[_wire.ListingRow]:
        """`columns` of the given torrents it knows: their getters in one system.multicall,
        or one d.multicall2 over all torrents when that many getters would need more requests."""
        wanted = {h.upper() for h in infohashes}
        if len(wanted) * len(columns) > _GETTER_CALLS_UP_TO:
            return [row for row in await self._listing(columns) if row.hash.upper() in wanted]
        groups = [[column.call(h) for column in columns] for h in sorted(wanted)]
        try:
            return [_wire.to_listing_row(columns, values) for values in await self._known_groups(groups)]
        except (msgspec.ValidationError, TypeError) as exc:
            raise errors.ResponseError(f"{self._url}: invalid torrent attributes: {exc}") from exc

    async def torrents(self, infohashes: Sequence[str] | None, attributes: frozenset[str]) -> list[Torrent]:
        listing = _wire.listing(attributes)
        if infohashes is None:
            # Every torrent: the reply validated in one pass into rows of just these columns.
            reply = await self._call("d.multicall2", "", "main", *listing.multicall2.args())
            try:
                rows: Sequence[Any] = listing.multicall2.rows(reply)
            except (msgspec.ValidationError, TypeError) as exc:
                raise errors.ResponseError(f"{self._url}: invalid d.multicall2 reply: {exc}") from exc
        elif not infohashes:
            return []
        else:
            rows = await self._listing_of(infohashes, listing.columns)
        torrent = listing.torrent
        return [torrent(row) for row in rows]

    def change_feed(self, attributes: frozenset[str]) -> ChangeFeed:
        return RtorrentFeed(self, attributes)

    # --- add -------------------------------------------------------------------------
    def _load_call(self, source: TorrentSource, options: AddOptions) -> Call:
        commands: list[str] = []
        if options.location:
            commands.append(f"d.directory.set={_quote(options.location)}")
        if source.metainfo is not None:
            method = "load.raw" if options.stopped else "load.raw_start"
            return method, ("", xmlrpc.client.Binary(source.metainfo), *commands)
        method = "load.normal" if options.stopped else "load.start"
        return method, ("", source.magnet or "", *commands)

    async def add(self, sources: Sequence[TorrentSource], options: AddOptions) -> list[AddOutcome]:
        outcomes: dict[int, AddOutcome] = {}

        def outcome(index: int, status: AddStatus, **details: Any) -> None:
            source = sources[index]
            outcomes[index] = AddOutcome(source=source, status=status, infohash=source.infohash, **details)

        try:
            refusals = await self._trackerless_refusals(sources)
        except errors.Error as exc:
            return [AddOutcome(source=s, status=AddStatus.failed, infohash=s.infohash, error=exc) for s in sources]
        to_load: list[int] = []
        for index, source in enumerate(sources):
            if source.metainfo is None and not source.magnet:
                outcome(index, AddStatus.refused, message="Nothing to add")
            elif index in refusals:
                outcome(index, AddStatus.refused, message=refusals[index])
            else:
                to_load.append(index)
        try:
            calls = [self._load_call(sources[i], options) for i in to_load]
            results = await self._multicall(calls, idempotent=False) if calls else []
        except errors.Error as exc:
            results = [None] * len(to_load)
            for index in to_load:
                outcome(index, AddStatus.failed, error=exc)
        for index, result in zip(to_load, results, strict=True):
            if isinstance(result, CallFailure):
                outcome(index, AddStatus.refused, message=result.message)
            elif index not in outcomes:
                outcome(index, AddStatus.added)
        return [outcomes[index] for index in range(len(sources))]

    async def _trackerless_refusals(self, sources: Sequence[TorrentSource]) -> dict[int, str]:
        """The sources without trackers this daemon would refuse (0.9.x), by index, and why."""
        need = {i: kind for i, source in enumerate(sources) if (kind := _wire.trackerless(source))}
        if not need:
            return {}
        # Ask the version (unless connect() did) and whether DHT runs in one request.
        calls: list[Call] = [("dht.statistics", ())]
        if self._refuses_trackerless is None:
            calls.append(("system.client_version", ()))
        results = await self._multicall(calls, idempotent=True)
        if len(results) > 1 and isinstance(results[1], str):
            self._refuses_trackerless = _wire.refuses_trackerless(results[1])
        if not self._refuses_trackerless:
            return {}
        dht_running = isinstance(results[0], dict) and bool(results[0].get("active"))
        refusals: dict[int, str] = {}
        for index, kind in need.items():
            if kind == "private":
                refusals[index] = "rTorrent refuses private torrents without trackers"
            elif not dht_running:
                refusals[index] = "rTorrent refuses torrents without trackers while its DHT is off"
        return refusals

    # --- actions ---------------------------------------------------------------------
    async def _act(self, infohashes: Sequence[str], commands: Sequence[str]) -> Mapping[str, str]:
        """Run `commands` on each torrent, in order, in batched requests; failures by infohash."""
        groups = [[(command, (h.upper(),)) for command in commands] for h in infohashes]
        failures: dict[str, str] = {}
        results_by_torrent = await self._multicall_groups(groups, idempotent=True)
        for infohash, results in zip(infohashes, results_by_torrent, strict=True):
            failure = next((r for r in results if isinstance(r, CallFailure)), None)
            if failure is not None:
                failures[infohash] = failure.message
        return failures

    async def start(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        # As ruTorrent does: open (a closed torrent can't start), then start.
        return await self._act(infohashes, ("d.open", "d.start"))

    async def stop(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        # As ruTorrent does: stop, then close (releases files; "stopped" to users).
        return await self._act(infohashes, ("d.stop", "d.close"))

    async def verify(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        return await self._act(infohashes, ("d.check_hash",))

    # --- raw -------------------------------------------------------------------------
    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """One raw XML-RPC call. An infohash as first argument of a d.*, f.*, p.*
        or t.* command may be lower-case (rTorrent's are upper-case)."""
        if kwargs:
            raise errors.ValueError(f"{self._url}: XML-RPC has no keyword arguments: {', '.join(kwargs)}")
        params = list(args)
        if params and method.startswith(_TARGETED_PREFIXES) and isinstance(params[0], str):
            head, sep, tail = params[0].partition(":")
            if _INFOHASH.match(head):
                params[0] = head.upper() + sep + tail
        return await self._request(lambda: self._transport.call(method, *params), idempotent=False)


class RtorrentFeed:
    """rTorrent tells no changes: every poll lists every torrent (one d.multicall2).

    Getters whose values come from the info dict (name, sizes, ...) can't
    change for an infohash: they are read only for torrents the feed hasn't
    seen, in a second request that quiet polls don't need.
    """

    def __init__(self, adapter: RtorrentAdapter, attributes: frozenset[str]) -> None:
        self.news: asyncio.Event | None = None
        self._adapter = adapter
        self._attributes = attributes
        columns = _wire.columns_for(attributes)
        self._static = [c for c in columns if c.key in _wire.STATIC_GETTERS]
        self._varying = [c for c in columns if c.key not in _wire.STATIC_GETTERS]
        if self._static and not any(c.key == "is_meta" for c in self._varying):
            self._varying.append(_wire.Column("is_meta", _wire.GETTERS["is_meta"]))
        #: The static getters' values by wire infohash.
        self._seen: dict[str, dict[str, Any]] = {}
        #: Torrents that were magnets' meta downloads at the last poll.
        self._meta: set[str] = set()

    async def poll(self) -> TorrentChanges:
        try:
            return await self._poll()
        except errors.ConnectionError:
            self._seen.clear()  # the daemon may have restarted: read everything again
            raise

    async def _poll(self) -> TorrentChanges:
        rows = await self._adapter._listing(self._varying)
        if self._static:
            # A magnet's meta download becomes the real torrent (same infohash):
            # read once more when it stops being one.
            new = [
                row.hash for row in rows if row.hash not in self._seen or (row.hash in self._meta and not row.is_meta)
            ]
            if new:
                hash_column = _wire.Column("hash", _wire.GETTERS["hash"])
                for static_row in await self._adapter._listing_of(new, [hash_column, *self._static]):
                    self._seen[static_row.hash] = {c.key: getattr(static_row, c.key) for c in self._static}
            # Those not found were removed between the two requests.
            rows = [msgspec.structs.replace(row, **self._seen[row.hash]) for row in rows if row.hash in self._seen]
            present_wire = {row.hash for row in rows}
            self._seen = {h: values for h, values in self._seen.items() if h in present_wire}
            self._meta = {row.hash for row in rows if row.is_meta}
        changed = [_wire.to_torrent(row, self._attributes) for row in rows]
        return TorrentChanges(changed=changed, present=frozenset(t.infohash for t in changed))

    async def close(self) -> None:
        pass


if TYPE_CHECKING:
    from ...application.ports import ClientPort

    def _fits_the_port(adapter: RtorrentAdapter) -> ClientPort:
        return adapter  # mypy checks the structural fit here
