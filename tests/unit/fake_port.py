"""FakePort: a scripted ClientPort for fast tests of the services.

Every torrent follows a :class:`Script` that says how the fake daemon
misbehaves: how late it shows what it was asked (in polls and seconds),
how long it shows ``stopped=None`` in between, which requests it drops or
fails, what it answers to an add and how late an added torrent shows up.
One snapshot counts as one poll of every torrent it asks about.

Every call to the port is recorded in :attr:`FakePort.calls`, so tests can
count round trips.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import msgspec

from aiobtclientapi.application.ports import (
    AddOptions,
    AddOutcome,
    AddStatus,
    ClientTiming,
    StatusListener,
    TorrentChanges,
)
from aiobtclientapi.domain import errors
from aiobtclientapi.domain.session import RateLimits, Session
from aiobtclientapi.domain.source import TorrentSource
from aiobtclientapi.domain.status import ConnectionStatus
from aiobtclientapi.domain.torrent import Torrent, TorrentState, TorrentStatus
from aiobtclientapi.domain.url import ClientURL

__all__ = ["NEVER", "NOW", "Call", "FakePort", "FakeTorrent", "Lag", "Script", "ScriptedFeed"]


@dataclass(frozen=True)
class Lag:
    """How long something takes to show: `polls` snapshots and `seconds`, whichever ends later."""

    polls: int = 0
    seconds: float = 0.0


#: Shows at the first poll.
NOW = Lag()
#: Never shows.
NEVER = Lag(seconds=math.inf)


@dataclass(frozen=True)
class Script:
    """How the fake daemon treats one torrent."""

    # --- start, stop, verify ---
    #: A request shows only after this; until then the torrent shows its old state.
    lag: Lag = NOW
    #: After `lag`, a start or stop shows ``stopped=None`` for this long (NEVER: for good).
    ambiguous: Lag = NOW
    #: During `ambiguous`, every other poll shows the old state again.
    flap: bool = False
    #: After `ambiguous`, the old state shows again for this long before the change
    #: (Transmission, ending a check that a start waited for).
    old_after_ambiguous: Lag = NOW
    #: What the torrent does while it shows ``stopped=None``.
    ambiguous_state: TorrentState = TorrentState.verifying
    #: The first this many start/stop requests are ignored (accepted, never done).
    drop: int = 0
    #: Requests that fail: {"start" | "stop" | "verify": the daemon's message}.
    fail: Mapping[str, str] = field(default_factory=dict)
    #: After a start or stop request the torrent is missing for this long (NEVER: removed).
    hide: Lag | None = None
    #: After `lag`, a verification shows for this long; by polls its progress steps 0, 1/n, …
    verify_for: Lag = Lag(polls=2)
    #: The download progress a verification finds.
    progress_after_verify: float = 1.0
    #: From when it is put or added, the torrent shows it is still loading
    #: (``loading``, ``stopped=None``) for this long before anything else.
    loading: Lag = NOW

    # --- remove, move, label, limits ---
    #: An accepted remove, move, label or limits request shows only after this.
    effect_lag: Lag = NOW
    #: After `effect_lag`, a move shows the state ``moving`` for this long, then done.
    moving_for: Lag = NOW
    #: An accepted move never happens (the daemon failed it without saying so).
    move_lost: bool = False

    # --- add ---
    #: What the daemon says to an add of this torrent.
    add_status: AddStatus = AddStatus.added
    add_message: str | None = None
    add_error: errors.Error | None = None
    #: Whether a refused or failed add left the torrent in the daemon anyway
    #: (a concurrent request added it, or the failed one got through).
    present_after: bool = False
    #: An added torrent is missing from snapshots for this long (NEVER: never shows).
    appear: Lag = NOW
    #: An added torrent shows the opposite of the asked stopped state for this long
    #: (NEVER: until a start or stop request), counted from the add …
    add_lag: Lag = NOW
    #: … then ``stopped=None`` for this long.
    add_ambiguous: Lag = NOW


def rounded(limit: int, unit: int) -> int:
    """A limit as a daemon counting in `unit` bytes/s keeps it."""
    return max(unit, round(limit / unit) * unit)


class Call(NamedTuple):
    """One call to the port."""

    method: str
    infohashes: tuple[str, ...] = ()
    options: AddOptions | None = None
    args: tuple[Any, ...] = ()


class _Clock:
    """Polls and seconds since something was asked."""

    def __init__(self) -> None:
        self.since = time.monotonic()
        self.polls = 0

    def within(self, lag: Lag) -> bool:
        """Whether the current poll still falls within `lag`."""
        return self.polls <= lag.polls or time.monotonic() - self.since < lag.seconds


class _Change:
    """A request the daemon accepted and shows on its own schedule."""

    def __init__(
        self,
        kind: Literal["stopped", "verify"],
        *,
        lag: Lag,
        middle: Lag,
        stopped: bool = False,
        requested: bool = True,
    ) -> None:
        self.kind = kind
        self.stopped = stopped  # the target of a start/stop
        self.lag = lag  # the old state shown for this long …
        self.middle = middle  # … then ambiguous (start/stop) or verifying for this long
        self.requested = requested  # False: the add's own state, which a request overrides
        self.clock = _Clock()
        self.middle_clock: _Clock | None = None  # started by the first poll after `lag`
        self.tail_clock: _Clock | None = None  # started by the first poll after `middle`


class FakeTorrent:
    """One torrent in the fake daemon."""

    def __init__(self, infohash: str, name: str, stopped: bool | None, progress: float, script: Script) -> None:
        self.infohash = infohash
        self.name = name
        #: The state the daemon settled on.
        self.stopped = stopped
        self.progress = progress
        self.script = script
        self.change: _Change | None = None
        self.hidden: tuple[_Clock, Lag] | None = None
        self.dropped = 0
        self.save_path = "/data"
        self.label: str | None = None
        self.limits: dict[str, int | None] = {"down": None, "up": None}
        self.removed = False
        self.moving = False
        #: Accepted requests not shown yet: (since, lag, what they do).
        self.effects: list[tuple[_Clock, Lag, Callable[[], None]]] = []
        self.loading: _Clock | None = None if script.loading == NOW else _Clock()

    def ask(self, effect: Callable[[], None]) -> None:
        """Accept a request that shows after ``script.effect_lag``."""
        self.effects.append((_Clock(), self.script.effect_lag, effect))

    def ask_move(self, location: str) -> None:
        if self.script.move_lost:
            return

        def start_moving() -> None:
            self.moving = True
            clock = _Clock()

            def done() -> None:
                self.moving = False
                self.save_path = location

            self.effects.append((clock, self.script.moving_for, done))

        self.ask(start_moving)

    def _apply_effects(self) -> None:
        for effect in list(self.effects):
            clock, lag, apply = effect
            clock.polls += 1
            if not clock.within(lag):
                self.effects.remove(effect)
                apply()

    # --- requests ---------------------------------------------------------------
    def ask_stopped(self, stopped: bool) -> None:
        script = self.script
        if self.dropped < script.drop:
            self.dropped += 1
            return
        if script.hide is not None:
            self.hidden = (_Clock(), script.hide)
        current = self.change
        if current is not None and current.requested and current.kind == "stopped" and current.stopped is stopped:
            return  # asked again while at it: the daemon does not start over
        if current is None and self.stopped is stopped:
            return
        self.change = _Change("stopped", lag=script.lag, middle=script.ambiguous, stopped=stopped)

    def ask_verify(self) -> None:
        self.change = _Change("verify", lag=self.script.lag, middle=self.script.verify_for)

    # --- what a snapshot shows ----------------------------------------------------
    def poll(self) -> TorrentStatus | None:
        """The status one snapshot shows, None while missing. Counts as a poll."""
        self._apply_effects()
        if self.removed:
            return None
        if self.hidden is not None:
            clock, lag = self.hidden
            clock.polls += 1
            if clock.within(lag):
                return None
            self.hidden = None
        if self.loading is not None:
            self.loading.polls += 1
            if self.loading.within(self.script.loading):
                return self._status(None, loading=True)
            self.loading = None
        change = self.change
        if change is None:
            return self._status(self.stopped)
        change.clock.polls += 1
        if change.clock.within(change.lag):
            return self._status(self.stopped)
        middle = change.middle_clock = change.middle_clock or _Clock()
        middle.polls += 1
        if middle.within(change.middle):
            if change.kind == "verify":
                steps = change.middle.polls
                fraction = min(middle.polls - 1, steps - 1) / steps if steps else 0.0
                return self._status(None, verifying=fraction)
            if self.script.flap and middle.polls % 2 == 0:
                return self._status(self.stopped)
            return self._status(None)
        if change.kind == "stopped":
            tail = change.tail_clock = change.tail_clock or _Clock()
            tail.polls += 1
            if tail.within(self.script.old_after_ambiguous):
                return self._status(self.stopped)
        # Done: the daemon shows the change from now on.
        self.change = None
        if change.kind == "verify":
            self.progress = self.script.progress_after_verify
        else:
            self.stopped = change.stopped
        return self._status(self.stopped)

    def _status(self, stopped: bool | None, verifying: float | None = None, loading: bool = False) -> TorrentStatus:
        if loading:
            state = TorrentState.queued
        elif verifying is not None:
            state = TorrentState.verifying
        elif self.moving:
            state = TorrentState.moving
        elif stopped is None:
            state = self.script.ambiguous_state
        elif stopped:
            state = TorrentState.stopped
        else:
            state = TorrentState.seeding if self.progress >= 1.0 else TorrentState.downloading
        return TorrentStatus(
            infohash=self.infohash,
            name=self.name,
            state=state,
            stopped=stopped,
            progress=self.progress,
            verify_progress=verifying,
            loading=loading,
        )


class FakePort:
    """Implements ClientPort structurally; every torrent follows its Script."""

    def __init__(
        self,
        *,
        timing: ClientTiming | None = None,
        add_limitations: frozenset[str] = frozenset(),
        client: str = "fake",
        limit_unit: int = 1,
    ) -> None:
        self.add_limitations = add_limitations
        self.timing = timing or ClientTiming()
        self.url = ClientURL(client=client, scheme="http", host="localhost", port=9)
        self.store: dict[str, FakeTorrent] = {}
        #: Scripts for torrents that are yet to be added, by infohash.
        self.scripts: dict[str, Script] = {}
        self.calls: list[Call] = []
        #: Errors that start/stop/verify raise instead of answering, by method.
        self.raises: dict[str, errors.Error] = {}
        self._snapshot_error: errors.Error | None = None
        self._snapshots_before_error = 0
        self._listeners: list[StatusListener] = []
        #: What the change feed's polls return (or raise), in order; the last repeats.
        self.feed_script: list[TorrentChanges | errors.Error] = []
        self.feeds: list[ScriptedFeed] = []
        self.limit_unit = limit_unit
        self.session_limits: dict[str, int | None] = {"down": None, "up": None}
        #: The daemon accepts set_session_limits but keeps its old limits.
        self.session_limits_ignored = False
        #: What torrent_file() returns, by infohash.
        self.torrent_files: dict[str, bytes] = {}

    # --- scripting and inspection -----------------------------------------------------
    def put(
        self,
        infohash: str,
        name: str | None = None,
        *,
        stopped: bool | None = False,
        progress: float = 0.0,
        verifying: bool = False,
        script: Script | None = None,
    ) -> FakeTorrent:
        """A torrent the daemon has already; `verifying`: it is verifying right now."""
        torrent = FakeTorrent(infohash, name or f"name-{infohash[:8]}", stopped, progress, script or Script())
        if verifying:
            torrent.change = _Change("verify", lag=NOW, middle=torrent.script.verify_for)
        self.store[infohash] = torrent
        return torrent

    def fail_snapshots(self, error: errors.Error, *, after: int = 0) -> None:
        """Every snapshot after the first `after` raises `error`."""
        self._snapshot_error = error
        self._snapshots_before_error = after

    def methods(self) -> list[str]:
        """The methods called, in order."""
        return [call.method for call in self.calls]

    def requests(self, method: str) -> list[tuple[str, ...]]:
        """The infohashes of every call of `method`, in order."""
        return [call.infohashes for call in self.calls if call.method == method]

    # --- ClientPort -------------------------------------------------------------------
    @property
    def request_counts(self) -> Mapping[str, int]:
        # The fake daemon's requests are the port's calls.
        return Counter(self.methods())

    #: The fake daemon sends no bytes.
    bytes_received = 0

    @property
    def status(self) -> ConnectionStatus:
        return ConnectionStatus.connected

    def add_status_listener(self, listener: StatusListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def connect(self) -> None:
        self.calls.append(Call("connect"))

    async def disconnect(self) -> None:
        self.calls.append(Call("disconnect"))

    async def snapshot(self, infohashes: Sequence[str]) -> Mapping[str, TorrentStatus]:
        self.calls.append(Call("snapshot", tuple(infohashes)))
        if self._snapshot_error is not None and self.methods().count("snapshot") > self._snapshots_before_error:
            raise self._snapshot_error
        shown: dict[str, TorrentStatus] = {}
        for infohash in infohashes:
            torrent = self.store.get(infohash)
            status = torrent.poll() if torrent is not None else None
            if status is not None:
                shown[infohash] = status
        return shown

    async def list_infohashes(self) -> list[str]:
        self.calls.append(Call("list_infohashes"))
        return list(self.store)

    async def add(self, sources: Sequence[TorrentSource], options: AddOptions) -> list[AddOutcome]:
        self.calls.append(Call("add", tuple(s.infohash for s in sources), options))
        outcomes: list[AddOutcome] = []
        for source in sources:
            infohash = source.infohash
            if infohash in self.store:
                outcomes.append(AddOutcome(source=source, status=AddStatus.already_added, infohash=infohash))
                continue
            script = self.scripts.get(infohash, Script())
            status = script.add_status
            if status is AddStatus.added or (status is not AddStatus.already_added and script.present_after):
                self._create(source, options, script)
            outcomes.append(
                AddOutcome(
                    source=source,
                    status=status,
                    infohash=infohash,
                    message=script.add_message,
                    error=script.add_error,
                )
            )
        return outcomes

    def _create(self, source: TorrentSource, options: AddOptions, script: Script) -> None:
        torrent = FakeTorrent(source.infohash, source.name, options.stopped, 0.0, script)
        if script.add_lag != NOW or script.add_ambiguous != NOW:
            torrent.stopped = not options.stopped
            torrent.change = _Change(
                "stopped", stopped=options.stopped, lag=script.add_lag, middle=script.add_ambiguous, requested=False
            )
        if script.appear != NOW:
            torrent.hidden = (_Clock(), script.appear)
        self.store[source.infohash] = torrent

    async def start(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        return self._request("start", infohashes, lambda torrent: torrent.ask_stopped(False))

    async def stop(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        return self._request("stop", infohashes, lambda torrent: torrent.ask_stopped(True))

    async def verify(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        return self._request("verify", infohashes, FakeTorrent.ask_verify)

    def _request(
        self, method: str, infohashes: Sequence[str], act: Callable[[FakeTorrent], None], *args: Any
    ) -> Mapping[str, str]:
        self.calls.append(Call(method, tuple(infohashes), args=args))
        if method in self.raises:
            raise self.raises[method]
        failures: dict[str, str] = {}
        for infohash in infohashes:
            torrent = self.store.get(infohash)
            if torrent is None:
                failures[infohash] = "No such torrent"
            elif method in torrent.script.fail:
                failures[infohash] = torrent.script.fail[method]
            else:
                act(torrent)
        return failures

    async def torrents(self, infohashes: Sequence[str] | None, attributes: frozenset[str]) -> list[Torrent]:
        self.calls.append(Call("torrents", tuple(infohashes or ())))
        chosen = self.store if infohashes is None else [h for h in infohashes if h in self.store]
        torrents = []
        for infohash in chosen:
            torrent = self.store[infohash]
            status = torrent.poll()
            if status is not None:
                values: dict[str, Any] = {
                    "name": status.name,
                    "state": status.state,
                    "progress": status.progress,
                    "save_path": torrent.save_path,
                    "label": torrent.label,
                    "limit_down": torrent.limits["down"],
                    "limit_up": torrent.limits["up"],
                    "error": None,
                }
                torrents.append(Torrent(infohash=infohash, **{k: v for k, v in values.items() if k in attributes}))
        return torrents

    async def remove(self, infohashes: Sequence[str], delete_data: bool) -> Mapping[str, str]:
        def remove(torrent: FakeTorrent) -> None:
            def gone() -> None:
                torrent.removed = True

            torrent.ask(gone)

        return self._request("remove", infohashes, remove, delete_data)

    async def move(self, infohashes: Sequence[str], location: str) -> Mapping[str, str]:
        return self._request("move", infohashes, lambda torrent: torrent.ask_move(location), location)

    async def reannounce(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        return self._request("reannounce", infohashes, lambda torrent: None)

    async def set_label(self, infohashes: Sequence[str], label: str | None) -> Mapping[str, str]:
        def set_label(torrent: FakeTorrent) -> None:
            def show() -> None:
                torrent.label = label

            torrent.ask(show)

        return self._request("set_label", infohashes, set_label, label)

    async def set_limits(self, infohashes: Sequence[str], limits: RateLimits) -> Mapping[str, str]:
        def set_limits(torrent: FakeTorrent) -> None:
            def show() -> None:
                for direction in ("down", "up"):
                    value = getattr(limits, direction)
                    if value is not msgspec.UNSET:
                        torrent.limits[direction] = value and rounded(value, self.limit_unit)

            torrent.ask(show)

        return self._request("set_limits", infohashes, set_limits, limits)

    async def session(self) -> Session:
        self.calls.append(Call("session"))
        return Session(
            client=self.url.client,
            version="1.0",
            rate_down=0,
            rate_up=0,
            downloaded=None,
            uploaded=None,
            limit_down=self.session_limits["down"],
            limit_up=self.session_limits["up"],
            save_path="/data",
            free_space=None,
        )

    async def set_session_limits(self, limits: RateLimits) -> None:
        self.calls.append(Call("set_session_limits", args=(limits,)))
        for direction in ("down", "up"):
            value = getattr(limits, direction)
            if value is not msgspec.UNSET and not self.session_limits_ignored:
                self.session_limits[direction] = value and rounded(value, self.limit_unit)

    async def torrent_file(self, infohash: str) -> bytes:
        self.calls.append(Call("torrent_file", (infohash,)))
        if infohash not in self.store:
            raise errors.NoSuchTorrentError(infohash)
        return self.torrent_files[infohash]

    def change_feed(self, attributes: frozenset[str]) -> ScriptedFeed:
        feed = ScriptedFeed(self)
        self.feeds.append(feed)
        return feed

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(Call("call", args=(method, *args)))
        raise errors.NotImplementedError(f"fake: {method}")


class ScriptedFeed:
    """A change feed playing :attr:`FakePort.feed_script`; ``news`` can be set by the test."""

    def __init__(self, port: FakePort) -> None:
        self._port = port
        self.news: asyncio.Event | None = asyncio.Event()
        self.polls = 0
        self.closed = False

    async def poll(self) -> TorrentChanges:
        script = self._port.feed_script
        step = script[min(self.polls, len(script) - 1)]
        self.polls += 1
        self._port.calls.append(Call("feed.poll"))
        if isinstance(step, errors.Error):
            raise step
        return step

    async def close(self) -> None:
        self.closed = True


if TYPE_CHECKING:
    from aiobtclientapi.application.ports import ClientPort

    def _fits_client_port(fake: FakePort) -> ClientPort:
        # mypy checks here that FakePort implements every member of ClientPort.
        return fake
