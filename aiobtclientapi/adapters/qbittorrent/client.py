"""QbittorrentAdapter: ClientPort over qBittorrent's Web API v2.

Every primitive is one request whatever the number of torrents
(``hashes=a|b|c``, one multipart ``torrents/add``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import msgspec

from ...application._poller import PollPolicy, poll_rounds
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
from ...domain.session import RateLimits, Session
from ...domain.source import TorrentSource
from ...domain.torrent import COLLECTION_ATTRIBUTES, Torrent, TorrentStatus
from ...domain.url import ClientURL
from .. import _json
from .._base import AdapterBase
from .._http import HttpReply
from ._transport import FilePart, Form, QbittorrentTransport
from ._wire import (
    ATTRIBUTE_KEYS,
    LISTING_KEYS,
    ListingRow,
    ServerState,
    TorrentRow,
    WebApiNames,
    decode_files,
    decode_listing,
    decode_maindata,
    decode_maindata_state,
    decode_peers,
    decode_preferences,
    decode_properties,
    decode_rows,
    decode_server_state,
    decode_trackers,
    has_metadata,
    parse_webapi_version,
    to_free_space,
    to_session,
    to_status,
    to_torrent,
    torrent_infohash,
    webapi_names,
)

T = TypeVar("T")

#: WebAPI versions: torrents/info includeTrackers (5.1), includeFiles (5.2), `private` (5.0).
INCLUDE_TRACKERS = (2, 11, 4)
INCLUDE_FILES = (2, 11, 8)
PRIVATE_IN_INFO = (2, 11)
#: Per-torrent requests of one listing in flight at a time.
PER_TORRENT_REQUESTS = 8


#: WebAPI versions: app/getFreeSpaceAtPath (5.2-ish, 2.15.2), torrents/export (4.5.0).
FREE_SPACE_AT_PATH = (2, 15, 2)
EXPORT = (2, 8, 14)


#: qBittorrent keeps its global limits in KiB/s (it floors what it is sent,
#: 1,000,000 reads back 999,424 on 4.5.2-5.3); its per-torrent ones in bytes/s.
#: The port has one unit for both: KiB/s.
LIMIT_UNIT = 1024


def _wire_limit(limit: int | None) -> str:
    """A limit for the wire in bytes/s, 0 for unlimited: a whole number of
    :data:`LIMIT_UNIT` (nearest, at least one), so it reads back as sent."""
    if limit is None:
        return "0"
    return str(max(round(limit / LIMIT_UNIT), 1) * LIMIT_UNIT)


class _AddRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What one torrents/add asks for. `flat`: the NoSubfolder layout."""

    save_path: str | None
    stopped: bool
    verify: bool
    flat: bool = False


class _Rename(msgspec.Struct, frozen=True):
    """torrents/renameFile or renameFolder of a torrent's top item `old` to `new`."""

    method: str
    old: str
    new: str


class _Gone(Exception):
    """The daemon no longer has the torrent (it was removed during the listing)."""


async def _gather(coroutines: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """Run them all; on the first failure cancel the rest and raise it."""
    tasks = [asyncio.ensure_future(coroutine) for coroutine in coroutines]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


#: Methods that answer GET (qBittorrent refuses GET for the others with 405).
_READ_ONLY_METHODS = frozenset(
    {
        "app/buildInfo", "app/defaultSavePath", "app/networkInterfaceAddressList",
        "app/networkInterfaceList", "app/preferences", "app/version", "app/webapiVersion",
        "app/cookies", "log/main", "log/peers", "rss/items", "search/plugins", "search/results",
        "search/status", "sync/maindata", "sync/torrentPeers", "torrents/categories",
        "torrents/count", "torrents/export", "torrents/files", "torrents/info",
        "torrents/pieceHashes", "torrents/pieceStates", "torrents/properties", "torrents/tags",
        "torrents/trackers", "torrents/webseeds", "transfer/downloadLimit", "transfer/info",
        "transfer/speedLimitsMode", "transfer/uploadLimit",
    }
)  # fmt: skip

_INVALID_PART = re.compile(r"'(\d+)\.torrent'")


def _torrent_id(infohash: str) -> str:
    """qBittorrent's torrent ID: the v1 infohash, or a v2 one truncated to 40 digits."""
    return infohash[:40]


def _hashes(infohashes: Iterable[str]) -> str:
    """The ``hashes`` parameter of a batch request."""
    return "|".join(dict.fromkeys(_torrent_id(h) for h in infohashes))


def _row_hashes(row: TorrentRow) -> set[str]:
    return {h.lower() for h in (row.hash, row.infohash_v1, row.infohash_v2) if h}


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "|".join(str(item) for item in value)
    return str(value)


#: It answers "Fails." (409 from 5.2) also to a duplicate of a torrent
#: another request is adding: that one shows a moment later.
REFUSED_MAY_SHOW_WITHIN = 1.0

#: POST methods that do no harm when sent twice (a second delete finds nothing,
#: a second setLocation is a move to where the data is).
_IDEMPOTENT_POSTS = frozenset(
    {
        "torrents/info", "torrents/start", "torrents/stop", "torrents/resume", "torrents/pause", "torrents/recheck",
        "torrents/delete", "torrents/setLocation", "torrents/reannounce", "torrents/setCategory",
        "torrents/createCategory", "torrents/setDownloadLimit", "torrents/setUploadLimit",
        "transfer/setDownloadLimit", "transfer/setUploadLimit",
    }
)  # fmt: skip


def _default_timing(appear_within: float, refresh_interval_ms: int = 1500) -> ClientTiming:
    """qBittorrent reports states it refreshes every `refresh_interval` (1.5 s by
    default): a change shows up to that much later, plus a margin.

    It adds torrents asynchronously, a moment after answering "Ok.", and drops
    those it has not added yet when it is stopped: one it doesn't show within
    `appear_within` seconds (the request timeout) was not added.

    A check keeps what was asked (measured on 4.5.2): a torrent added stopped
    shows checkingResumeData, then stays stopped; one started checks its data
    first (4.5.2 doesn't check a torrent added stopped until it starts),
    about one torrent a second, then runs; one stopped while checking stays
    stopped.
    """
    refresh_interval = max(refresh_interval_ms, 0) / 1000
    state_latency = refresh_interval + 0.5
    return ClientTiming(
        state_latency=state_latency,
        refresh_interval=refresh_interval,
        appear_within=appear_within,
        refused_may_show_within=REFUSED_MAY_SHOW_WITHIN,
        # A move shows as state "moving" (or done) with the next refresh.
        move_shows_within=state_latency + 1.0,
        check_keeps_request=True,
    )


class QbittorrentAdapter(AdapterBase):
    """Implements ClientPort for qBittorrent 4.1+ (WebAPI 2.x)."""

    limit_unit = LIMIT_UNIT

    def __init__(self, url: ClientURL, options: ConnectionOptions) -> None:
        super().__init__(url, options)
        self._transport = QbittorrentTransport(url, options, self._log)
        self._names: WebApiNames | None = None
        self._version: tuple[int, ...] = ()
        #: is_private by torrent ID where torrents/info lacks it (4.x): it is
        #: part of the info dict, so it never changes for an infohash.
        self._private: dict[str, bool] = {}
        self._appear_within = options.timeout
        self.timing = _default_timing(self._appear_within)

    @property
    def request_counts(self) -> Mapping[str, int]:
        """Requests sent so far, by Web API method (e.g. ``torrents/add``)."""
        return dict(self._transport.http.requests)

    @property
    def bytes_received(self) -> int:
        return self._transport.http.bytes_received

    # --- connection ---------------------------------------------------------------
    async def _open(self) -> None:
        self._names = None
        await self._transport.login()
        reply = await self._transport.request("GET", "app/webapiVersion")
        if reply.status != 200:
            raise errors.ConnectionError(
                f"{self._url}: Not a qBittorrent Web API: app/webapiVersion: HTTP {reply.status}"
            )
        try:
            version = parse_webapi_version(reply.text())
        except ValueError as exc:
            raise errors.ConnectionError(
                f"{self._url}: Not a qBittorrent Web API version: {reply.text()[:100]!r}"
            ) from exc
        # What the daemon calls pause/resume is chosen once per connection.
        self._names = webapi_names(version)
        self._version = version
        self.timing = await self._read_timing()
        self._log.debug("connected", webapi_version=".".join(map(str, version)), timing=self.timing)

    async def _read_timing(self) -> ClientTiming:
        reply = await self._transport.request("GET", "app/preferences")
        if reply.status == 200:
            try:
                preferences = _json.decode(reply.body, decode_preferences, where=self._url, what="app/preferences")
            except errors.ResponseError as exc:
                self._log.debug("unexpected app/preferences reply", error=str(exc))
            else:
                return _default_timing(self._appear_within, preferences.refresh_interval)
        return _default_timing(self._appear_within)

    async def _close(self) -> None:
        self._names = None
        await self._transport.close()

    def _is_open(self) -> bool:
        return self._names is not None and self._transport.is_open

    @property
    def _api_names(self) -> WebApiNames:
        if self._names is None:  # only between a lost connection and the next connect
            raise errors.ConnectionError(f"{self._url}: not connected")
        return self._names

    async def _web(
        self,
        verb: str,
        method: str,
        *,
        params: Mapping[str, str] | None = None,
        form: Form | None = None,
    ) -> HttpReply:
        """One Web API request, connected, under the adapter base's connection rules."""
        return await self._request(
            lambda: self._transport.request(verb, method, params=params, form=form),
            idempotent=verb == "GET" or method in _IDEMPOTENT_POSTS,
        )

    # --- torrents/info --------------------------------------------------------------
    async def _rows(self, infohashes: Sequence[str] | None) -> list[TorrentRow]:
        if infohashes is None:
            reply = await self._web("GET", "torrents/info")
        else:
            # In the body: a thousand hashes would make a 41 kB URL.
            reply = await self._web("POST", "torrents/info", form=Form({"hashes": _hashes(infohashes)}))
        if reply.status != 200:
            raise self._transport.fail("torrents/info", reply)
        return _json.decode(reply.body, decode_rows, where=self._url, what="torrents/info", typed=True)

    async def snapshot(self, infohashes: Sequence[str]) -> Mapping[str, TorrentStatus]:
        if not infohashes:
            return {}
        wanted = set(infohashes)
        result: dict[str, TorrentStatus] = {}
        for row in await self._rows(infohashes):
            for infohash in _row_hashes(row) & wanted:
                result[infohash] = to_status(row, infohash)
        return result

    async def list_infohashes(self) -> list[str]:
        return [torrent_infohash(row) for row in await self._rows(None)]

    # --- listing ----------------------------------------------------------------------------
    async def torrents(self, infohashes: Sequence[str] | None, attributes: frozenset[str]) -> list[Torrent]:
        """One torrents/info for every scalar attribute; files, trackers, peers (and
        is_private on 4.x) per torrent where the version can't batch them, at most
        :data:`PER_TORRENT_REQUESTS` at a time and only when asked for."""
        if infohashes is not None and not infohashes:
            return []
        await self.connect()
        fields: dict[str, str] = {}
        if infohashes is not None:
            fields["hashes"] = _hashes(infohashes)
        if "files" in attributes and self._version >= INCLUDE_FILES:
            fields["includeFiles"] = "true"
        if "trackers" in attributes and self._version >= INCLUDE_TRACKERS:
            fields["includeTrackers"] = "true"
        # POST: a thousand hashes would make a 41 kB URL.
        reply = await self._web("POST", "torrents/info", form=Form(fields))
        if reply.status != 200:
            raise self._transport.fail("torrents/info", reply)
        rows = _json.decode(reply.body, decode_listing, where=self._url, what="torrents/info", typed=True)
        if infohashes is None:
            self._forget_private({row.hash for row in rows})
        return [torrent for torrent in await self._map_rows(rows, attributes) if torrent is not None]

    async def _map_rows(self, rows: Sequence[ListingRow], attributes: frozenset[str]) -> list[Torrent | None]:
        """Map rows, fetching per torrent what they lack; None for a torrent gone meanwhile."""
        if not (attributes & COLLECTION_ATTRIBUTES or ("is_private" in attributes and self._version < PRIVATE_IN_INFO)):
            return [to_torrent(row, attributes) for row in rows]
        limit = asyncio.Semaphore(PER_TORRENT_REQUESTS)

        async def one(row: ListingRow) -> Torrent | None:
            files = trackers = peers = None
            try:
                # 5.2+ sent them (none without metadata).
                if "files" in attributes and self._version < INCLUDE_FILES and has_metadata(row):
                    files = await self._per_torrent(limit, "torrents/files", row.hash, decode_files)
                if "trackers" in attributes and row.trackers is None:
                    trackers = await self._per_torrent(limit, "torrents/trackers", row.hash, decode_trackers)
                if "peers" in attributes:
                    peers = await self._per_torrent(limit, "sync/torrentPeers", row.hash, decode_peers)
                is_private = await self._is_private(limit, row) if "is_private" in attributes else None
            except _Gone:
                return None
            return to_torrent(row, attributes, files=files, trackers=trackers, peers=peers, is_private=is_private)

        return await _gather(one(row) for row in rows)

    async def _per_torrent(
        self, limit: asyncio.Semaphore, method: str, torrent_id: str, decoder: Callable[[bytes | bytearray], T]
    ) -> T:
        """One per-torrent GET; raises _Gone for a torrent the daemon no longer has (404)."""
        params = {"hash": torrent_id}
        if method == "sync/torrentPeers":
            params["rid"] = "0"  # always the whole list
        async with limit:
            reply = await self._web("GET", method, params=params)
        if reply.status == 404:
            raise _Gone
        if reply.status != 200:
            raise self._transport.fail(method, reply)
        return _json.decode(reply.body, decoder, where=self._url, what=method, typed=True)

    async def _is_private(self, limit: asyncio.Semaphore, row: ListingRow) -> bool | None:
        """From the row on 5.0+; on 4.x from torrents/properties, once per torrent."""
        if row.private is not None or self._version >= PRIVATE_IN_INFO:
            return row.private
        if not has_metadata(row):
            return False  # unknown until the metadata comes: asked again then
        known = self._private.get(row.hash)
        if known is None:
            properties = await self._per_torrent(limit, "torrents/properties", row.hash, decode_properties)
            known = self._private[row.hash] = properties.is_private
        return known

    def _forget_private(self, present: set[str]) -> None:
        for torrent_id in self._private.keys() - present:
            del self._private[torrent_id]

    def change_feed(self, attributes: frozenset[str]) -> ChangeFeed:
        return QbittorrentFeed(self, attributes)

    # --- add ------------------------------------------------------------------------
    def _add_form(self, sources: Mapping[int, TorrentSource], request: _AddRequest, names: WebApiNames) -> Form:
        files: list[FilePart] = []
        urls: list[str] = []
        for index, source in sources.items():
            if source.metainfo is not None:
                # Unique part names: equal names overwrite each other on the daemon.
                files.append(("torrents", f"{index}.torrent", source.metainfo, "application/x-bittorrent"))
            elif source.magnet is not None:
                urls.append(source.magnet)
        layout_field, layout_value = names.add_layout_flat if request.flat else names.add_layout
        fields: dict[str, str] = {layout_field: layout_value}
        if urls:
            fields["urls"] = "\n".join(urls)
        if request.save_path is not None:
            fields["savepath"] = request.save_path
            fields["autoTMM"] = "false"  # automatic management would ignore savepath
        if not request.verify:
            fields[names.add_skip_check] = "true"
        if request.stopped:
            fields[names.add_stopped] = "true"
        return Form(fields, files)

    async def add(self, sources: Sequence[TorrentSource], options: AddOptions) -> list[AddOutcome]:
        """One torrents/add for all sources; with a content_path see :meth:`_add_in_place`."""
        if options.content_path is not None:
            return await self._add_in_place(sources, options, options.content_path)
        request = _AddRequest(save_path=options.location, stopped=options.stopped, verify=options.verify)
        outcomes = await self._add_request(dict(enumerate(sources)), request)
        return [outcomes[index] for index in range(len(sources))]

    async def _add_request(self, sources: Mapping[int, TorrentSource], request: _AddRequest) -> dict[int, AddOutcome]:
        """One torrents/add (again after a refused file) for `sources`; an outcome per index."""
        outcomes: dict[int, AddOutcome] = {}

        def outcome(index: int, status: AddStatus, **details: Any) -> None:
            source = sources[index]
            outcomes[index] = AddOutcome(source=source, status=status, infohash=source.infohash, **details)

        remaining: dict[int, TorrentSource] = {}
        resent = False  # whether the rest went again after the daemon refused one file
        for index, source in sources.items():
            if source.metainfo is None and source.magnet is None:
                outcome(index, AddStatus.refused, message="Nothing to add")
            else:
                remaining[index] = source
        while remaining:
            try:
                await self.connect()
                form = self._add_form(remaining, request, self._api_names)
                reply = await self._web("POST", "torrents/add", form=form)
            except errors.Error as exc:
                for index in remaining:
                    outcome(index, AddStatus.failed, error=exc)
                break
            body = reply.text().strip()
            invalid = _INVALID_PART.search(body) if reply.status == 415 else None
            if invalid and int(invalid.group(1)) in remaining:
                # The daemon stops at the first invalid file (in its own order, having
                # maybe added some others): send the rest again; ones it already took
                # are answered as duplicates and show as added.
                index = int(invalid.group(1))
                outcome(
                    index, AddStatus.refused, message=f"qBittorrent refused the file: {_INVALID_PART.sub('file', body)}"
                )
                del remaining[index]
                resent = True
                continue
            if reply.status == 409 or (reply.ok and body == "Fails."):
                # None was added: "Fails." up to 5.1, 409 Conflict from 5.2. After
                # a 415 that means the request before took them all.
                message = f"qBittorrent did not add the torrent ({body or reply.status})"
                for index in remaining:
                    if resent:
                        outcome(index, AddStatus.added)
                    else:
                        outcome(index, AddStatus.refused, message=message)
            elif reply.ok:
                for index in remaining:
                    outcome(index, AddStatus.added)
            else:
                message = str(self._transport.fail("torrents/add", reply))
                for index in remaining:
                    outcome(index, AddStatus.refused, message=message)
            break
        return outcomes

    async def _add_in_place(
        self, sources: Sequence[TorrentSource], options: AddOptions, content_path: str
    ) -> list[AddOutcome]:
        """Add torrents whose content is at `content_path` as it is, whatever its name.

        A torrent of several files: save path `content_path` with the
        NoSubfolder layout (the name stays the torrent's; content_path reads
        `content_path`), one request for all such sources. A single-file torrent
        (save path the parent, renameFile) or one of one file in a folder
        (renameFolder: NoSubfolder would make its content_path the file) whose
        name differs: added stopped, one at a time (a "Fails." must name the
        duplicate, which is not to be renamed), renamed, and once the daemon
        shows the new path (the rename is asynchronous), verified and started
        as `options` ask. Renaming maps the torrent to the existing content; a
        file at the torrent's own name there would be renamed onto it. The
        files must be known: a magnet is refused.
        """
        parent, _, base = content_path.rstrip("/").rpartition("/")
        parent = parent or "/"
        outcomes: dict[int, AddOutcome] = {}
        flat: dict[int, TorrentSource] = {}
        in_parent: dict[int, TorrentSource] = {}
        renamed: dict[int, tuple[TorrentSource, _Rename]] = {}
        for index, source in enumerate(sources):
            paths = [file.path for file in source.files]
            if not paths:
                outcomes[index] = AddOutcome(
                    source=source,
                    status=AddStatus.refused,
                    infohash=source.infohash,
                    message="qBittorrent needs the torrent's file list to use content_path: give the .torrent file",
                )
            elif len(paths) > 1:
                flat[index] = source
            elif base == paths[0][0]:
                in_parent[index] = source  # named as the torrent
            elif len(paths[0]) == 1:
                renamed[index] = (source, _Rename("torrents/renameFile", paths[0][0], base))
            else:
                renamed[index] = (source, _Rename("torrents/renameFolder", paths[0][0], base))
        as_asked = {"stopped": options.stopped, "verify": options.verify}
        if flat:
            outcomes |= await self._add_request(flat, _AddRequest(save_path=content_path, flat=True, **as_asked))
        if in_parent:
            outcomes |= await self._add_request(in_parent, _AddRequest(save_path=parent, **as_asked))
        added_stopped = _AddRequest(save_path=parent, stopped=True, verify=options.verify)
        to_rename: dict[int, tuple[TorrentSource, _Rename]] = {}
        for index, (source, rename) in renamed.items():
            outcomes |= await self._add_request({index: source}, added_stopped)
            if outcomes[index].status is AddStatus.added:
                to_rename[index] = (source, rename)
        if to_rename:
            try:
                outcomes |= await self._rename_added(to_rename, options, content_path)
            except errors.Error as exc:
                # Added, maybe renamed: the services look what the daemon has.
                for index, (source, _) in to_rename.items():
                    outcomes[index] = AddOutcome(
                        source=source, status=AddStatus.failed, infohash=source.infohash, error=exc
                    )
        return [outcomes[index] for index in range(len(sources))]

    async def _rename_added(
        self, torrents: Mapping[int, tuple[TorrentSource, _Rename]], options: AddOptions, content_path: str
    ) -> dict[int, AddOutcome]:
        """Rename torrents just added stopped, wait until the daemon shows `content_path`,
        then verify and start them as asked. One that can't be renamed is removed again
        (its data kept) and refused."""
        messages = await _gather(self._rename(source.infohash, rename) for source, rename in torrents.values())
        outcomes: dict[int, AddOutcome] = {}
        done: list[str] = []
        for (index, (source, _)), message in zip(torrents.items(), messages, strict=True):
            if message is None:
                outcomes[index] = AddOutcome(source=source, status=AddStatus.added, infohash=source.infohash)
                done.append(source.infohash)
            else:
                outcomes[index] = AddOutcome(
                    source=source, status=AddStatus.refused, infohash=source.infohash, message=message
                )
        refused = [source.infohash for source, _ in torrents.values() if source.infohash not in done]
        if refused:
            await self._batch("torrents/delete", refused, {"deleteFiles": "false"})
        if done:
            await self._until_content_path(done, content_path)
            # The daemon found nothing at the torrent's own name when it added it:
            # it checks the renamed content only when asked. Started first: a
            # torrent asked to check while stopped stops again afterwards, even if
            # started meanwhile (4.5.2).
            if not options.stopped:
                await self.start(done)
            if options.verify:
                await self.verify(done)
        return outcomes

    async def _rename(self, infohash: str, rename: _Rename) -> str | None:
        """Send one rename; again while the daemon has not loaded the torrent (404). The refusal, or None."""
        form = Form({"hash": _torrent_id(infohash), "oldPath": rename.old, "newPath": rename.new})
        reply = None
        # It adds torrents a moment after answering.
        async for _ in poll_rounds(self._rename_policy()):
            reply = await self._web("POST", rename.method, form=form)
            if reply.ok:
                return None
            if reply.status != 404:
                break
        assert reply is not None
        refusal = self._transport.fail(rename.method, reply)
        return f"qBittorrent did not rename {rename.old!r} to {rename.new!r}: {refusal}"

    async def _until_content_path(self, infohashes: Sequence[str], content_path: str) -> None:
        """Poll (one torrents/info for all) until each shows `content_path` or the deadline
        passes: verifying before the rename took effect would check the old path."""
        pending = set(infohashes)
        async for _ in poll_rounds(self._rename_policy()):
            for torrent in await self.torrents(sorted(pending), frozenset({"content_path"})):
                if torrent.content_path == content_path:
                    pending.discard(torrent.infohash)
            if not pending:
                return
        # The services report a content_path that is not the asked one.

    def _rename_policy(self) -> PollPolicy:
        """How long a just added torrent may take to take a rename: as long as it may take to show."""
        return PollPolicy(first_delay=0.02, max_delay=0.25, factor=2.0, timeout=self._appear_within)

    # --- start / stop / verify ----------------------------------------------------------
    async def _batch(
        self, method: str, infohashes: Sequence[str], fields: Mapping[str, str] | None = None
    ) -> Mapping[str, str]:
        """One request for all torrents; a refusal (e.g. 409 with qB's reason) fails each of them."""
        if not infohashes:
            return {}
        form = Form({"hashes": _hashes(infohashes), **(fields or {})})
        reply = await self._web("POST", method, form=form)
        if reply.ok:  # 2.11.8+ answers some with 204
            return {}
        message = str(self._transport.fail(method, reply))
        return dict.fromkeys(infohashes, message)

    async def start(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        await self.connect()
        return await self._batch(self._api_names.start, infohashes)

    async def stop(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        await self.connect()
        return await self._batch(self._api_names.stop, infohashes)

    async def verify(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        return await self._batch("torrents/recheck", infohashes)

    # --- remove / move / reannounce -------------------------------------------------------
    async def remove(self, infohashes: Sequence[str], delete_data: bool) -> Mapping[str, str]:
        # qBittorrent deletes just the torrent's files and the folders they leave empty.
        return await self._batch("torrents/delete", infohashes, {"deleteFiles": _form_value(delete_data)})

    async def move(self, infohashes: Sequence[str], location: str) -> Mapping[str, str]:
        """setLocation creates the folder first and answers 409 "Cannot make save path"
        when it can't (e.g. below a regular file, no permission): nothing moves then.
        It turns automatic torrent management off for these torrents, as the Web UI does."""
        return await self._batch("torrents/setLocation", infohashes, {"location": location})

    async def reannounce(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        return await self._batch("torrents/reannounce", infohashes)

    # --- labels and limits ------------------------------------------------------------------
    async def set_label(self, infohashes: Sequence[str], label: str | None) -> Mapping[str, str]:
        """The category; created (with the default save path) when the daemon lacks it.

        setCategory answers 409 "Incorrect category name" for a category that does
        not exist; createCategory answers 409 "Incorrect category name" for a name
        qBittorrent refuses (e.g. "a//b") and "Unable to create category" for one
        that exists. So: set, and only on a 409 create and set again.
        """
        if not infohashes:
            return {}
        failures = await self._batch("torrents/setCategory", infohashes, {"category": label or ""})
        if not failures or not label:
            return failures
        reply = await self._web("POST", "torrents/createCategory", form=Form({"category": label, "savePath": ""}))
        if not reply.ok and not (reply.status == 409 and reply.text().strip() == "Unable to create category"):
            refusal = self._transport.fail("torrents/createCategory", reply)
            return dict.fromkeys(infohashes, f"qBittorrent can't create the category {label!r}: {refusal}")
        return await self._batch("torrents/setCategory", infohashes, {"category": label})

    async def set_limits(self, infohashes: Sequence[str], limits: RateLimits) -> Mapping[str, str]:
        """Rounded to KiB/s (see :data:`LIMIT_UNIT`); 0 means unlimited on the wire. One request per direction."""
        failures: dict[str, str] = {}
        for method, limit in (("torrents/setDownloadLimit", limits.down), ("torrents/setUploadLimit", limits.up)):
            if limit is msgspec.UNSET:
                continue
            for infohash, message in (await self._batch(method, infohashes, {"limit": _wire_limit(limit)})).items():
                failures[infohash] = f"{failures[infohash]}; {message}" if infohash in failures else message
        return failures

    # --- the session ------------------------------------------------------------------------------
    async def session(self) -> Session:
        """app/version, transfer/info (rates, session totals, global limits) and the
        default save path with the free space there: app/getFreeSpaceAtPath from
        WebAPI 2.15.2; before, only sync/maindata's server_state has it (a full
        update, every torrent included; a change feed of this adapter gets one
        full update more). 4.x measures it only once the Web API session is
        30 s old: None until then."""
        await self.connect()
        free_space_at_path = self._version >= FREE_SPACE_AT_PATH

        async def free_space_and_path() -> tuple[int | None, str | None]:
            save_path = (await self._read_text("app/defaultSavePath")).strip() or None
            if not free_space_at_path:
                return None, save_path
            if save_path is None:
                return None, None
            text = await self._read_text("app/getFreeSpaceAtPath", {"path": save_path})
            return to_free_space(text), save_path

        async def server_state() -> ServerState:
            method, params = ("transfer/info", None) if free_space_at_path else ("sync/maindata", {"rid": "0"})
            reply = await self._web("GET", method, params=params)
            if reply.status != 200:
                raise self._transport.fail(method, reply)
            if method == "transfer/info":
                return _json.decode(reply.body, decode_server_state, where=self._url, what=method, typed=True)
            state = _json.decode(reply.body, decode_maindata_state, where=self._url, what=method, typed=True)
            return state.server_state

        version, (free_space, save_path), state = await asyncio.gather(
            self._read_text("app/version"), free_space_and_path(), server_state()
        )
        return to_session(version, state, save_path, free_space)

    async def _read_text(self, method: str, params: Mapping[str, str] | None = None) -> str:
        reply = await self._web("GET", method, params=params)
        if reply.status != 200:
            raise self._transport.fail(method, reply)
        return reply.text()

    async def set_session_limits(self, limits: RateLimits) -> None:
        for method, limit in (("transfer/setDownloadLimit", limits.down), ("transfer/setUploadLimit", limits.up)):
            if limit is msgspec.UNSET:
                continue
            reply = await self._web("POST", method, form=Form({"limit": _wire_limit(limit)}))
            if not reply.ok:
                raise errors.SessionError(str(self._transport.fail(method, reply)))

    # --- the .torrent file ----------------------------------------------------------------------
    async def torrent_file(self, infohash: str) -> bytes:
        """torrents/export (WebAPI 2.8.14+): the .torrent as libtorrent rebuilds it
        (its info dictionary, so its infohash, is the torrent's own)."""
        await self.connect()
        if self._version < EXPORT:
            raise errors.NotImplementedError(
                f"{self._url}: qBittorrent hands out .torrent files from 4.5.0 (WebAPI 2.8.14) on"
            )
        reply = await self._web("GET", "torrents/export", params={"hash": _torrent_id(infohash)})
        if reply.status == 404:
            raise errors.NoSuchTorrentError(infohash)
        if reply.status == 409:
            # E.g. a magnet whose metadata has not come yet.
            raise errors.NotImplementedError(
                f"{self._url}: qBittorrent could not export {infohash}: {reply.text().strip() or 'HTTP 409'}"
            )
        if reply.status != 200:
            raise self._transport.fail("torrents/export", reply)
        return bytes(reply.body)

    # --- raw calls ------------------------------------------------------------------------
    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``call("torrents/info", hashes="a|b")``: keyword arguments are the parameters.

        Returns decoded JSON for JSON replies, text for text replies, bytes
        otherwise (e.g. ``torrents/export``). Bytes arguments are sent as file
        parts. Read-only methods go as GET, others as POST; a 405 tries the
        other verb.
        """
        if args:
            raise errors.ValueError(f"{self._url}: {method}: qBittorrent takes keyword arguments only")
        path = method.strip("/").removeprefix("api/v2/")
        fields = {k: _form_value(v) for k, v in kwargs.items() if not isinstance(v, bytes)}
        files: list[FilePart] = [
            (k, k, v, "application/octet-stream") for k, v in kwargs.items() if isinstance(v, bytes)
        ]
        verb = "GET" if path in _READ_ONLY_METHODS and not files else "POST"
        reply = await self._send_raw(verb, path, fields, files)
        if reply.status == 405 and not files:
            reply = await self._send_raw("POST" if verb == "GET" else "GET", path, fields, files)
        if not 200 <= reply.status < 300:
            raise self._transport.fail(path, reply)
        return self._transport.decode(path, reply)

    async def _send_raw(self, verb: str, path: str, fields: dict[str, str], files: list[FilePart]) -> HttpReply:
        if verb == "GET":
            return await self._web("GET", path, params=fields)
        return await self._web("POST", path, form=Form(fields, files))


class QbittorrentFeed:
    """sync/maindata with its response ID: after the first reply (every torrent),
    each names the torrents that changed with only their changed keys, which are
    merged into the rows kept here, and those removed.

    A response ID the daemon doesn't know (it restarted, or another feed of the
    same session moved on) gets a full update again, which sets ``present``.
    Only torrents whose keys of the asked attributes changed are reported, and
    only if their mapped value differs. Files, trackers and peers are not
    followed. On 4.x, whose rows have no ``private``, is_private is read once
    per torrent with torrents/properties (cached by the adapter). A poll that
    fails starts over with a full update.
    """

    def __init__(self, adapter: QbittorrentAdapter, attributes: frozenset[str]) -> None:
        self._adapter = adapter
        self._attributes = attributes - COLLECTION_ATTRIBUTES
        self._keys = frozenset[str]().union(*(ATTRIBUTE_KEYS.get(name, ()) for name in self._attributes))
        self._rid = 0
        self._connections = -1
        #: Whether a poll succeeded yet: a full update after it follows a break.
        self._polled = False
        #: Merged rows by torrent ID: only the keys the listing reads.
        self._rows: dict[str, dict[str, Any]] = {}
        self._sent: dict[str, Torrent] = {}
        self.news: asyncio.Event | None = None

    async def poll(self) -> TorrentChanges:
        adapter = self._adapter
        await adapter.connect()
        if adapter.connections != self._connections:
            # A new connection: a new session on the daemon, maybe a restarted daemon.
            self._rid = 0
        reply = await adapter._web("GET", "sync/maindata", params={"rid": str(self._rid)})
        # Sent again on a new connection, it got the full update a new session gives.
        self._connections = adapter.connections
        if reply.status != 200:
            raise adapter._transport.fail("sync/maindata", reply)
        try:
            return await self._apply(reply)
        except BaseException:
            self._rid = 0  # what we keep may be half-updated: start over
            raise

    async def _apply(self, reply: HttpReply) -> TorrentChanges:
        adapter = self._adapter
        # Untyped: a full update's rows are decoded whole.
        data = _json.decode(reply.body, decode_maindata, where=adapter._url, what="sync/maindata")
        removed: list[str] = []
        if data.full_update:
            self._rows = {}
            self._sent = {}
            touched = set(data.torrents)
        else:
            for torrent_id in data.torrents_removed:
                row = self._rows.pop(torrent_id, None)
                self._sent.pop(torrent_id, None)
                if row is not None:
                    removed.append(self._infohash(torrent_id, row))
            touched = {
                torrent_id
                for torrent_id, keys in data.torrents.items()
                if torrent_id not in self._rows or not self._keys.isdisjoint(keys)
            }
        for torrent_id, keys in data.torrents.items():
            row = self._rows.setdefault(torrent_id, {})
            row.update((key, value) for key, value in keys.items() if key in LISTING_KEYS)
        changed = await self._changed(touched)
        self._rid = data.rid
        present = frozenset(self._infohash(i, row) for i, row in self._rows.items()) if data.full_update else None
        if data.full_update and "is_private" in self._attributes:
            adapter._forget_private(set(self._rows))
        # A full update after the first: a new connection or login, or a rid the daemon forgot (restarted).
        resumed, self._polled = data.full_update and self._polled, True
        return TorrentChanges(changed=changed, removed=removed, present=present, resumed=resumed)

    async def _changed(self, torrent_ids: set[str]) -> list[Torrent]:
        rows: list[ListingRow] = []
        for torrent_id in torrent_ids:
            try:
                rows.append(msgspec.convert({**self._rows[torrent_id], "hash": torrent_id}, ListingRow))
            except msgspec.ValidationError as exc:
                raise errors.ResponseError(f"{self._adapter._url}: sync/maindata: invalid reply: {exc}") from exc
        changed: list[Torrent] = []
        for row, torrent in zip(rows, await self._adapter._map_rows(rows, self._attributes), strict=True):
            # Gone meanwhile (torrents/properties 404): the next reply says so.
            if torrent is not None and self._sent.get(row.hash) != torrent:
                self._sent[row.hash] = torrent
                changed.append(torrent)
        return changed

    @staticmethod
    def _infohash(torrent_id: str, row: Mapping[str, Any]) -> str:
        return (row.get("infohash_v1") or row.get("infohash_v2") or torrent_id).lower()

    async def close(self) -> None:
        pass
