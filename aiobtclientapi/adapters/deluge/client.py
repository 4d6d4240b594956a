"""DelugeAdapter: ClientPort over the Deluge 2.x daemon's RPC protocol."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from ...application.ports import AddOptions, AddOutcome, AddStatus, ClientTiming, ConnectionOptions
from ...domain import errors
from ...domain.source import TorrentSource
from ...domain.status import ConnectionStatus
from ...domain.torrent import Torrent, TorrentStatus
from ...domain.url import ClientURL
from .._base import AdapterBase
from ._feed import DelugeChangeFeed
from ._transport import DaemonError, DelugeTransport, EventCallback
from ._wire import (
    STATUS_KEYS,
    decode_listing_row,
    decode_rows,
    listing_keys,
    listing_rows,
    missing_keys,
    required_keys,
    to_status,
    torrent_maker,
)

#: "Torrent already in session (<id>)." and "Torrent already being added (<id>)."
_DUPLICATE = re.compile(r"Torrent already (?:in session|being added) \(([0-9a-fA-F]{40}|[0-9a-fA-F]{64})\)")

#: Calls that do no harm when sent twice (reads, pause, resume, recheck).
_IDEMPOTENT = frozenset({"core.pause_torrents", "core.resume_torrents", "core.force_recheck", "daemon.info"})


def _idempotent(method: str) -> bool:
    return method in _IDEMPOTENT or method.startswith(("core.get_", "daemon.get_"))


class DelugeAdapter(AdapterBase):
    """All calls share one TLS connection; many are in flight at once.

    Multi-torrent primitives are one call each (``core.*_torrents``,
    ``core.force_recheck``, ``core.get_torrents_status``); add sends one
    ``core.add_torrent_file``/``add_torrent_magnet`` per source, all at once.
    """

    #: Measured with four 48 MiB torrents: Deluge's status cache (1.5 s) plus
    #: the time it takes to handle libtorrent's alerts, before a change such
    #: as a recheck shows. Deluge adds a torrent paused and resumes it: 2.2.x
    #: shows one added started as "Paused" for ~50 ms (measured on 2.2.0 and
    #: 2.2.1.dev0, never on 2.0.3); past the cache's lag its word stands (e.g.
    #: the whole session is paused).
    timing = ClientTiming(state_latency=2.0, started_shows_stopped=2.0)

    def __init__(self, url: ClientURL, options: ConnectionOptions) -> None:
        super().__init__(url, options)
        # A daemon stopped right after acknowledging core.add_torrent_file may
        # never list the torrent (seen on 2.0.3, 2.2.0 and 2.2.1): waiting for
        # it past the request timeout would only delay the answer.
        self.timing = msgspec.structs.replace(self.timing, appear_within=self._options.timeout)
        self._transport = DelugeTransport(url, options, on_lost=self._lost_by_daemon)
        #: One diff baseline per session on the daemon: change feeds take turns.
        self.diff_lock = asyncio.Lock()
        #: The feed whose diff poll set the daemon's baseline, and the connection it used.
        self.diff_baseline: tuple[object, int] | None = None

    @property
    def transport(self) -> DelugeTransport:
        return self._transport

    @property
    def request_counts(self) -> Mapping[str, int]:
        """Calls sent so far, by RPC method (e.g. ``core.add_torrent_file``)."""
        return dict(self._transport.requests)

    @property
    def bytes_received(self) -> int:
        return self._transport.bytes_received

    def _lost_by_daemon(self) -> None:
        self._set_status(ConnectionStatus.disconnected)

    # --- connection -------------------------------------------------------------------
    async def _open(self) -> None:
        await self._transport.connect()

    async def _close(self) -> None:
        await self._transport.close()

    def _is_open(self) -> bool:
        return self._transport.is_open

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return await self._request(
            lambda: self._transport.call(method, *args, **kwargs), idempotent=_idempotent(method)
        )

    # --- events -----------------------------------------------------------------------
    async def subscribe(self, event_name: str, callback: EventCallback) -> Callable[[], None]:
        """Call `callback(*event_args)` for every `event_name` event (e.g.
        ``TorrentAddedEvent``: torrent id, from_state). Survives reconnects.
        Returns a function that unsubscribes."""
        return await self.subscribe_many([event_name], callback)

    async def subscribe_many(self, event_names: Sequence[str], callback: EventCallback) -> Callable[[], None]:
        """:meth:`subscribe` for several events with one registration call."""
        removers = [self._transport.subscribe(name, callback) for name in event_names]

        def unsubscribe() -> None:
            for remove in removers:
                remove()

        try:
            if self._is_connected():
                await self._request(self._transport.register_events, idempotent=True)
            else:
                await self.connect()  # registers every subscribed event
        except BaseException:
            unsubscribe()
            raise
        return unsubscribe

    # --- ClientPort ---------------------------------------------------------------------
    async def snapshot(self, infohashes: Sequence[str]) -> Mapping[str, TorrentStatus]:
        # An empty id filter would not match nothing: Deluge drops an empty
        # filter and returns every torrent.
        if not infohashes:
            return {}
        reply = await self._call("core.get_torrents_status", {"id": list(infohashes)}, STATUS_KEYS)
        wanted = set(infohashes)
        statuses = (to_status(row) for row in decode_rows(reply, str(self._url)))
        return {status.infohash: status for status in statuses if status.infohash in wanted}

    async def torrents(self, infohashes: Sequence[str] | None, attributes: frozenset[str]) -> list[Torrent]:
        if infohashes is not None and not infohashes:
            return []  # an empty id filter would match every torrent
        keys = listing_keys(attributes)
        rows = await self.status_rows(list(infohashes) if infohashes is not None else None, keys)
        where = str(self._url)
        # Once per call, not per row: a listing may have tens of thousands.
        required = required_keys(keys)
        make = torrent_maker(frozenset(attributes))
        torrents: list[Torrent] = []
        append = torrents.append
        for infohash, row in rows.items():
            if not row:
                continue  # an id the daemon doesn't know (removed meanwhile)
            if missing_keys(row, required):
                raise errors.ResponseError(
                    f"{where}: core.get_torrents_status: keys missing: {sorted(set(keys) - set(row))}"
                )
            append(make(infohash, decode_listing_row(row, where)))
        return torrents

    async def status_rows(
        self, infohashes: Sequence[str] | None, keys: Sequence[str], *, diff: bool = False
    ) -> dict[str, dict[str, Any]]:
        """``core.get_torrents_status`` of these torrents (every one for None),
        by infohash; with `diff`, only what changed since this session's last
        diff call (unchanged torrents: empty dicts)."""
        filter_ = {"id": list(infohashes)} if infohashes is not None else {}
        reply = await self._call("core.get_torrents_status", filter_, list(keys), diff)
        return listing_rows(reply, str(self._url))

    def change_feed(self, attributes: frozenset[str]) -> DelugeChangeFeed:
        return DelugeChangeFeed(self, attributes)

    async def list_infohashes(self) -> list[str]:
        reply = await self._call("core.get_session_state")
        if not isinstance(reply, (list, tuple)):
            raise errors.ResponseError(f"{self._url}: core.get_session_state: unexpected reply: {reply!r:.100}")
        return [str(infohash).lower() for infohash in reply]

    async def add(self, sources: Sequence[TorrentSource], options: AddOptions) -> list[AddOutcome]:
        add_options: dict[str, Any] = {"add_paused": options.stopped, "seed_mode": not options.verify}
        if options.location:
            add_options["download_location"] = options.location

        async def add_one(source: TorrentSource) -> AddOutcome:
            try:
                if source.metainfo is not None:
                    reply = await self._call(
                        "core.add_torrent_file",
                        source.file_name,
                        base64.b64encode(source.metainfo).decode("ascii"),
                        add_options,
                    )
                else:
                    reply = await self._call("core.add_torrent_magnet", source.magnet, add_options)
            except DaemonError as exc:
                duplicate = _DUPLICATE.search(exc.message)
                if duplicate:
                    infohash = duplicate.group(1).lower()
                    return AddOutcome(source=source, status=AddStatus.already_added, infohash=infohash)
                return AddOutcome(
                    source=source, status=AddStatus.refused, infohash=source.infohash, message=exc.message
                )
            except errors.Error as exc:
                return AddOutcome(source=source, status=AddStatus.failed, infohash=source.infohash, error=exc)
            infohash = reply.lower() if isinstance(reply, str) and reply else source.infohash
            return AddOutcome(source=source, status=AddStatus.added, infohash=infohash)

        # One call per torrent (core.add_torrent_files adds them one after
        # another and fails as a whole on one duplicate), all in flight at once.
        return list(await asyncio.gather(*(add_one(source) for source in sources)))

    async def _action(self, method: str, infohashes: Sequence[str]) -> Mapping[str, str]:
        # Never send an empty list: pause_torrents/resume_torrents would act
        # on every torrent.
        ids = list(dict.fromkeys(infohashes))
        if not ids:
            return {}
        try:
            await self._call(method, ids)
            return {}
        except DaemonError as first:
            # The daemon stops at the first id it doesn't know (KeyError): find
            # those with one snapshot and send the rest again.
            known = await self.snapshot(ids)
            failures = {h: "No such torrent" for h in ids if h not in known}
            rest = [h for h in ids if h in known]
            if not rest:
                return failures
            if not failures:
                return dict.fromkeys(rest, first.message or first.exc_name)
            try:
                await self._call(method, rest)
            except DaemonError as second:
                failures.update(dict.fromkeys(rest, second.message or second.exc_name))
            return failures

    async def start(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        return await self._action("core.resume_torrents", infohashes)

    async def stop(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        # Deluge skips a torrent its status cache (up to 1.5 s old) shows
        # paused. A queued torrent libtorrent has just started is such a one,
        # and it keeps running. The service's confirmation sees it running
        # and stops it again.
        return await self._action("core.pause_torrents", infohashes)

    async def verify(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        return await self._action("core.force_recheck", infohashes)

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """One raw RPC call, e.g. ``call("daemon.info")`` or
        ``call("core.get_torrents_status", {"id": [...]}, ["name"])``.

        Returns the decoded reply (lists come back as tuples); a daemon
        exception raises ResponseError naming it.
        """
        return await self._call(method, *args, **kwargs)
