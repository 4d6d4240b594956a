"""TransmissionAdapter: ClientPort over Transmission's RPC protocol."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import pathlib
import posixpath
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from ...application.ports import AddOptions, AddOutcome, AddStatus, ClientTiming, ConnectionOptions
from ...domain import errors
from ...domain.session import RateLimits, Session
from ...domain.source import TorrentSource
from ...domain.torrent import Torrent, TorrentStatus
from ...domain.url import ClientURL
from .._base import AdapterBase
from ._feed import TransmissionFeed
from ._transport import TransmissionTransport
from ._wire import (
    DEFAULT_SPEED_UNIT,
    JSONRPC,
    LEGACY,
    SESSION_FIELDS,
    SNAPSHOT_FIELDS,
    ListRows,
    Outcome,
    S,
    label_refusal,
    limit_to_wire,
    listing_fields,
    to_session,
    to_status,
    to_torrents,
)


class _Table(msgspec.Struct):
    torrents: list[list[Any]] = []


#: torrent-add takes one torrent per request; this many are in flight at once.
#: Transmission answers them one at a time in its session thread, so more
#: would only wait there; and many API objects adding at once would overflow
#: its listen queue, each dropped connection retried a second later.
_ADD_CONCURRENCY = 4
#: tr_torrent_activity: downloading, seeding (the others are not running).
_RUNNING = frozenset({4, 6})
_NOT_RUNNING = {0: "a stopped one", 1: "a verifying one", 2: "a verifying one", 3: "a queued one", 5: "a queued one"}


class TransmissionAdapter(AdapterBase):
    """Every multi-torrent primitive is one request with an ``ids`` list,
    except add: Transmission's torrent-add takes one torrent, so those
    requests run concurrently."""

    #: Transmission always checks existing data when a torrent is added.
    add_limitations: frozenset[str] = frozenset({"verify"})
    #: Until connected: the daemon says its unit in session-get.
    limit_unit: int = DEFAULT_SPEED_UNIT
    #: torrent-set-location moves the data in the daemon's session thread
    #: before it replies: a move is done (or failed) when the reply comes.
    #: A torrent added paused stays stopped after its check; a start during a
    #: check sets "start after verify" (libtransmission's torrentStart), a stop
    #: clears it and ends the check. But a stop that lands after the check
    #: ended and before the start it waited for ran is lost: the torrent
    #: starts right after (README, "Client bugs worth knowing"), so a stop
    #: it doesn't show is sent again soon.
    timing: ClientTiming = ClientTiming(move_shows_within=0.0, check_keeps_request=True, resend_after=0.5)

    def __init__(self, url: ClientURL, options: ConnectionOptions) -> None:
        super().__init__(url, options)
        self._transport = TransmissionTransport(url, options)
        self.version = ""
        self.rpc_version = 0

    @property
    def request_counts(self) -> Mapping[str, int]:
        """Requests sent so far, by RPC method (e.g. ``torrent-get``)."""
        return dict(self._transport.http.requests)

    @property
    def bytes_received(self) -> int:
        return self._transport.http.bytes_received

    # --- connection -------------------------------------------------------------------
    async def _open(self) -> None:
        self._transport.dialect = LEGACY
        arguments = await self._transport.rpc_ok(
            "session-get", {"fields": ["version", "rpc-version", "rpc-version-semver", "units"]}
        )
        try:
            session = msgspec.convert(arguments, LEGACY.session)
        except msgspec.ValidationError as exc:
            raise errors.ResponseError(f"{self._url}: Invalid session-get reply: {exc}") from exc
        self.version, self.rpc_version = session.version, session.rpc_version
        if session.units.speed_bytes > 0:
            self.limit_unit = session.units.speed_bytes
        if session.speaks_jsonrpc:
            self._transport.dialect = JSONRPC

    async def _close(self) -> None:
        await self._transport.close()

    def _is_open(self) -> bool:
        return self._transport.is_open

    async def _rpc(self, method: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """An idempotent RPC call's reply arguments."""
        return await self._request(lambda: self._transport.rpc_ok(method, arguments), idempotent=True)

    @property
    def dialect(self) -> str:
        """The protocol spoken: "legacy" or "json-rpc 2.0"."""
        return self._transport.dialect.name

    @property
    def speaks_jsonrpc(self) -> bool:
        return self._transport.dialect.jsonrpc

    @property
    def session_id(self) -> str | None:
        """The daemon's current CSRF session id: a new one after it restarted."""
        return self._transport.session_id

    def _torrent_get_arguments(self, fields: Sequence[str], ids: str | Sequence[str | int] | None) -> dict[str, Any]:
        arguments: dict[str, Any] = {"fields": list(fields)}
        if ids is not None:
            arguments["ids"] = ids if isinstance(ids, str) else list(ids)
        return arguments

    async def _torrent_get(self, fields: Sequence[str], ids: str | Sequence[str | int] | None, shape: type[S]) -> S:
        """torrent-get decoded straight into `shape`: one pass, unknown fields skipped."""
        arguments = self._torrent_get_arguments(fields, ids)
        return await self._request(lambda: self._transport.rpc_as("torrent-get", arguments, shape), idempotent=True)

    async def snapshot(self, infohashes: Sequence[str]) -> Mapping[str, TorrentStatus]:
        if not infohashes:
            return {}
        rows = await self._torrent_get(SNAPSHOT_FIELDS, infohashes, self._transport.dialect.rows)
        wanted = set(infohashes)
        statuses = (to_status(row) for row in rows.torrents)
        return {status.infohash: status for status in statuses if status.infohash in wanted}

    async def list_infohashes(self) -> list[str]:
        rows = await self._torrent_get(("hashString",), None, self._transport.dialect.hashes)
        return [row.hash_string.lower() for row in rows.torrents]

    async def listing(self, fields: Sequence[str], ids: str | Sequence[str | int] | None) -> ListRows:
        """torrent-get of these fields (original spelling) as listing rows: one request."""
        return await self._torrent_get(fields, ids, self._transport.dialect.listing)

    async def table(self, fields: Sequence[str]) -> list[list[Any]]:
        """Every torrent's values of these fields, in order (format "table": no key per row)."""
        # Decoded generically (values of any type: the typed bound doesn't hold), then checked.
        arguments = self._torrent_get_arguments(fields, None)
        arguments["format"] = "table"
        try:
            reply = msgspec.convert(await self._rpc("torrent-get", arguments), _Table)
        except msgspec.ValidationError as exc:
            raise errors.ResponseError(f"{self._url}: Invalid torrent-get reply: {exc}") from exc
        rows = reply.torrents[1:]  # the first row holds the keys
        if any(len(row) != len(fields) for row in rows):
            raise errors.ResponseError(f"{self._url}: Invalid torrent-get table: rows of other lengths than {fields}")
        return rows

    async def torrents(self, infohashes: Sequence[str] | None, attributes: frozenset[str]) -> list[Torrent]:
        if infohashes is not None and not infohashes:
            return []
        rows = await self.listing(listing_fields(attributes), infohashes)
        return to_torrents(rows.torrents, attributes, self.limit_unit)

    def change_feed(self, attributes: frozenset[str]) -> TransmissionFeed:
        return TransmissionFeed(self, attributes)

    async def add(self, sources: Sequence[TorrentSource], options: AddOptions) -> list[AddOutcome]:
        semaphore = asyncio.Semaphore(_ADD_CONCURRENCY)
        content_dir, content_name = posixpath.split(options.content_path) if options.content_path else ("", "")

        async def add_one(source: TorrentSource) -> AddOutcome:
            if content_name and source.metainfo is None:
                message = "content_path needs the torrent's file names: a magnet link has none yet"
                return AddOutcome(source=source, status=AddStatus.refused, infohash=source.infohash, message=message)
            # With content_path: added paused, its top file or folder renamed, then verified.
            arguments: dict[str, Any] = {"paused": options.stopped or bool(content_name)}
            if source.metainfo is not None:
                arguments["metainfo"] = base64.b64encode(source.metainfo).decode("ascii")
            else:
                arguments["filename"] = source.magnet
            if content_name:
                arguments["download-dir"] = content_dir
            elif options.location:
                arguments["download-dir"] = options.location
            try:
                async with semaphore:
                    reply = await self._request(lambda: self._transport.rpc("torrent-add", arguments), idempotent=False)
                    outcome, name = self._add_outcome(source, reply)
                    if content_name and outcome.status is AddStatus.added and name != content_name:
                        outcome = await self._rename_top(outcome, name, content_name)
                return outcome
            except errors.Error as exc:
                return AddOutcome(source=source, status=AddStatus.failed, infohash=source.infohash, error=exc)

        outcomes = list(await asyncio.gather(*(add_one(source) for source in sources)))
        if content_name:
            outcomes = await self._verify_added(outcomes, start=not options.stopped)
        return outcomes

    async def _rename_top(self, outcome: AddOutcome, name: str, new_name: str) -> AddOutcome:
        """Rename a just added torrent's top file or folder (its name) to `new_name`:
        in its metadata only, as there is nothing of that name on disk. Removed
        again (data kept) if Transmission refuses."""
        arguments = {"ids": [outcome.infohash], "path": name, "name": new_name}
        reply = await self._request(lambda: self._transport.rpc("torrent-rename-path", arguments), idempotent=False)
        if reply.error is None:
            return outcome
        await self._action("torrent-remove", [outcome.infohash], {"delete-local-data": False})
        message = f"Can't use {new_name!r} as the content's name: {reply.error}"
        return AddOutcome(source=outcome.source, status=AddStatus.refused, infohash=outcome.infohash, message=message)

    async def _verify_added(self, outcomes: list[AddOutcome], *, start: bool) -> list[AddOutcome]:
        """Verify the torrents just added for content_path (and start them): one request each."""
        added = [outcome.infohash for outcome in outcomes if outcome.status is AddStatus.added]
        failures = dict(await self.verify(added))
        if start:
            failures.update(await self.start([infohash for infohash in added if infohash not in failures]))
        return [
            outcome
            if outcome.infohash not in failures or outcome.status is not AddStatus.added
            else AddOutcome(
                source=outcome.source,
                status=AddStatus.failed,
                infohash=outcome.infohash,
                error=errors.ResponseError(failures[outcome.infohash]),
            )
            for outcome in outcomes
        ]

    def _add_outcome(self, source: TorrentSource, reply: Outcome) -> tuple[AddOutcome, str]:
        """The outcome, and the added torrent's name ("" if none was added)."""
        if reply.error is not None:
            # 4.0.0–4.0.2 reported duplicates as an error string.
            if "duplicate" in reply.error.lower():
                return AddOutcome(source=source, status=AddStatus.already_added, infohash=source.infohash), ""
            outcome = AddOutcome(source=source, status=AddStatus.refused, infohash=source.infohash, message=reply.error)
            return outcome, ""
        try:
            result = msgspec.convert(reply.arguments, self._transport.dialect.add_result)
        except msgspec.ValidationError as exc:
            raise errors.ResponseError(f"{self._url}: Invalid torrent-add reply: {exc}") from exc
        if result.torrent_duplicate is not None:
            infohash = result.torrent_duplicate.hash_string.lower()
            return AddOutcome(source=source, status=AddStatus.already_added, infohash=infohash), ""
        if result.torrent_added is not None:
            infohash = result.torrent_added.hash_string.lower()
            return AddOutcome(source=source, status=AddStatus.added, infohash=infohash), result.torrent_added.name
        outcome = AddOutcome(source=source, status=AddStatus.refused, infohash=source.infohash, message="Empty reply")
        return outcome, ""

    async def _action(
        self, method: str, infohashes: Sequence[str], arguments: Mapping[str, Any] | None = None
    ) -> Mapping[str, str]:
        """One request for every torrent; the daemon's error fails them all (it
        reports none per torrent)."""
        if not infohashes:
            return {}
        try:
            await self._rpc(method, {"ids": list(infohashes), **(arguments or {})})
        except errors.ResponseError as exc:
            return dict.fromkeys(infohashes, str(exc))
        return {}

    async def start(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        return await self._action("torrent-start", infohashes)

    async def stop(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        return await self._action("torrent-stop", infohashes)

    async def verify(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        return await self._action("torrent-verify", infohashes)

    async def remove(self, infohashes: Sequence[str], delete_data: bool) -> Mapping[str, str]:
        # Transmission deletes the torrent's files and the folders they leave empty.
        return await self._action("torrent-remove", infohashes, {"delete-local-data": delete_data})

    async def move(self, infohashes: Sequence[str], location: str) -> Mapping[str, str]:
        # Accepted at once; the daemon moves afterwards and keeps the old
        # download-dir when that fails (the services see no move).
        return await self._action("torrent-set-location", infohashes, {"location": location, "move": True})

    async def reannounce(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        """torrent-reannounce, for the torrents Transmission would announce: it
        ignores the others without a word, so they are failures here.

        Transmission also ignores a torrent whose tracker answered less than
        its minimum interval ago (2 minutes for a first announce), and the RPC
        doesn't tell which: manualAnnounceTime, meant for that, is always -1
        (tr_announcerNextManualAnnounce takes the minimum with ~0 on 3.00 and
        4.1.3). Those count as reannounced.
        """
        if not infohashes:
            return {}
        rows = (await self.listing(("hashString", "status", "trackers"), infohashes)).torrents
        failures: dict[str, str] = {}
        for row in rows:
            if row.status not in _RUNNING:
                failures[row.hash_string.lower()] = (
                    f"Transmission announces only running torrents, not {_NOT_RUNNING.get(row.status, 'this one')}"
                )
            elif not row.trackers:
                failures[row.hash_string.lower()] = "The torrent has no tracker to announce to"
        wanted = [infohash for infohash in infohashes if infohash not in failures]
        return {**failures, **await self._action("torrent-reannounce", wanted)}

    async def set_label(self, infohashes: Sequence[str], label: str | None) -> Mapping[str, str]:
        """The label becomes the torrent's first label, its other labels (tags)
        stay; None removes every label (else the next would read as the label)."""
        if not infohashes:
            return {}
        if label is not None:
            refusal = label_refusal(label)
            if refusal:
                return dict.fromkeys(infohashes, refusal)
        if label is None:
            return await self._action("torrent-set", infohashes, {"labels": []})
        rows = (await self.listing(("hashString", "labels"), infohashes)).torrents
        tags = {row.hash_string.lower(): tuple(t for t in row.labels[1:] if t != label) for row in rows}
        # One torrent-set per set of labels: one in all unless torrents have other tags.
        groups: dict[tuple[str, ...], list[str]] = {}
        for infohash in infohashes:
            groups.setdefault((label, *tags.get(infohash, ())), []).append(infohash)
        failures: dict[str, str] = {}
        for labels, group in groups.items():
            failures.update(await self._action("torrent-set", group, {"labels": list(labels)}))
        return failures

    async def set_limits(self, infohashes: Sequence[str], limits: RateLimits) -> Mapping[str, str]:
        arguments = self._limit_arguments(limits, "downloadLimit", "downloadLimited", "uploadLimit", "uploadLimited")
        if isinstance(arguments, str):
            return dict.fromkeys(infohashes, arguments)
        if not arguments:
            return {}
        return await self._action("torrent-set", infohashes, arguments)

    def _limit_arguments(
        self, limits: RateLimits, down: str, down_enabled: str, up: str, up_enabled: str
    ) -> dict[str, Any] | str:
        """The limit fields to set (in the daemon's speed unit), or why they can't be."""
        arguments: dict[str, Any] = {}
        for value, field, enabled in ((limits.down, down, down_enabled), (limits.up, up, up_enabled)):
            if isinstance(value, msgspec.UnsetType):
                continue
            if value is not None and value < 0:
                return f"A rate limit can't be negative: {value}"
            arguments[field], arguments[enabled] = limit_to_wire(value, self.limit_unit)
        return arguments

    async def session(self) -> Session:
        dialect = self._transport.dialect
        try:
            settings, stats = await asyncio.gather(
                self._typed("session-get", {"fields": list(SESSION_FIELDS)}, dialect.session_settings),
                self._typed("session-stats", None, dialect.session_stats),
            )
        except errors.ResponseError as exc:
            raise errors.SessionError(str(exc)) from exc
        free_space = None
        if settings.download_dir:
            # The daemon's error (e.g. no such folder) leaves it unknown.
            with contextlib.suppress(errors.ResponseError):
                space = await self._typed("free-space", {"path": settings.download_dir}, dialect.free_space)
                free_space = space.size_bytes if space.size_bytes >= 0 else None
        return to_session(settings, stats, free_space)

    async def _typed(self, method: str, arguments: dict[str, Any] | None, shape: type[S]) -> S:
        """An idempotent RPC call's reply arguments as `shape`."""
        return await self._request(lambda: self._transport.rpc_as(method, arguments, shape), idempotent=True)

    async def set_session_limits(self, limits: RateLimits) -> None:
        arguments = self._limit_arguments(
            limits, "speed-limit-down", "speed-limit-down-enabled", "speed-limit-up", "speed-limit-up-enabled"
        )
        if isinstance(arguments, str):
            raise errors.SessionError(arguments)
        if arguments:
            try:
                await self._rpc("session-set", arguments)
            except errors.ResponseError as exc:
                raise errors.SessionError(str(exc)) from exc

    async def torrent_file(self, infohash: str) -> bytes:
        """Read from the daemon's torrents folder: Transmission hands out its path only."""
        rows = (await self.listing(("hashString", "torrentFile"), [infohash])).torrents
        path = next((row.torrent_file for row in rows if row.hash_string.lower() == infohash), None)
        if path is None:
            raise errors.NoSuchTorrentError(infohash)
        if not path or path.endswith(".magnet"):
            raise errors.NotImplementedError(f"{self._url}: Transmission has no metainfo of {infohash} yet")
        try:
            return await asyncio.to_thread(pathlib.Path(path).read_bytes)
        except OSError as exc:
            raise errors.NotImplementedError(
                f"{self._url}: Transmission keeps the .torrent file at {path} on its own host,"
                f" which is not readable here: {exc.strerror or exc}"
            ) from exc

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Raw RPC: arguments as one dict and/or keywords; returns the whole reply."""
        if len(args) > 1 or (args and not isinstance(args[0], Mapping)):
            raise errors.ValueError("Transmission calls take one dict of arguments and/or keyword arguments")
        arguments = {**(args[0] if args else {}), **kwargs}
        return await self._request(lambda: self._transport.raw(method, arguments or None), idempotent=False)
