"""DelugeAdapter: ClientPort over the Deluge 2.x daemon's RPC protocol."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ...application.ports import AddOptions, AddOutcome, ConnectionOptions
from ...domain import errors
from ...domain.source import TorrentSource
from ...domain.status import ConnectionStatus
from ...domain.torrent import TorrentStatus
from ...domain.url import ClientURL
from .._base import AdapterBase
from .._polling import poll_batched
from ._transport import DaemonError, DelugeTransport, EventCallback
from ._wire import STATUS_KEYS, decode_rows, to_status

#: Seconds the daemon may take to show a change, e.g. a recheck as Checking:
#: Deluge's status cache (1.5 s) plus the time it takes to handle
#: libtorrent's alerts (measured with four 48 MiB torrents).
STATE_LATENCY = 2.0

#: "Torrent already in session (<id>)." and "Torrent already being added (<id>)."
_DUPLICATE = re.compile(r"Torrent already (?:in session|being added) \(([0-9a-fA-F]{40}|[0-9a-fA-F]{64})\)")


class DelugeAdapter(AdapterBase):
    """All calls share one TLS connection; many are in flight at once.

    Multi-torrent primitives are one call each (``core.*_torrents``,
    ``core.force_recheck``, ``core.get_torrents_status``); add sends one
    ``core.add_torrent_file``/``add_torrent_magnet`` per source, all at once.
    A lost connection is opened and logged into again by the next call.
    """

    #: The services count a recheck as verifying for this long after asking.
    state_latency = STATE_LATENCY

    def __init__(self, url: ClientURL, options: ConnectionOptions) -> None:
        super().__init__(url)
        self._options = options
        self._transport = DelugeTransport(url, options, on_lost=self._lost)
        self._connect_lock = asyncio.Lock()

    @property
    def transport(self) -> DelugeTransport:
        return self._transport

    def _lost(self) -> None:
        self._status.set(ConnectionStatus.disconnected)

    # --- connection -------------------------------------------------------------------
    async def connect(self) -> None:
        async with self._connect_lock:
            if self._transport.is_open and self._status.status is ConnectionStatus.connected:
                return
            self._status.set(ConnectionStatus.connecting)
            try:
                await self._transport.connect()
            except BaseException:
                self._status.set(ConnectionStatus.disconnected)
                raise
            self._status.set(ConnectionStatus.connected)

    async def disconnect(self) -> None:
        await self._transport.close()
        self._status.set(ConnectionStatus.disconnected)

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if not self._transport.is_open or self._status.status is not ConnectionStatus.connected:
            await self.connect()
        return await self._transport.call(method, *args, **kwargs)

    # --- events -----------------------------------------------------------------------
    async def subscribe(self, event_name: str, callback: EventCallback) -> Callable[[], None]:
        """Call `callback(*event_args)` for every `event_name` event (e.g.
        ``TorrentAddedEvent``: torrent id, from_state). Survives reconnects.
        Returns a function that unsubscribes."""
        unsubscribe = self._transport.subscribe(event_name, callback)
        try:
            if self._transport.is_open and self._status.status is ConnectionStatus.connected:
                await self._transport.register_events()
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

    async def list_infohashes(self) -> list[str]:
        reply = await self._call("core.get_session_state")
        if not isinstance(reply, (list, tuple)):
            raise errors.ResponseError(f"{self._url}: core.get_session_state: unexpected reply: {reply!r:.100}")
        return [str(infohash).lower() for infohash in reply]

    async def add(self, sources: Sequence[TorrentSource], options: AddOptions) -> list[AddOutcome]:
        if not sources:
            return []
        add_options: dict[str, Any] = {"add_paused": options.stopped, "seed_mode": not options.verify}
        if options.location:
            add_options["download_location"] = options.location
        if not self._transport.is_open or self._status.status is not ConnectionStatus.connected:
            await self.connect()

        async def add_one(source: TorrentSource) -> AddOutcome:
            try:
                if source.metainfo is not None:
                    reply = await self._transport.call(
                        "core.add_torrent_file",
                        f"{source.name}.torrent",
                        base64.b64encode(source.metainfo).decode("ascii"),
                        add_options,
                    )
                else:
                    reply = await self._transport.call("core.add_torrent_magnet", source.magnet, add_options)
            except DaemonError as exc:
                duplicate = _DUPLICATE.search(exc.message)
                if duplicate:
                    return AddOutcome(source=source, status="already_added", infohash=duplicate.group(1).lower())
                return AddOutcome(source=source, status="failed", infohash=source.infohash, error=exc.message)
            infohash = reply.lower() if isinstance(reply, str) and reply else source.infohash
            return AddOutcome(source=source, status="added", infohash=infohash)

        # One call per torrent (core.add_torrent_files adds them one after
        # another and fails as a whole on one duplicate), all in flight at once.
        outcomes = list(await asyncio.gather(*(add_one(source) for source in sources)))
        if not options.stopped:
            await self._wait_not_paused([o.infohash for o in outcomes if o.status == "added" and o.infohash])
        return outcomes

    async def _wait_not_paused(self, infohashes: list[str]) -> None:
        """Wait until the daemon stops showing these just-added torrents as Paused.

        Deluge adds a torrent paused and resumes it afterwards. 2.2.x then shows
        it "Paused" (progress 0) for ~50 ms after a pause_torrents — measured on
        2.2.0 and 2.2.1.dev0, never on 2.0.3 — and a caller reading its state
        right after add would see a torrent added started as stopped. One
        status call per poll for all of them; after STATE_LATENCY (the status
        cache's lag) the daemon's word stands (e.g. the whole session is paused).
        """

        async def not_paused(pending: list[str]) -> set[str]:
            reply = await self._call("core.get_torrents_status", {"id": pending}, ["state"])
            if not isinstance(reply, dict):
                return set(pending)  # nothing to wait for
            return {h for h in pending if not (isinstance(reply.get(h), dict) and reply[h].get("state") == "Paused")}

        await poll_batched(infohashes, not_paused, within=STATE_LATENCY, max_delay=0.25)

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
