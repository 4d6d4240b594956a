"""DelugeAdapter: ClientPort over the Deluge 2.x daemon's RPC protocol."""

from __future__ import annotations

import asyncio
import base64
import os.path
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec

from ...application.ports import AddOptions, AddOutcome, AddStatus, ClientTiming, ConnectionOptions
from ...domain import errors
from ...domain.session import RateLimits, Session
from ...domain.source import TorrentSource
from ...domain.status import ConnectionStatus
from ...domain.torrent import Torrent, TorrentStatus
from ...domain.url import ClientURL
from .._base import AdapterBase
from ._feed import DelugeChangeFeed
from ._transport import Call, DaemonError, DelugeTransport, EventCallback
from ._wire import (
    CONFIG_KEYS,
    SESSION_KEYS,
    STATUS_KEYS,
    decode_listing_row,
    decode_rows,
    kib_of,
    listing_keys,
    listing_rows,
    missing_keys,
    removal_failures,
    required_keys,
    to_session,
    to_status,
    torrent_maker,
)

#: "Torrent already in session (<id>)." and "Torrent already being added (<id>)."
_DUPLICATE = re.compile(r"Torrent already (?:in session|being added) \(([0-9a-fA-F]{40}|[0-9a-fA-F]{64})\)")

#: Calls that do no harm when sent twice (reads, pause, resume, recheck, setting a value).
_IDEMPOTENT = frozenset(
    {
        "core.pause_torrents",
        "core.resume_torrents",
        "core.force_recheck",
        "core.force_reannounce",
        "core.get_torrent_status",
        "core.set_torrent_options",
        "core.set_config",
        "daemon.info",
        "label.set_torrent",
    }
)

#: Seconds within which a stop sent again for a torrent (not started since) is
#: for one Deluge skipped (a poll's deadline): its cached status is refreshed first.
_STOPPED_AGAIN_WITHIN = 30.0

#: What the Label plugin stores as it is (deluge_label/core.py RE_VALID; it
#: lower-cases the rest, and refuses an empty name).
_LABEL = re.compile(r"[a-z0-9_.-]+")
LABEL_PLUGIN = "Label"


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
    #: the whole session is paused). Its pause skips torrents its queue
    #: starts meanwhile (README, "Client bugs worth knowing"): a stop is sent
    #: again to those still running a quarter second later, not after the
    #: two seconds a dropped request gets.
    timing = ClientTiming(state_latency=2.0, started_shows_stopped=2.0, resend_after=0.25)
    #: Deluge's rate limits are KiB/s.
    limit_unit = 1024

    def __init__(self, url: ClientURL, options: ConnectionOptions) -> None:
        super().__init__(url, options)
        # A daemon stopped right after acknowledging core.add_torrent_file may
        # never list the torrent (seen on 2.0.3, 2.2.0 and 2.2.1): waiting for
        # it past the request timeout would only delay the answer.
        self.timing = msgspec.structs.replace(self.timing, appear_within=self._options.timeout)
        self._transport = DelugeTransport(url, options, on_lost=self._lost_by_daemon)
        #: When each torrent was last asked to stop and not to start since (monotonic seconds).
        self._stop_sent: dict[str, float] = {}
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

    @property
    def messages_sent(self) -> int:
        """Frames sent so far: round trips, where :attr:`request_counts` counts calls (several may share one)."""
        return self._transport.messages_sent

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

    async def _call_many(self, calls: Sequence[Call]) -> list[Any]:
        """:meth:`DelugeTransport.call_many` under the connection rules: each reply or its DaemonError."""
        idempotent = all(_idempotent(method) for method, _, _ in calls)
        return await self._request(lambda: self._transport.call_many(calls), idempotent=idempotent)

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
            source_options = add_options
            if options.content_path is not None:
                mapped = _content_options(source, options.content_path)
                if isinstance(mapped, str):
                    return AddOutcome(source=source, status=AddStatus.refused, infohash=source.infohash, message=mapped)
                source_options = {**add_options, **mapped}
            try:
                if source.metainfo is not None:
                    reply = await self._call(
                        "core.add_torrent_file",
                        source.file_name,
                        base64.b64encode(source.metainfo).decode("ascii"),
                        source_options,
                    )
                else:
                    reply = await self._call("core.add_torrent_magnet", source.magnet, source_options)
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

    async def _action(self, method: str, infohashes: Sequence[str], *args: Any) -> Mapping[str, str]:
        """`method(ids, *args)` for a ``core.*`` call that acts on torrents one after another."""
        # Never send an empty list: pause_torrents/resume_torrents would act
        # on every torrent.
        ids = list(dict.fromkeys(infohashes))
        if not ids:
            return {}
        try:
            await self._call(method, ids, *args)
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
                await self._call(method, rest, *args)
            except DaemonError as second:
                failures.update(dict.fromkeys(rest, second.message or second.exc_name))
            return failures

    async def start(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        for infohash in infohashes:
            self._stop_sent.pop(infohash, None)  # a stop after this one is a first stop
        return await self._action("core.resume_torrents", infohashes)

    async def stop(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        # Deluge skips a torrent its status cache (up to 1.5 s old) shows
        # paused. A queued torrent libtorrent has just started is such a one,
        # and it keeps running: the service's confirmation sees it running and
        # stops it again. For such a second stop, core.get_torrent_status
        # refreshes the torrents' cache first (for 1,000 torrents it costs
        # deluged about 0.2 s, too much to pay on every stop).
        ids = list(dict.fromkeys(infohashes))
        now = time.monotonic()
        self._stop_sent = {h: sent for h, sent in self._stop_sent.items() if now - sent < _STOPPED_AGAIN_WITHIN}
        again = [h for h in ids if h in self._stop_sent]
        if again:
            # A torrent it doesn't know fails alone here; pause_torrents reports it.
            await self._call_many([("core.get_torrent_status", (h, ["paused"]), {}) for h in again])
        failures = await self._action("core.pause_torrents", ids)
        self._stop_sent.update(dict.fromkeys(ids, now))
        return failures

    async def verify(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        return await self._action("core.force_recheck", infohashes)

    async def remove(self, infohashes: Sequence[str], delete_data: bool) -> Mapping[str, str]:
        ids = list(dict.fromkeys(infohashes))
        if not ids:
            return {}
        # One call: the daemon removes each torrent (libtorrent deletes its
        # files and the folders they leave empty) and lists the ones it couldn't.
        reply = await self._call("core.remove_torrents", ids, delete_data)
        return removal_failures(reply, str(self._url))

    async def move(self, infohashes: Sequence[str], location: str) -> Mapping[str, str]:
        # The daemon creates a missing folder; when it can't, or libtorrent
        # refuses, it only logs it (move_storage returns None either way): the
        # services see the torrent neither moving nor moved.
        return await self._action("core.move_storage", infohashes, location)

    async def reannounce(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        return await self._action("core.force_reannounce", infohashes)

    async def set_limits(self, infohashes: Sequence[str], limits: RateLimits) -> Mapping[str, str]:
        options = _speed_options(limits)
        if not options:
            return {}
        return await self._action("core.set_torrent_options", infohashes, options)

    async def set_label(self, infohashes: Sequence[str], label: str | None) -> Mapping[str, str]:
        ids = list(dict.fromkeys(infohashes))
        if not ids:
            return {}
        if label and not _LABEL.fullmatch(label):
            return dict.fromkeys(
                ids,
                f"Invalid label {label!r}: Deluge's Label plugin stores only lower-case letters, "
                "digits, '_', '-' and '.'",
            )
        problem = await self._label_plugin()
        if problem is not None:
            return dict.fromkeys(ids, problem)
        if label:
            try:
                await self._call("label.add", label)
            except DaemonError as exc:
                if "already exists" not in exc.message:
                    return dict.fromkeys(ids, f"Label {label!r} could not be created: {exc.message}")
        # One call per torrent (the plugin has no batch call), all in one frame.
        replies = await self._call_many([("label.set_torrent", (infohash, label or ""), {}) for infohash in ids])
        return {
            infohash: reply.message or reply.exc_name
            for infohash, reply in zip(ids, replies, strict=True)
            if isinstance(reply, DaemonError)
        }

    async def _label_plugin(self) -> str | None:
        """Enable the Label plugin if need be; why not, if it can't be."""
        enabled, available = await self._call_many(
            [("core.get_enabled_plugins", (), {}), ("core.get_available_plugins", (), {})]
        )
        for reply in (enabled, available):
            if isinstance(reply, DaemonError):
                raise reply
        if LABEL_PLUGIN in enabled:
            return None
        if LABEL_PLUGIN not in available:
            return f"Deluge's {LABEL_PLUGIN} plugin is not available on this daemon: labels need it"
        if not await self._call("core.enable_plugin", LABEL_PLUGIN):
            return f"Deluge's {LABEL_PLUGIN} plugin could not be enabled: labels need it"
        return None

    async def session(self) -> Session:
        # Independent reads: one frame, one round trip.
        replies = await self._call_many(
            [
                ("daemon.info", (), {}),
                ("core.get_session_status", (SESSION_KEYS,), {}),
                ("core.get_config_values", (CONFIG_KEYS,), {}),
                ("core.get_free_space", (), {}),  # at download_location
            ]
        )
        for reply in replies:
            if isinstance(reply, DaemonError):
                raise reply
        version, status, config, free_space = replies
        return to_session(version, status, config, free_space, str(self._url))

    async def set_session_limits(self, limits: RateLimits) -> None:
        options = _speed_options(limits)
        if not options:
            return
        try:
            await self._call("core.set_config", options)
        except DaemonError as exc:
            raise errors.SessionError(f"{self._url}: core.set_config: {exc.message or exc.exc_name}") from exc

    async def torrent_file(self, infohash: str) -> bytes:
        # No call hands out the .torrent: the daemon keeps it as
        # <config>/state/<hash>.torrent, and its config dir is the parent of
        # plugins_location (deluge/core/preferencesmanager.py).
        plugins_location, rows = await self._call_many(
            [
                ("core.get_config_value", ("plugins_location",), {}),
                ("core.get_torrents_status", ({"id": [infohash]}, ["hash"]), {}),
            ]
        )
        for reply in (plugins_location, rows):
            if isinstance(reply, DaemonError):
                raise reply
        if not listing_rows(rows, str(self._url)).get(infohash.lower()):
            raise errors.NoSuchTorrentError(infohash)
        if not isinstance(plugins_location, str) or not plugins_location:
            raise errors.NotImplementedError(
                f"{self._url}: Deluge hands out no .torrent files and did not say where its config folder is"
            )
        state_dir = os.path.join(os.path.dirname(plugins_location.rstrip("/")), "state")
        path = os.path.join(state_dir, f"{infohash.lower()}.torrent")
        try:
            return await asyncio.to_thread(_read_file, path)
        except FileNotFoundError as exc:
            if os.path.isdir(state_dir):
                raise errors.ResponseError(
                    f"{self._url}: {infohash}: no .torrent file in Deluge's state folder {state_dir} "
                    "(a magnet link whose metadata has not arrived?)"
                ) from exc
            raise errors.NotImplementedError(
                f"{self._url}: Deluge hands out no .torrent files, and its state folder {state_dir} is not on this host"
            ) from exc
        except OSError as exc:
            raise errors.NotImplementedError(
                f"{self._url}: Deluge hands out no .torrent files, and {path} is not readable here: "
                f"{exc.strerror or exc}"
            ) from exc

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """One raw RPC call, e.g. ``call("daemon.info")`` or
        ``call("core.get_torrents_status", {"id": [...]}, ["name"])``.

        Returns the decoded reply (lists come back as tuples); a daemon
        exception raises ResponseError naming it.
        """
        return await self._call(method, *args, **kwargs)


def _read_file(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


def _speed_options(limits: RateLimits) -> dict[str, float]:
    """Deluge's max_download_speed/max_upload_speed (KiB/s, -1 unlimited) for the given limits."""
    options: dict[str, float] = {}
    if not isinstance(limits.down, msgspec.UnsetType):
        options["max_download_speed"] = kib_of(limits.down)
    if not isinstance(limits.up, msgspec.UnsetType):
        options["max_upload_speed"] = kib_of(limits.up)
    return options


def _content_options(source: TorrentSource, content_path: str) -> dict[str, Any] | str:
    """Add options that make Deluge use `content_path` as the torrent's content
    as it is (its files mapped into it, nothing renamed on disk), or why not."""
    parent, name = os.path.split(content_path.rstrip("/"))
    if source.metainfo is None:
        return "content_path needs the torrent's file list: add its .torrent file, not a magnet link"
    if not name or not source.files:
        return "content_path needs the torrent's v1 file list, which this torrent has not"
    single = len(source.files) == 1 and len(source.files[0].path) == 1
    if single:
        mapped = {0: name}
    else:
        # Each file's path below the torrent's own folder, in that of content_path.
        mapped = {index: "/".join((name, *file.path[1:])) for index, file in enumerate(source.files)}
    return {"download_location": parent or "/", "mapped_files": mapped}
