"""RtorrentAdapter: ClientPort over rTorrent's XML-RPC (SCGI or HTTP(S)).

Every multi-torrent primitive is one ``system.multicall`` (chunked under
rTorrent's request size limit) or one ``d.multicall2``, whatever the number
of torrents. Infohashes are upper-case on the wire, lower-case to callers.
"""

from __future__ import annotations

import re
import xmlrpc.client
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from ..._log import get_logger
from ...application.ports import AddOptions, AddOutcome, ConnectionOptions
from ...domain import errors
from ...domain.source import TorrentSource
from ...domain.status import ConnectionStatus
from ...domain.torrent import TorrentStatus
from ...domain.url import ClientURL
from .._base import AdapterBase
from .._polling import poll_batched
from . import _wire
from ._transport import Call, CallFailure, RtorrentTransport

_INFOHASH = re.compile(r"^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$")
#: Up to this many torrents, snapshot() asks for each one's getters; beyond,
#: one d.multicall2 over all torrents is cheaper than many getter requests.
_GETTERS_UP_TO = 50
#: Commands whose first argument is a download's infohash (``HASH`` or ``HASH:i``).
_TARGETED_PREFIXES = ("d.", "f.", "p.", "t.")


def _quote(value: str) -> str:
    """`value` as one argument of an rTorrent command string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class RtorrentAdapter(AdapterBase):
    """Implements ClientPort for rTorrent 0.9.8 to 0.16 (tested: 0.9.8, 0.16.17)."""

    # rTorrent hashes every torrent with data when it starts it; skipping that
    # needs crafted resume data (file mtimes of the daemon's machine), which
    # is neither simple nor reliable.
    add_limitations: frozenset[str] = frozenset({"verify"})

    def __init__(self, url: ClientURL, options: ConnectionOptions) -> None:
        super().__init__(url)
        self._options = options
        self._transport = RtorrentTransport(url, options)
        self._log = get_logger(client="rtorrent", url=str(url))
        #: Whether the daemon refuses torrents without trackers (by its version);
        #: None until it told its version.
        self._refuses_trackerless: bool | None = None

    @property
    def request_count(self) -> int:
        """XML-RPC requests sent so far."""
        return self._transport.request_count

    # --- lifecycle -------------------------------------------------------------------
    async def connect(self) -> None:
        # SCGI is connectionless: "connected" means the daemon answered.
        self._status.set(ConnectionStatus.connecting)
        try:
            version = await self._transport.call("system.client_version")
        except BaseException:
            self._status.set(ConnectionStatus.disconnected)
            raise
        if isinstance(version, str):
            self._refuses_trackerless = _wire.refuses_trackerless(version)
        self._log.debug("connected", version=version)
        self._status.set(ConnectionStatus.connected)

    async def disconnect(self) -> None:
        await self._transport.close()
        self._status.set(ConnectionStatus.disconnected)

    # --- reading ---------------------------------------------------------------------
    async def _all_rows(self) -> list[_wire.TorrentRow]:
        rows = await self._transport.call("d.multicall2", "", "main", *(f"{field}=" for field in _wire.FIELDS))
        try:
            return [_wire.to_row(row) for row in rows]
        except (msgspec.ValidationError, TypeError) as exc:
            raise errors.ResponseError(f"{self._url}: invalid d.multicall2 reply: {exc}") from exc

    async def _rows_of(self, infohashes: Sequence[str]) -> list[_wire.TorrentRow]:
        wire_hashes = [h.upper() for h in infohashes]
        groups = [[(field, (h,)) for field in _wire.FIELDS] for h in wire_hashes]
        rows: list[_wire.TorrentRow] = []
        for values in await self._transport.multicall_groups(groups):
            if isinstance(values[0], CallFailure):
                continue  # unknown infohash: "Could not find info-hash." (0.16: "info-hash not found")
            failure = next((v for v in values if isinstance(v, CallFailure)), None)
            if failure is not None:
                raise errors.ResponseError(f"{self._url}: {failure.message}")
            try:
                rows.append(_wire.to_row(values))
            except (msgspec.ValidationError, TypeError) as exc:
                raise errors.ResponseError(f"{self._url}: invalid torrent status: {exc}") from exc
        return rows

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
        hashes = await self._transport.call("download_list", "", "main")
        if not isinstance(hashes, list) or not all(isinstance(h, str) for h in hashes):
            raise errors.ResponseError(f"{self._url}: invalid download_list reply")
        return [h.lower() for h in hashes]

    async def _present(self, infohashes: Sequence[str]) -> set[str]:
        """Which of `infohashes` rTorrent knows: one batched d.hash each, or the whole list."""
        if len(infohashes) > _GETTERS_UP_TO:
            known = set(await self.list_infohashes())
            return {h for h in infohashes if h.lower() in known}
        results = await self._transport.multicall([("d.hash", (h.upper(),)) for h in infohashes])
        return {h for h, result in zip(infohashes, results, strict=True) if not isinstance(result, CallFailure)}

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
        if not sources:
            return []
        outcomes: dict[int, AddOutcome] = {}

        def fail(index: int, message: str) -> None:
            source = sources[index]
            outcomes[index] = AddOutcome(source=source, status="failed", infohash=source.infohash, error=message)

        need = [_wire.trackerless(source) for source in sources]
        # Ask the version (unless connect() did) and whether DHT runs in the
        # same request as which torrents exist.
        extra: list[Call] = []
        if any(need):
            if self._refuses_trackerless is None:
                extra.append(("system.client_version", ()))
            extra.append(("dht.statistics", ()))
        results = await self._transport.multicall([("d.hash", (s.infohash.upper(),)) for s in sources] + extra)
        if extra and self._refuses_trackerless is None and isinstance(results[len(sources)], str):
            self._refuses_trackerless = _wire.refuses_trackerless(results[len(sources)])
        if not self._refuses_trackerless:
            need = [None] * len(sources)
        dht_running = bool(extra) and isinstance(results[-1], dict) and bool(results[-1].get("active"))
        to_load: list[int] = []
        for index, source in enumerate(sources):
            if not isinstance(results[index], CallFailure):
                outcomes[index] = AddOutcome(source=source, status="already_added", infohash=source.infohash)
            elif source.metainfo is None and not source.magnet:
                fail(index, "Nothing to add")
            elif need[index] == "private":
                fail(index, "rTorrent refuses private torrents without trackers")
            elif need[index] == "dht" and not dht_running:
                fail(index, "rTorrent refuses torrents without trackers while its DHT is off")
            else:
                to_load.append(index)

        results = await self._transport.multicall([self._load_call(sources[i], options) for i in to_load])
        waiting: list[int] = []
        for index, result in zip(to_load, results, strict=True):
            if isinstance(result, CallFailure):
                fail(index, result.message)
            else:
                waiting.append(index)

        # rTorrent answers 0 and inserts the download later; it reports a
        # refusal only in its log. Poll until each appears or the deadline.
        appeared = await poll_batched(
            [sources[i].infohash for i in waiting], self._present, within=self._options.timeout
        )
        for index in waiting:
            source = sources[index]
            if source.infohash in appeared:
                outcomes[index] = AddOutcome(source=source, status="added", infohash=source.infohash)
            else:
                fail(index, "rTorrent did not add the torrent (its log says why)")
        self._log.debug("add", sources=len(sources), loaded=len(waiting), appeared=len(appeared))
        return [outcomes[index] for index in range(len(sources))]

    # --- actions ---------------------------------------------------------------------
    async def _act(self, infohashes: Sequence[str], commands: Sequence[str]) -> Mapping[str, str]:
        """Run `commands` on each torrent, in order, in batched requests; failures by infohash."""
        groups = [[(command, (h.upper(),)) for command in commands] for h in infohashes]
        failures: dict[str, str] = {}
        for infohash, results in zip(infohashes, await self._transport.multicall_groups(groups), strict=True):
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
        return await self._transport.call(method, *params)


if TYPE_CHECKING:
    from ...application.ports import ClientPort

    def _fits_the_port(adapter: RtorrentAdapter) -> ClientPort:
        return adapter  # mypy checks the structural fit here
