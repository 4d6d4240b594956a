"""TransmissionAdapter: ClientPort over Transmission's RPC protocol."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from ...application.ports import AddOptions, AddOutcome, AddStatus, ConnectionOptions
from ...domain import errors
from ...domain.source import TorrentSource
from ...domain.torrent import Torrent, TorrentStatus
from ...domain.url import ClientURL
from .._base import AdapterBase
from ._feed import TransmissionFeed
from ._transport import TransmissionTransport
from ._wire import JSONRPC, LEGACY, SNAPSHOT_FIELDS, ListRows, Outcome, S, listing_fields, to_status, to_torrents


class _Table(msgspec.Struct):
    torrents: list[list[Any]] = []


#: torrent-add takes one torrent per request; this many are in flight at once.
_ADD_CONCURRENCY = 32


class TransmissionAdapter(AdapterBase):
    """Every multi-torrent primitive is one request with an ``ids`` list,
    except add: Transmission's torrent-add takes one torrent, so those
    requests run concurrently."""

    #: Transmission always checks existing data when a torrent is added.
    add_limitations: frozenset[str] = frozenset({"verify"})

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
            "session-get", {"fields": ["version", "rpc-version", "rpc-version-semver"]}
        )
        try:
            session = msgspec.convert(arguments, LEGACY.session)
        except msgspec.ValidationError as exc:
            raise errors.ResponseError(f"{self._url}: Invalid session-get reply: {exc}") from exc
        self.version, self.rpc_version = session.version, session.rpc_version
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
        return to_torrents(rows.torrents, attributes)

    def change_feed(self, attributes: frozenset[str]) -> TransmissionFeed:
        return TransmissionFeed(self, attributes)

    async def add(self, sources: Sequence[TorrentSource], options: AddOptions) -> list[AddOutcome]:
        semaphore = asyncio.Semaphore(_ADD_CONCURRENCY)

        async def add_one(source: TorrentSource) -> AddOutcome:
            arguments: dict[str, Any] = {"paused": options.stopped}
            if source.metainfo is not None:
                arguments["metainfo"] = base64.b64encode(source.metainfo).decode("ascii")
            else:
                arguments["filename"] = source.magnet
            if options.location:
                arguments["download-dir"] = options.location
            try:
                async with semaphore:
                    reply = await self._request(lambda: self._transport.rpc("torrent-add", arguments), idempotent=False)
                return self._add_outcome(source, reply)
            except errors.Error as exc:
                return AddOutcome(source=source, status=AddStatus.failed, infohash=source.infohash, error=exc)

        return list(await asyncio.gather(*(add_one(source) for source in sources)))

    def _add_outcome(self, source: TorrentSource, reply: Outcome) -> AddOutcome:
        if reply.error is not None:
            # 4.0.0–4.0.2 reported duplicates as an error string.
            if "duplicate" in reply.error.lower():
                return AddOutcome(source=source, status=AddStatus.already_added, infohash=source.infohash)
            return AddOutcome(source=source, status=AddStatus.refused, infohash=source.infohash, message=reply.error)
        try:
            result = msgspec.convert(reply.arguments, self._transport.dialect.add_result)
        except msgspec.ValidationError as exc:
            raise errors.ResponseError(f"{self._url}: Invalid torrent-add reply: {exc}") from exc
        if result.torrent_duplicate is not None:
            infohash = result.torrent_duplicate.hash_string.lower()
            return AddOutcome(source=source, status=AddStatus.already_added, infohash=infohash)
        if result.torrent_added is not None:
            infohash = result.torrent_added.hash_string.lower()
            return AddOutcome(source=source, status=AddStatus.added, infohash=infohash)
        return AddOutcome(source=source, status=AddStatus.refused, infohash=source.infohash, message="Empty reply")

    async def _action(self, method: str, infohashes: Sequence[str]) -> Mapping[str, str]:
        if not infohashes:
            return {}
        try:
            await self._rpc(method, {"ids": list(infohashes)})
        except errors.ResponseError as exc:
            return dict.fromkeys(infohashes, str(exc))
        return {}

    async def start(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        return await self._action("torrent-start", infohashes)

    async def stop(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        return await self._action("torrent-stop", infohashes)

    async def verify(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        return await self._action("torrent-verify", infohashes)

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Raw RPC: arguments as one dict and/or keywords; returns the whole reply."""
        if len(args) > 1 or (args and not isinstance(args[0], Mapping)):
            raise errors.ValueError("Transmission calls take one dict of arguments and/or keyword arguments")
        arguments = {**(args[0] if args else {}), **kwargs}
        return await self._request(lambda: self._transport.raw(method, arguments or None), idempotent=False)
