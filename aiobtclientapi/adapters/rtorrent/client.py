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
import base64
import os
import posixpath
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
from ...domain.session import RateLimits, Session
from ...domain.source import TorrentSource
from ...domain.torrent import Torrent, TorrentStatus
from ...domain.url import ClientURL
from .._base import AdapterBase
from . import _resume, _wire
from ._transport import Call, CallFailure, RtorrentTransport, chunk_groups

_INFOHASH = re.compile(r"^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$")
#: Up to this many torrents, snapshot() asks for each one's getters; beyond,
#: one d.multicall2 over all torrents is cheaper than many getter requests.
_GETTERS_UP_TO = 50
#: The same bound for listings, in getter calls: a system.multicall this size
#: is one request (under MAX_CALLS_PER_REQUEST and the size limit).
_GETTER_CALLS_UP_TO = _GETTERS_UP_TO * len(_wire.STATUS_COLUMNS)
#: What deleting a torrent's data needs to know (the arguments of _wire.removal).
_REMOVAL_COLUMNS = (
    _wire.Column("directory", "d.directory"),
    _wire.Column("is_multi_file", "d.is_multi_file"),
    _wire.Column("files", "f.multicall", ("", "f.frozen_path=", "f.path=")),
)
#: What moving a torrent's data needs to know (_wire.move's arguments, then its state).
_MOVE_COLUMNS = tuple(
    _wire.Column(getter, f"d.{getter}") for getter in ("directory", "is_multi_file", "name", "is_open", "state")
)
#: Commands whose first argument is a download's infohash (``HASH`` or ``HASH:i``).
_TARGETED_PREFIXES = ("d.", "f.", "p.", "t.")


def _quote(value: str) -> str:
    """`value` as one argument of an rTorrent command string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


#: XML-RPC methods that change nothing, or nothing more when sent twice.
_IDEMPOTENT_PREFIXES = ("system.client_version", "d.multicall2", "download_list", "d.hash", "dht.statistics")


class RtorrentAdapter(AdapterBase):
    """Implements ClientPort for rTorrent 0.9.8 to 0.16 (tested: 0.9.8, 0.16.17)."""

    # verify=False: fast-resume data built from the files as this host sees
    # them (_resume.py); where it can't be built, the outcome's warning says so.
    add_limitations: frozenset[str] = frozenset()
    #: Throttle rates are KiB/s.
    limit_unit: int = _wire.LIMIT_UNIT

    def __init__(self, url: ClientURL, options: ConnectionOptions) -> None:
        super().__init__(url, options)
        self._transport = RtorrentTransport(url, options)
        #: Whether the daemon refuses torrents without trackers (by its version);
        #: None until it told its version.
        self._refuses_trackerless: bool | None = None
        #: Whether the daemon skips padding files in resume data (by its version).
        self._skips_padding = False
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
            self._learn_version(version)
        self._log.debug("connected", version=version)

    def _learn_version(self, version: str) -> None:
        self._refuses_trackerless = _wire.refuses_trackerless(version)
        self._skips_padding = _resume.skips_padding(version)

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
    async def _rows_of_all(self, plan: _wire.Multicall2) -> list[Any]:
        """`plan`'s columns of every torrent: one d.multicall2, validated in one pass."""
        reply = await self._call("d.multicall2", "", "main", *plan.args())
        try:
            return plan.rows(reply)
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

    async def _status_rows_of(self, infohashes: Sequence[str]) -> list[Any]:
        """The status of the given torrents it knows: their getters in one system.multicall."""
        groups = [_wire.STATUS.calls(h.upper()) for h in infohashes]
        try:
            return _wire.STATUS.rows(await self._known_groups(groups))
        except (msgspec.ValidationError, TypeError) as exc:
            raise errors.ResponseError(f"{self._url}: invalid torrent status: {exc}") from exc

    async def snapshot(self, infohashes: Sequence[str]) -> Mapping[str, TorrentStatus]:
        wanted = {h.lower() for h in infohashes}
        if not wanted:
            return {}
        if len(wanted) <= _GETTERS_UP_TO:
            rows = await self._status_rows_of(sorted(wanted))
        else:
            rows = await self._rows_of_all(_wire.STATUS)
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
        plan = _wire.multicall2(tuple(columns))
        if len(wanted) * len(plan.wire_columns) > _GETTER_CALLS_UP_TO:
            return [row for row in await self._listing(columns) if row.hash.upper() in wanted]
        groups = [plan.calls(h) for h in sorted(wanted)]
        try:
            known = plan.unpack(await self._known_groups(groups))
            return [_wire.to_listing_row(plan.columns, values) for values in known]
        except (msgspec.ValidationError, TypeError) as exc:
            raise errors.ResponseError(f"{self._url}: invalid torrent attributes: {exc}") from exc

    async def torrents(self, infohashes: Sequence[str] | None, attributes: frozenset[str]) -> list[Torrent]:
        listing = _wire.listing(attributes)
        if infohashes is None:
            # Every torrent: rows of just these columns.
            rows: Sequence[Any] = await self._rows_of_all(listing.multicall2)
        elif not infohashes:
            return []
        else:
            rows = await self._listing_of(infohashes, listing.columns)
        torrent = listing.torrent
        return [torrent(row) for row in rows]

    def change_feed(self, attributes: frozenset[str]) -> ChangeFeed:
        return RtorrentFeed(self, attributes)

    # --- add -------------------------------------------------------------------------
    @staticmethod
    def _placement(source: TorrentSource, options: AddOptions) -> tuple[str, str] | None:
        """The command placing `source`'s content and its directory; None: rTorrent's default directory."""
        if options.content_path:
            if _wire.single_file_name(source) is None:
                # The content folder as it is: rTorrent appends no name to a base path.
                return "d.directory_base.set", options.content_path
            # A single file is named after the torrent (checked by _content_path_refusal).
            return "d.directory.set", posixpath.dirname(options.content_path) or "/"
        if options.location:
            return "d.directory.set", options.location
        return None

    def _load_call(self, source: TorrentSource, options: AddOptions, resumed: bytes | None = None) -> Call:
        """The load.* call adding `source`; `resumed`: its metainfo with fast-resume data."""
        commands: list[str] = []
        if placement := self._placement(source, options):
            command, directory = placement
            commands.append(f"{command}={_quote(directory)}")
        if resumed is not None and options.stopped:
            # rTorrent reads resume data when it opens a download for its first
            # check, which a stopped one waits for until it starts. Queue that
            # check now, as starting does (DownloadList::resume: d.hashing
            # "initial", then the hashing view takes it): with the files' sizes
            # and mtimes as the resume data says, it hashes nothing and the
            # torrent stays stopped, complete.
            commands += ["d.hashing.set=1", "view.filter_download=hashing"]
        metainfo = resumed if resumed is not None else source.metainfo
        if metainfo is not None:
            method = "load.raw" if options.stopped else "load.raw_start"
            return method, ("", xmlrpc.client.Binary(metainfo), *commands)
        method = "load.normal" if options.stopped else "load.start"
        return method, ("", source.magnet or "", *commands)

    async def add(self, sources: Sequence[TorrentSource], options: AddOptions) -> list[AddOutcome]:
        outcomes: dict[int, AddOutcome] = {}

        def outcome(index: int, status: AddStatus, **details: Any) -> None:
            source = sources[index]
            outcomes[index] = AddOutcome(source=source, status=status, infohash=source.infohash, **details)

        try:
            refusals, default_directory = await self._ask_before_loading(sources, options)
        except errors.Error as exc:
            return [AddOutcome(source=s, status=AddStatus.failed, infohash=s.infohash, error=exc) for s in sources]
        to_load: list[int] = []
        for index, source in enumerate(sources):
            if source.metainfo is None and not source.magnet:
                outcome(index, AddStatus.refused, message="Nothing to add")
            elif index in refusals:
                outcome(index, AddStatus.refused, message=refusals[index])
            elif options.content_path and (why := _content_path_refusal(source, options.content_path)):
                outcome(index, AddStatus.refused, message=why)
            else:
                to_load.append(index)
        resumed: dict[int, bytes] = {}
        warnings: dict[int, str] = {}
        if not options.verify and to_load:
            resumed, warnings = await self._fast_resume({i: sources[i] for i in to_load}, options, default_directory)
        try:
            calls = [self._load_call(sources[i], options, resumed.get(i)) for i in to_load]
            results = await self._multicall(calls, idempotent=False) if calls else []
        except errors.Error as exc:
            results = [None] * len(to_load)
            for index in to_load:
                outcome(index, AddStatus.failed, error=exc, warning=warnings.get(index))
        for index, result in zip(to_load, results, strict=True):
            if isinstance(result, CallFailure):
                outcome(index, AddStatus.refused, message=result.message)
            elif index not in outcomes:
                outcome(index, AddStatus.added, warning=warnings.get(index))
        return [outcomes[index] for index in range(len(sources))]

    async def _ask_before_loading(
        self, sources: Sequence[TorrentSource], options: AddOptions
    ) -> tuple[dict[int, str], str | None]:
        """What add() must know from the daemon before it loads, in one request
        (none when it needs nothing): the sources it would refuse for lack of
        trackers (0.9.x), by index, and why; and its default directory when
        verify=False must find content placed there."""
        need = {i: kind for i, source in enumerate(sources) if (kind := _wire.trackerless(source))}
        wants_directory = (
            not options.verify
            and not options.location
            and not options.content_path
            and any(source.metainfo is not None for source in sources)
        )
        calls: dict[str, Call] = {}
        if need:
            calls["dht"] = ("dht.statistics", ())
        if self._refuses_trackerless is None and (need or not options.verify):
            # Unless connect() asked already.
            calls["version"] = ("system.client_version", ())
        if wants_directory:
            calls["directory"] = ("directory.default", ("",))
        if not calls:
            return {}, None
        results = dict(zip(calls, await self._multicall(list(calls.values()), idempotent=True), strict=True))
        if isinstance(version := results.get("version"), str):
            self._learn_version(version)
        directory = results.get("directory")
        default_directory = directory if isinstance(directory, str) and directory else None
        if not need or not self._refuses_trackerless:
            return {}, default_directory
        dht = results["dht"]
        dht_running = isinstance(dht, dict) and bool(dht.get("active"))
        refusals: dict[int, str] = {}
        for index, kind in need.items():
            if kind == "private":
                refusals[index] = "rTorrent refuses private torrents without trackers"
            elif not dht_running:
                refusals[index] = "rTorrent refuses torrents without trackers while its DHT is off"
        return refusals, default_directory

    async def _fast_resume(
        self, sources: Mapping[int, TorrentSource], options: AddOptions, default_directory: str | None
    ) -> tuple[dict[int, bytes], dict[int, str]]:
        """For verify=False: the metainfo with fast-resume data of each source
        whose files are all here as the torrent says, by index; for the others,
        why not (they load as usual, and rTorrent checks their data).

        The files are where rTorrent will look for them, as this host sees
        them: a daemon on another host (or in a container with other paths)
        finds nothing here, and rTorrent checks as usual. Every stat() of the
        batch runs in one thread; nothing here opens or writes a data file.
        """
        layouts: dict[int, _resume.Layout] = {}
        why_not: dict[int, str] = {}
        for index, source in sources.items():
            placement = self._placement(source, options) or (
                ("d.directory.set", default_directory) if default_directory else None
            )
            if source.metainfo is None:
                why_not[index] = "a magnet link has no file list to build fast-resume data from"
            elif placement is None:
                why_not[index] = "rTorrent's default directory (directory.default) is not set"
            else:
                command, directory = placement
                planned = _resume.layout(source.metainfo, directory, base=command == "d.directory_base.set")
                if isinstance(planned, str):
                    why_not[index] = planned
                else:
                    layouts[index] = planned
        paths = [file.path for planned in layouts.values() for file in planned.files]
        stats = iter(await asyncio.to_thread(_stat_all, paths) if paths else [])
        resumed: dict[int, bytes] = {}
        for index, planned in layouts.items():
            found = [next(stats) for _ in planned.files]
            built = _resume.with_resume(planned, found, sources[index].infohash, padding_skipped=self._skips_padding)
            if isinstance(built, str):
                why_not[index] = built
            else:
                resumed[index] = built
        return resumed, {
            i: f"rTorrent will check the data (verify=False is ignored): {why}" for i, why in why_not.items()
        }

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

    async def reannounce(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        return await self._act(infohashes, ("d.tracker_announce",))

    # --- remove and move: data on the daemon's host ---------------------------------
    async def _read(
        self, infohashes: Sequence[str], head: Sequence[Call], columns: Sequence[_wire.Column]
    ) -> tuple[list[Any], dict[str, list[Any] | str]]:
        """The results of the `head` calls, and each torrent's `columns` (or why
        not, e.g. unknown), in one request: the torrents' getters in a
        system.multicall, or for many torrents one d.multicall2 over all inside it."""
        if len(infohashes) * len(columns) <= _GETTER_CALLS_UP_TO:
            groups: list[Sequence[Call]] = [head, *([column.call(h.upper()) for column in columns] for h in infohashes)]
            results = await self._multicall_groups(groups, idempotent=True)
            values: dict[str, list[Any] | str] = {}
            for infohash, row in zip(infohashes, results[1:], strict=True):
                failure = next((v for v in row if isinstance(v, CallFailure)), None)
                values[infohash] = failure.message if failure is not None else row
            return results[0], values
        args = ["d.hash=", *(column.multicall2_arg() for column in columns)]
        results = await self._multicall([*head, ("d.multicall2", ("", "main", *args))], idempotent=True)
        rows = results[-1]
        if isinstance(rows, CallFailure):
            raise errors.ResponseError(f"{self._url}: {rows.message}")
        if not isinstance(rows, list) or not all(
            isinstance(row, list) and len(row) == len(args) and isinstance(row[0], str) for row in rows
        ):
            raise errors.ResponseError(f"{self._url}: invalid d.multicall2 reply")
        by_hash = {row[0].lower(): row[1:] for row in rows}
        values = {h: by_hash.get(h.lower(), "Could not find info-hash.") for h in infohashes}
        return results[:-1], values

    async def remove(self, infohashes: Sequence[str], delete_data: bool) -> Mapping[str, str]:
        """d.erase; with `delete_data`, the torrent's own files are deleted afterwards
        by the daemon's own rm (execute.capture: wherever the daemon runs), then
        the folders they leave empty inside its folder."""
        failures: dict[str, str] = {}
        plans: dict[str, _wire.Removal] = {}
        to_erase = list(infohashes)
        if delete_data:
            # Read what to delete and whether we can, before erasing anything:
            # rTorrent forgets a torrent's files with it.
            [probe], rows = await self._read(infohashes, [_wire.script_call(_wire.PROBE_SCRIPT)], _REMOVAL_COLUMNS)
            why_not = _execute_failure(probe)
            if why_not is not None:
                return {h: f"can't delete data: {why_not}" for h in infohashes}
            for infohash, row in rows.items():
                if isinstance(row, str):
                    failures[infohash] = row
                    continue
                try:
                    plan = _wire.removal(*row)
                except (TypeError, ValueError) as exc:
                    raise errors.ResponseError(f"{self._url}: invalid file list: {exc}") from exc
                if isinstance(plan, str):
                    failures[infohash] = f"can't delete data: {plan}"
                else:
                    plans[infohash] = plan
            to_erase = [h for h in infohashes if h in plans]
        if to_erase:
            failures.update(await self._act(to_erase, ("d.erase",)))
        erased = [h for h in to_erase if h not in failures and h in plans]
        if erased:
            deletes, rmdirs = _wire.removal_calls([plans[h] for h in erased])
            problems = _wire.removal_problems(await self._multicall(deletes, idempotent=True))
            if rmdirs:
                # After every delete: the folders must be empty by then.
                await self._multicall(rmdirs, idempotent=True)
            for index, infohash in enumerate(erased):
                found = problems.get(index, []) + problems.get(-1, [])
                if found:
                    failures[infohash] = f"removed, but not all of its data was deleted: {'; '.join(found)}"
        return failures

    async def move(self, infohashes: Sequence[str], location: str) -> Mapping[str, str]:
        """Stop and close, move the content with the daemon's own mv, point the
        torrent at it (d.directory_base.set), then open and start again what was."""
        failures: dict[str, str] = {}
        [probe], rows = await self._read(infohashes, [_wire.script_call(_wire.PROBE_SCRIPT)], _MOVE_COLUMNS)
        why_not = _execute_failure(probe)
        if why_not is not None:
            return {h: f"can't move data: {why_not}" for h in infohashes}
        moves: dict[str, _wire.Move] = {}
        was_open: set[str] = set()
        was_started: set[str] = set()
        for infohash, row in rows.items():
            if isinstance(row, str):
                failures[infohash] = row
                continue
            directory, multi, name, is_open, state = row
            if not isinstance(directory, str) or not directory.startswith("/") or not isinstance(name, str):
                failures[infohash] = f"can't move data: its folder is not an absolute path: {directory!r}"
                continue
            moves[infohash] = _wire.move(directory, multi, name, location)
            if is_open:
                was_open.add(infohash)
            if state:
                was_started.add(infohash)
        todo = list(moves)
        if not todo:
            return failures
        # rTorrent must not hold the files while they move; d.directory_base.set
        # on an open download whose files are gone stops it with an error.
        failures.update(await self._act(todo, ("d.stop", "d.close")))
        todo = [h for h in todo if h not in failures]
        calls = [_wire.script_call(_wire.MOVE_SCRIPT, *moves[h][:2], location) for h in todo]
        moved: list[str] = []
        for infohash, output in zip(todo, await self._multicall(calls, idempotent=False), strict=True):
            problem = _execute_output(output, success="OK")
            if problem:
                failures[infohash] = problem
            else:
                moved.append(infohash)
        # Point the moved ones at their data; open and start again what was, moved or not.
        restore: list[list[Call]] = []
        for infohash in moves:
            wire_hash = infohash.upper()
            group: list[Call] = []
            if infohash in moved:
                group.append(("d.directory_base.set", (wire_hash, moves[infohash].base)))
            if infohash in was_open or infohash in was_started:
                group.append(("d.open", (wire_hash,)))
            if infohash in was_started:
                group.append(("d.start", (wire_hash,)))
            if group:
                restore.append(group)
        owners = [h for h in moves if h in moved or h in was_open or h in was_started]
        for infohash, values in zip(owners, await self._multicall_groups(restore, idempotent=False), strict=True):
            failure = next((v for v in values if isinstance(v, CallFailure)), None)
            if failure is None:
                continue
            if infohash in moved and values[0] is failure:
                failures[infohash] = (
                    f"moved to {moves[infohash].target}, but rTorrent did not take it: {failure.message}"
                )
            else:
                failures.setdefault(infohash, failure.message)
        return failures

    # --- labels and limits ------------------------------------------------------------
    async def set_label(self, infohashes: Sequence[str], label: str | None) -> Mapping[str, str]:
        encoded = _wire.encode_label(label) if label else ""
        if len(encoded) > _wire.MAX_LABEL_SIZE:
            why = f"label longer than ruTorrent's {_wire.MAX_LABEL_SIZE} bytes once percent-encoded"
            return dict.fromkeys(infohashes, why)
        groups = [[("d.custom1.set", (h.upper(), encoded))] for h in infohashes]
        failures: dict[str, str] = {}
        for infohash, [result] in zip(infohashes, await self._multicall_groups(groups, idempotent=True), strict=True):
            if isinstance(result, CallFailure):
                failures[infohash] = result.message
        return failures

    async def set_limits(self, infohashes: Sequence[str], limits: RateLimits) -> Mapping[str, str]:
        """rTorrent limits torrents only through named throttle groups: each torrent
        joins the group of its (down, up) pair, made here. Its group can't change
        while it is active: ruTorrent's way, stop, set and start again in one command."""
        columns = (
            _wire.Column("throttle_name", "d.throttle_name"),
            _wire.COMPUTED["throttle_down"],
            _wire.COMPUTED["throttle_up"],
        )
        head: list[Call] = [("throttle.global_down.max_rate", ("",)), ("throttle.global_up.max_rate", ("",))]
        (global_down, global_up), rows = await self._read(infohashes, head, columns)
        failures: dict[str, str] = {}
        names: dict[str, str] = {}
        rates: dict[str, tuple[int, int]] = {}
        for infohash, row in rows.items():
            if isinstance(row, str):
                failures[infohash] = row
                continue
            # What the torrent has now, for the direction not given.
            current = _wire.group_rates(*row)
            down = current[0] if limits.down is msgspec.UNSET else _wire.limit_kib(limits.down)
            up = current[1] if limits.up is msgspec.UNSET else _wire.limit_kib(limits.up)
            names[infohash] = name = _wire.throttle_group(down, up)
            rates[name] = (down, up)
        if not names:
            return failures
        setup: list[Call] = []
        for name, (down, up) in rates.items():
            if name:
                setup += [("throttle.down", ("", name, str(down))), ("throttle.up", ("", name, str(up)))]
        big = _wire.GLOBAL_LIMIT_FOR_GROUPS_KIB * _wire.LIMIT_UNIT
        if global_down == 0 and any(down for down, _ in rates.values()):
            setup.append(("throttle.global_down.max_rate.set", ("", big)))
        if global_up == 0 and any(up for _, up in rates.values()):
            setup.append(("throttle.global_up.max_rate.set", ("", big)))
        todo = list(names)
        batch: list[list[Call]] = [setup] if setup else []
        for infohash in todo:
            assign = f"d.throttle_name.set={_quote(names[infohash])}"
            stop_assign_start = f"cat=$d.stop=,${assign},$d.start="
            batch.append([("branch", (infohash.upper(), "d.is_active=", stop_assign_start, assign))])
        if setup and len(chunk_groups(batch)) > 1:
            # Chunks run side by side: the groups must exist before torrents join them.
            results = [await self._multicall(setup, idempotent=True)]
            results += await self._multicall_groups(batch[1:], idempotent=True)
        else:
            results = await self._multicall_groups(batch, idempotent=True)
        if setup:
            failure = next((v for v in results[0] if isinstance(v, CallFailure)), None)
            if failure is not None:
                return {**failures, **dict.fromkeys(todo, failure.message)}
            results = results[1:]
        for infohash, [result] in zip(todo, results, strict=True):
            if isinstance(result, CallFailure):
                failures[infohash] = result.message
        return failures

    # --- the session ----------------------------------------------------------------------
    async def session(self) -> Session:
        getters = (
            "system.client_version",
            "throttle.global_down.rate",
            "throttle.global_up.rate",
            "throttle.global_down.total",
            "throttle.global_up.total",
            "throttle.global_down.max_rate",
            "throttle.global_up.max_rate",
            "directory.default",
        )
        values = await self._multicall([(getter, ("",)) for getter in getters], idempotent=True)
        failure = next((v for v in values if isinstance(v, CallFailure)), None)
        if failure is not None:
            raise errors.SessionError(f"{self._url}: {failure.message}")
        version, rate_down, rate_up, downloaded, uploaded, limit_down, limit_up, save_path = values
        if not all(isinstance(v, int) for v in values[1:7]) or not isinstance(save_path, str):
            raise errors.ResponseError(f"{self._url}: invalid session values: {values!r}")
        return Session(
            client="rtorrent",
            version=version if isinstance(version, str) else None,
            rate_down=rate_down,
            rate_up=rate_up,
            downloaded=downloaded,
            uploaded=uploaded,
            limit_down=limit_down or None,
            limit_up=limit_up or None,
            save_path=save_path or None,
            free_space=await self._free_space(save_path) if save_path else None,
        )

    async def _free_space(self, path: str) -> int | None:
        """Bytes free for unprivileged users at `path` on the daemon's host; None if it can't tell."""
        [output] = await self._multicall(
            [_wire.script_call('stat -f -c "%a %S" -- "$1" 2>/dev/null; exit 0', path)], idempotent=True
        )
        if not isinstance(output, str):
            return None
        parts = output.split()
        if len(parts) != 2 or not all(part.isdigit() for part in parts):
            return None
        return int(parts[0]) * int(parts[1])

    async def set_session_limits(self, limits: RateLimits) -> None:
        calls: list[Call] = []
        for direction, limit in (("down", limits.down), ("up", limits.up)):
            if limit is not msgspec.UNSET:
                rate = _wire.limit_kib(limit) * _wire.LIMIT_UNIT
                calls.append((f"throttle.global_{direction}.max_rate.set", ("", rate)))
        if not calls:
            return
        for result in await self._multicall(calls, idempotent=True):
            if isinstance(result, CallFailure):
                raise errors.SessionError(f"{self._url}: {result.message}")

    # --- the .torrent -----------------------------------------------------------------------
    async def torrent_file(self, infohash: str) -> bytes:
        """rTorrent keeps a copy as ``<session.path><HASH>.torrent``; no command
        hands out its bytes, so it is read here when this host sees the daemon's
        files (a local daemon, a container sharing its folders)."""
        wire_hash = infohash.upper()
        session_path, known = await self._multicall(
            [("session.path", ("",)), ("d.hash", (wire_hash,))], idempotent=True
        )
        if isinstance(known, CallFailure):
            raise errors.NoSuchTorrentError(infohash)
        if not isinstance(session_path, str) or not session_path:
            raise errors.NotImplementedError(f"{self._url}: rTorrent keeps no session (session.path is empty)")
        path = posixpath.join(session_path, f"{wire_hash}.torrent")
        try:
            return await asyncio.to_thread(_read_file, path)
        except OSError as exc:
            here = exc.strerror or str(exc)
        # Not on this host: the daemon's own base64 reads it where it runs.
        script = 'out=$(base64 -- "$1" 2>&1) && printf "OK\\n%s\\n" "$out" || printf "%s\\n" "$out"; exit 0'
        [output] = await self._multicall([_wire.script_call(script, path)], idempotent=True)
        if isinstance(output, str):
            status, _, encoded = output.partition("\n")
            if status == "OK":
                try:
                    return base64.b64decode(encoded)
                except ValueError as exc:
                    raise errors.ResponseError(f"{self._url}: invalid base64 of {path}: {exc}") from exc
            there = output.strip() or "no output"
        else:
            there = output.message if isinstance(output, CallFailure) else repr(output)
        raise errors.NotImplementedError(
            f"{self._url}: can't read rTorrent's copy {path}: on this host: {here}; by the daemon: {there}"
        )

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
        #: adapter.connections at the last poll; None before the first.
        self._connections: int | None = None

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
        # A new connection after the first poll follows a break.
        previous, self._connections = self._connections, self._adapter.connections
        resumed = previous is not None and previous != self._connections
        return TorrentChanges(changed=changed, present=frozenset(t.infohash for t in changed), resumed=resumed)

    async def close(self) -> None:
        pass


def _content_path_refusal(source: TorrentSource, content_path: str) -> str | None:
    """Why rTorrent can't use `content_path` for `source`'s content; None if it can."""
    if source.metainfo is None:
        return "rTorrent needs the .torrent file to use a content path (a file or a folder?)"
    name = _wire.single_file_name(source)
    if name is not None and posixpath.basename(content_path) != name:
        return (
            f"rTorrent names a single-file torrent's file after the torrent ({name!r}): "
            f"it can't use {posixpath.basename(content_path)!r}"
        )
    return None


def _stat_all(paths: Sequence[bytes]) -> list[_resume.Stat]:
    """stat() of each path (following symlinks, as rTorrent does), or why it failed."""
    results: list[_resume.Stat] = []
    for path in paths:
        try:
            results.append(_resume.Found.of(os.stat(path)))
        except OSError as exc:
            results.append(exc.strerror or str(exc))
    return results


def _read_file(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


def _execute_failure(result: Any) -> str | None:
    """None if the probe script ran, else why rTorrent won't run programs."""
    if isinstance(result, CallFailure):
        return f"rTorrent did not run a program (execute.capture): {result.message}"
    if not isinstance(result, str) or result.strip() != "OK":
        return f"rTorrent did not run a program (execute.capture): {result!r}"
    return None


def _execute_output(output: Any, success: str = "") -> str:
    """ "" if a script's output says it succeeded, else what went wrong."""
    if isinstance(output, CallFailure):
        return f"rTorrent did not run a program: {output.message}"
    if not isinstance(output, str):
        return f"unexpected output: {output!r}"
    text = output.strip()
    return "" if text == success else " ".join(text.split("\n"))


if TYPE_CHECKING:
    from ...application.ports import ClientPort

    def _fits_the_port(adapter: RtorrentAdapter) -> ClientPort:
        return adapter  # mypy checks the structural fit here
