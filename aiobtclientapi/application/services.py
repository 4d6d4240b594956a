"""The use cases: what add, start, stop and verify mean, once for every client.

For each operation a service
1. asks the port for the states of all given torrents (one batched round trip),
2. sorts them into unknown (error), already done (warning + ``already_*``) and
   to do,
3. tells the port to do the rest (one batched round trip),
4. confirms the effect by polling the states of just those torrents with a
   bounded backoff and a deadline, asking again where a client dropped the
   request,
5. builds the :class:`~..domain.response.Response`.
Operations on several torrents never raise: every failure is reported in the
Response for the torrent it concerns.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Protocol, TypeVar

import msgspec

from .._log import get_logger
from ..domain import errors
from ..domain.events import TorrentAdded, TorrentChanged, TorrentEvent, TorrentRemoved, changes_between
from ..domain.infohash import normalize_infohash
from ..domain.paths import is_absolute
from ..domain.paths import normalized as _normalized
from ..domain.response import (
    AddResponse,
    LabelResponse,
    LimitResponse,
    MoveResponse,
    ReannounceResponse,
    RemoveResponse,
    Response,
    StartResponse,
    StopResponse,
    VerifyResponse,
)
from ..domain.session import RateLimits, Session
from ..domain.source import TorrentSource, source_from_metainfo
from ..domain.torrent import COLLECTION_ATTRIBUTES, Torrent, TorrentState, TorrentStatus, parse_attributes
from ._poller import PollPolicy, pause_for, poll_rounds
from ._sources import TorrentFetcher, resolve_sources
from .ports import AddOptions, AddStatus, ChangeFeed, ClientPort, TorrentChanges

__all__ = ["Interval", "PollPolicy", "TorrentService", "check_limits", "expected_limit", "is_absolute"]

#: (minimum, maximum) seconds between polls in verify_wait(), or one number.
Interval = float | tuple[float, float]

S = TypeVar("S")


class Named(Protocol):
    @property
    def name(self) -> str | msgspec.UnsetType: ...


N = TypeVar("N", bound=Named)
#: Reads what the client says of the given torrents, by infohash (unknown ones absent).
Reader = Callable[[list[str]], Awaitable[Mapping[str, S]]]


def _name(found: Mapping[str, Named], infohash: str) -> str:
    """The torrent's name as the client said, else its infohash."""
    item = found.get(infohash)
    return str(item.name) if item is not None and item.name else infohash


def check_limits(limits: RateLimits) -> None:
    """Raises ValueError unless every given limit is a positive int or None."""
    for direction, value in _given(limits):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            raise errors.ValueError(f"Invalid {direction} limit: {value!r} (bytes/s > 0, or None for unlimited)")


def _given(limits: RateLimits) -> list[tuple[str, int | None]]:
    return [(d, v) for d, v in (("down", limits.down), ("up", limits.up)) if v is not msgspec.UNSET]


def expected_limit(wanted: int | None, unit: int) -> int | None:
    """What a client that counts limits in `unit` bytes/s reports for `wanted`: the
    nearest multiple, at least one unit."""
    if wanted is None:
        return None
    return max(unit, round(wanted / unit) * unit)


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def parse_infohashes(values: Sequence[str], response: Response) -> list[str]:
    """`values` normalized, each once; an error in `response` for each invalid one."""
    valid: list[str] = []
    for value in values:
        try:
            valid.append(normalize_infohash(value))
        except errors.ValueError as exc:
            response.errors.append(exc)
    return _dedupe(valid)


def as_error(exc: Exception) -> errors.Error:
    """`exc` if it is one of ours, else an Error saying what escaped (its text may hold
    anything, so only its type is shown; it is the new error's cause)."""
    if isinstance(exc, errors.Error):
        return exc
    error = errors.Error(f"Unexpected {type(exc).__name__}")
    error.__cause__ = exc
    return error


def _naming(error: errors.Error, display: str) -> errors.Error:
    """`error`, its message prefixed with the torrent it concerns."""
    named = error.with_message(f"{display}: {error}")
    named.__cause__ = error
    return named


class TorrentService:
    """The operations of one API object, bound to one port."""

    def __init__(
        self,
        port: ClientPort,
        fetch: TorrentFetcher,
        policy: PollPolicy | None = None,
    ) -> None:
        self.port = port
        self.fetch = fetch
        self.policy = policy or PollPolicy()
        # What we last asked for each torrent: True = stopped. Needed where
        # the client can't tell (verifying on Transmission and qBittorrent 4).
        self._intent_stopped: dict[str, bool] = {}
        # Torrents whose last add, start or stop we took as done while the
        # client checked them: when the check ends, the client may show the
        # state from before the request for a moment (Transmission, ending a
        # check a start waited for, reads stopped before it starts).
        self._answered_checking: set[str] = set()
        # When we asked for each verification, until the client showed it.
        self._verify_requested: dict[str, float] = {}
        self._log = get_logger(client=port.url.client, url=str(port.url))

    # --- helpers ---------------------------------------------------------------
    def _verify_pending(self, infohash: str, now: float) -> bool:
        """Whether we asked to verify `infohash` so recently that the client may not show it yet."""
        asked = self._verify_requested.get(infohash)
        window = max(self.policy.verify_start_grace, self.port.timing.state_latency)
        return asked is not None and now - asked < window

    async def _confirm(
        self,
        infohashes: Iterable[str],
        read: Reader[S],
        done: Callable[[S], bool],
        *,
        ambiguous: Callable[[S], bool] | None = None,
        ambiguous_grace: float | None = None,
        resend: Callable[[list[str]], Awaitable[object]] | None = None,
        missing_within: Mapping[str, float] | None = None,
        on_refresh: bool = False,
    ) -> tuple[dict[str, S | None], set[str], errors.Error | None]:
        """Poll `read` until `done` holds for every torrent, or the deadline.

        A torrent for which `ambiguous` holds counts as done once that lasted
        `ambiguous_grace` seconds (the policy's unless given). A torrent the
        client doesn't show is given up after its `missing_within` seconds
        (the deadline if it has none). Torrents the client still shows are
        asked again with `resend` every ``resend_after`` seconds of the
        client's timing, or else of the policy, and the polls after a resend
        back off from the start again. With `on_refresh` (what `done`
        waits for is a state the client shows at its next refresh), the polls
        of a client that refreshes on a timer come at an even pace.
        Returns the last status seen of each torrent, the ones not done and,
        if a request failed (the client went away), the error that ended it.
        """
        policy = self.policy
        grace = policy.ambiguous_grace if ambiguous_grace is None else ambiguous_grace
        resend_after = self.port.timing.resend_after
        if resend_after is None:
            resend_after = policy.resend_after
        windows = missing_within or {}
        pending = set(infohashes)
        last: dict[str, S | None] = {}
        given_up: set[str] = set()
        ambiguous_since: dict[str, float] = {}
        last_sent = 0.0
        pace = policy.refresh_pace(self.port.timing.refresh_interval) if on_refresh else None
        resent = asyncio.Event()
        async for elapsed in poll_rounds(policy, first_delay=pace, max_delay=pace, restart=resent):
            try:
                snapshot = await read(sorted(pending))
            except Exception as exc:
                return last, pending | given_up, as_error(exc)
            for infohash in list(pending):
                status = last[infohash] = snapshot.get(infohash)
                if status is None:
                    window = windows.get(infohash)
                    if window is not None and elapsed >= window:
                        pending.discard(infohash)
                        given_up.add(infohash)
                elif done(status):
                    pending.discard(infohash)
                elif ambiguous is not None and ambiguous(status):
                    since = ambiguous_since.setdefault(infohash, elapsed)
                    if elapsed - since >= grace:
                        pending.discard(infohash)
                else:
                    ambiguous_since.pop(infohash, None)
            if not pending or elapsed >= policy.timeout:
                break  # a request sent now would never be checked
            present = sorted(h for h in pending if last.get(h) is not None)
            if resend is not None and present and elapsed - last_sent > resend_after:
                try:
                    await resend(present)
                except Exception as exc:
                    return last, pending | given_up, as_error(exc)
                last_sent = elapsed
                resent.set()
        return last, pending | given_up, None

    def _reader(self, *attributes: str) -> Reader[Torrent]:
        """A reader of these attributes (and the name) of the given torrents, by infohash."""
        names = frozenset(attributes) | {"name"}

        async def read(infohashes: list[str]) -> Mapping[str, Torrent]:
            return {t.infohash: t for t in await self.port.torrents(infohashes, names)}

        return read

    async def _sort(
        self,
        values: Sequence[str],
        response: Response,
        read: Reader[N],
        already: Callable[[str, N], bool] | None = None,
        warning_class: type[errors.TorrentWarning] = errors.TorrentWarning,
        already_list: list[str] | None = None,
    ) -> tuple[list[str], dict[str, N]]:
        """Invalid or unknown infohashes become errors, those `already` done warnings
        (and go to `already_list`).

        Returns the infohashes left to do and what `read` said of every known torrent.
        """
        infohashes = parse_infohashes(values, response)
        if not infohashes:
            return [], {}
        found = await read(infohashes)
        todo = self._sorted(infohashes, found, response, already, warning_class, already_list)
        return todo, dict(found)

    @staticmethod
    def _sorted(
        infohashes: Iterable[str],
        found: Mapping[str, N | None],
        response: Response,
        already: Callable[[str, N], bool] | None,
        warning_class: type[errors.TorrentWarning],
        already_list: list[str] | None,
    ) -> list[str]:
        """_sort() on what was read: the infohashes left to do."""
        todo: list[str] = []
        for infohash in infohashes:
            item = found.get(infohash)
            if item is None:
                response.errors.append(errors.NoSuchTorrentError(infohash))
            elif already is not None and already(infohash, item):
                response.warnings.append(warning_class(infohash, str(item.name)))
                if already_list is not None:
                    already_list.append(infohash)
            else:
                todo.append(infohash)
        return todo

    @staticmethod
    def _failed(
        response: Response,
        failures: Mapping[str, str],
        error_class: type[errors.ResponseError],
        found: Mapping[str, Named],
    ) -> None:
        for infohash, message in failures.items():
            response.errors.append(error_class(f"{_name(found, infohash)}: {message}"))

    # --- add -------------------------------------------------------------------
    async def add(
        self,
        torrents: Sequence[object],
        *,
        location: str | None = None,
        stopped: bool = False,
        verify: bool = True,
        label: str | None = None,
        content_path: str | None = None,
    ) -> AddResponse:
        response = AddResponse()
        if content_path is not None:
            if location is not None:
                response.errors.append(errors.ValueError("Give location or content_path, not both"))
                return response
            if not is_absolute(content_path) or _normalized(content_path) in ("/", ""):
                response.errors.append(errors.ValueError(f"Not an absolute path: {content_path!r}"))
                return response
            content_path = _normalized(content_path)
        options = AddOptions(location=location, content_path=content_path, stopped=stopped, verify=verify)
        try:
            await self._add(response, torrents, options)
            added = list(response.added)
            if added and content_path is not None:
                await self._check_content_path(response, added, content_path)
            if added and label:
                # One owner for labels: set_label's own sorting, sending and confirming.
                labeled = await self.set_label(added, label)
                response.errors.extend(
                    errors.LabelTorrentError(f"Added, but not labeled: {error}") for error in labeled.errors
                )
        except Exception as exc:
            response.errors.append(as_error(exc))
        return response

    async def _check_content_path(self, response: AddResponse, added: list[str], content_path: str) -> None:
        """An error for every added torrent the client doesn't read from `content_path`.

        A torrent the client is still loading or checking may show its path
        before the layout asked for applies (qBittorrent, while it reads the
        resume data): it is asked again until it shows `content_path` or is
        done loading and checking.
        """

        def reads_it(torrent: Torrent) -> bool:
            return _normalized(str(torrent.content_path)) == content_path

        def settled(torrent: Torrent) -> bool:
            return reads_it(torrent) or torrent.state not in (TorrentState.queued, TorrentState.verifying)

        last, _, failure = await self._confirm(added, self._reader("content_path", "state"), settled)
        if failure is not None:
            raise failure
        for torrent in (t for t in last.values() if t is not None):
            if not reads_it(torrent):
                response.errors.append(
                    errors.AddTorrentError(
                        f"{torrent.name}: Added, but its content is at {torrent.content_path}, not {content_path}"
                    )
                )

    async def _add(self, response: AddResponse, torrents: Sequence[object], options: AddOptions) -> None:
        resolved = await resolve_sources(torrents, self.fetch)
        sources: dict[str, TorrentSource] = {}
        for item in resolved:
            if isinstance(item, errors.Error):
                response.errors.append(item)
            elif item.infohash in sources:
                response.warnings.append(errors.TorrentAlreadyAdded(item.infohash, item.name))
                response.already_added.append(item.infohash)
            else:
                sources[item.infohash] = item
        if not sources:
            return
        if not options.verify and "verify" in self.port.add_limitations:
            response.warnings.append(
                errors.Warning(f"{self.port.url.client} can't skip verification: verify=False is ignored")
            )

        existing = await self.port.snapshot(list(sources))
        for infohash, status in existing.items():
            response.warnings.append(errors.TorrentAlreadyAdded(infohash, status.name))
            response.already_added.append(infohash)
        new = [source for infohash, source in sources.items() if infohash not in existing]
        if not new:
            return

        timing = self.port.timing
        sent: dict[str, TorrentSource] = {}
        # How long each may take to show before it counts as not there.
        # Accepted ones: as long as the client may take. Failed requests may
        # have reached the daemon: one shown counts as added, else the
        # request's error stands. Refused ones may have been refused as a
        # duplicate of one another request is adding: shown, they were
        # already there.
        missing_within: dict[str, float] = {}
        failures: dict[str, errors.Error] = {}
        refused: set[str] = set()
        for outcome in await self.port.add(new, options):
            infohash, source = outcome.infohash, outcome.source
            if outcome.warning:
                response.warnings.append(errors.Warning(f"{source.display}: {outcome.warning}"))
            if outcome.status is AddStatus.already_added:
                response.warnings.append(errors.TorrentAlreadyAdded(infohash, source.name))
                response.already_added.append(infohash)
                continue
            sent[infohash] = source
            if outcome.status is AddStatus.added:
                if timing.appear_within is not None:
                    missing_within[infohash] = timing.appear_within
            elif outcome.status is AddStatus.failed and outcome.error is not None:
                missing_within[infohash] = 0.0
                failures[infohash] = _naming(outcome.error, source.display)
            else:
                missing_within[infohash] = timing.refused_may_show_within
                failures[infohash] = errors.AddTorrentError(f"{source.display}: {outcome.message or 'Failed to add'}")
                refused.add(infohash)
        if not sent:
            return

        def done(status: TorrentStatus) -> bool:
            if status.infohash in refused:
                return True
            return status.stopped is True if options.stopped else status.stopped is not True

        if options.stopped:

            def ambiguous(status: TorrentStatus) -> bool:
                return status.stopped is None

            grace = 0.0 if timing.check_keeps_request else None
        else:
            # A client that adds torrents paused and resumes them afterwards
            # may show one stopped for a moment; after that its word stands.
            def ambiguous(status: TorrentStatus) -> bool:
                return True

            grace = timing.started_shows_stopped

        last, pending, failure = await self._confirm(
            sent,
            self.port.snapshot,
            done,
            ambiguous=ambiguous,
            ambiguous_grace=grace,
            resend=self.port.stop if options.stopped else None,
            missing_within=missing_within,
        )
        for infohash, source in sent.items():
            shown = last.get(infohash) is not None
            if infohash in refused and shown:
                response.warnings.append(errors.TorrentAlreadyAdded(infohash, source.name))
                response.already_added.append(infohash)
                continue
            if infohash in pending and failure is not None:
                # The client went away before it showed this one: say why.
                response.errors.append(_naming(failure, source.display))
            elif not shown:
                response.errors.append(
                    failures.get(infohash)
                    or errors.AddTorrentError(f"{source.display}: Torrent did not appear in {self.port.url.client}")
                )
            elif infohash in pending:
                verb = "stop" if options.stopped else "start"
                response.errors.append(
                    errors.AddTorrentError(f"{source.display}: Torrent was added but did not {verb}")
                )
            else:
                response.added.append(infohash)
            self._remember(infohash, options.stopped, last.get(infohash))
        self._log.debug("added", count=len(response.added), errors=len(response.errors))

    # --- start / stop ------------------------------------------------------------
    async def start(self, values: Sequence[str]) -> StartResponse:
        response = StartResponse()
        await self._switch(values, response, response.started, response.already_started, stop=False)
        return response

    async def stop(self, values: Sequence[str]) -> StopResponse:
        response = StopResponse()
        await self._switch(values, response, response.stopped, response.already_stopped, stop=True)
        return response

    async def _switch(
        self, values: Sequence[str], response: Response, done_list: list[str], already_list: list[str], *, stop: bool
    ) -> None:
        warning_class: type[errors.TorrentWarning]
        error_class: type[errors.ResponseError]
        if stop:
            warning_class, error_class, action = errors.TorrentAlreadyStopped, errors.StopTorrentError, self.port.stop
        else:
            warning_class, error_class, action = errors.TorrentAlreadyStarted, errors.StartTorrentError, self.port.start

        def already(infohash: str, status: TorrentStatus) -> bool:
            is_stopped = status.stopped
            if is_stopped is None:  # the client can't tell: what we last asked for
                is_stopped = self._intent_stopped.get(infohash, not stop)
            return is_stopped == stop

        try:
            todo, found = await self._sort(
                values, response, self._telling_snapshot, already, warning_class, already_list
            )
            if not todo:
                return
            failures = await action(todo)
            self._failed(response, failures, error_class, found)
            todo = [h for h in todo if h not in failures]
            if not todo:
                return
            for infohash in todo:
                self._remember(infohash, stop, None)

            def done(status: TorrentStatus) -> bool:
                return status.stopped is stop

            def ambiguous(status: TorrentStatus) -> bool:
                return status.stopped is None

            last, pending, failure = await self._confirm(
                todo,
                self.port.snapshot,
                done,
                ambiguous=ambiguous,
                ambiguous_grace=0.0 if self.port.timing.check_keeps_request else None,
                resend=action,
                on_refresh=True,
                missing_within=dict.fromkeys(todo, self.port.timing.state_latency),
            )
            for infohash in todo:
                self._remember(infohash, stop, last.get(infohash))
                if infohash not in pending:
                    done_list.append(infohash)
                elif failure is not None:
                    response.errors.append(_naming(failure, _name(found, infohash)))
                elif last.get(infohash) is None:
                    response.errors.append(errors.NoSuchTorrentError(infohash))
                else:
                    verb = "stop" if stop else "start"
                    response.errors.append(error_class(f"{_name(found, infohash)}: Torrent did not {verb}"))
        except Exception as exc:
            response.errors.append(as_error(exc))

    def _remember(self, infohash: str, stopped: bool, status: TorrentStatus | None) -> None:
        """Keep what we asked of `infohash`, and whether `status`, the answer we took, was a check."""
        self._intent_stopped[infohash] = stopped
        if status is not None and status.stopped is None:
            self._answered_checking.add(infohash)
        else:
            self._answered_checking.discard(infohash)

    def _contradicted(self, status: TorrentStatus) -> bool:
        """Whether the client shows the state from before the request we took its check for."""
        infohash = status.infohash
        return (
            infohash in self._answered_checking
            and status.stopped is not None
            and status.stopped != self._intent_stopped.get(infohash)
        )

    async def _telling_snapshot(self, infohashes: list[str]) -> Mapping[str, TorrentStatus]:
        """The snapshot, where the client tells whether each torrent runs.

        Read again, for at most the policy's `ambiguous_grace`, until the
        client tells:
        - a torrent it shows neither running nor stopped (loading or
          checking: qBittorrent's checkingResumeData) whose last request this
          object doesn't know, so that a torrent added stopped elsewhere is
          "already stopped", not stopped again;
        - a torrent whose check we took for the answer to our last request,
          shown in the state from before it: at the end of the check the
          client may show that for a moment. After the grace its word stands
          (the torrent was started or stopped elsewhere).
        """
        found = dict(await self.port.snapshot(infohashes))
        unsure = [
            h
            for h, status in found.items()
            if (status.stopped is None and h not in self._intent_stopped) or self._contradicted(status)
        ]
        if unsure:
            first: Mapping[str, TorrentStatus] | None = {h: found[h] for h in unsure}

            async def read(wanted: list[str]) -> Mapping[str, TorrentStatus]:
                # The first round judges the read just made; the client is asked again after a pause.
                nonlocal first
                seen, first = first, None
                return seen if seen is not None else await self.port.snapshot(wanted)

            last, _, failure = await self._confirm(
                unsure,
                read,
                lambda status: status.stopped is not None and not self._contradicted(status),
                ambiguous=lambda status: True,
                missing_within=dict.fromkeys(unsure, 0.0),
                on_refresh=True,
            )
            if failure is not None:
                raise failure
            for infohash, status in last.items():
                if status is None:
                    found.pop(infohash, None)  # removed meanwhile
                else:
                    found[infohash] = status
        for infohash, status in found.items():
            if status.stopped is not None:
                self._answered_checking.discard(infohash)  # the check is over: the client's word stands
        return found

    # --- verify -------------------------------------------------------------------
    async def verify(self, values: Sequence[str]) -> VerifyResponse:
        response = VerifyResponse()
        now = time.monotonic()

        def already(infohash: str, status: TorrentStatus) -> bool:
            return status.is_verifying or self._verify_pending(infohash, now)

        try:
            todo, found = await self._sort(
                values,
                response,
                self.port.snapshot,
                already,
                errors.TorrentAlreadyVerifying,
                response.already_verifying,
            )
            if not todo:
                return response
            if loading := [h for h in todo if found[h].loading]:
                # A verification asked while the client loads the torrent may never run,
                # nor one asked as its first check starts (qBittorrent 4.5.2: checkingDL
                # 0 % for good): a torrent that is checking once loaded is verifying already.
                loaded, _, failure = await self._confirm(loading, self.port.snapshot, lambda status: not status.loading)
                if failure is not None:
                    raise failure
                still_todo = self._sorted(
                    loading,
                    loaded,
                    response,
                    already,
                    errors.TorrentAlreadyVerifying,
                    response.already_verifying,
                )
                answered = set(loading).difference(still_todo)  # already verifying, or gone
                todo = [h for h in todo if h not in answered]
                found.update((h, status) for h, status in loaded.items() if status is not None)
                if not todo:
                    return response
            failures = await self.port.verify(todo)
            self._failed(response, failures, errors.VerifyTorrentError, found)
            now = time.monotonic()
            for infohash in todo:
                if infohash not in failures:
                    # A small torrent can be verified before any poll could see it:
                    # the client accepting the request is the confirmation here.
                    self._verify_requested[infohash] = now
                    response.verifying.append(infohash)
        except Exception as exc:
            response.errors.append(as_error(exc))
        return response

    async def verify_wait(
        self, values: Sequence[str], interval: Interval = (0.3, 3.0)
    ) -> AsyncIterator[tuple[str, float | errors.Error]]:
        """Yield (infohash, progress 0–100 or Error) until no torrent verifies.

        Every infohash is yielded at least once; the last value of each is its
        final (download) progress, or an error.
        """
        async for infohash, value, _ in self.verify_progress(values, interval):
            yield infohash, value

    async def verify_progress(
        self, values: Sequence[str], interval: Interval = (0.3, 3.0)
    ) -> AsyncIterator[tuple[str, float | errors.Error, bool]]:
        """verify_wait() with a third item: True on each torrent's last value."""
        low, high = (interval, interval) if isinstance(interval, (int, float)) else interval
        if low <= 0 or high < low:
            raise errors.ValueError(f"Invalid interval: {interval!r}")
        pending: list[str] = []
        for value in values:
            try:
                pending.append(normalize_infohash(value))
            except errors.ValueError as exc:
                yield value, exc, True
        pending = _dedupe(pending)
        reported: dict[str, float] = {}
        async for _ in poll_rounds(self.policy, first_delay=low, max_delay=high, timeout=0):
            if not pending:
                break
            try:
                snapshot = await self.port.snapshot(pending)
            except Exception as exc:
                error = as_error(exc)
                for infohash in pending:
                    yield infohash, error, True
                return
            now = time.monotonic()
            still: list[str] = []
            for infohash in pending:
                status = snapshot.get(infohash)
                if status is None:
                    yield infohash, errors.NoSuchTorrentError(infohash), True
                    continue
                if status.is_verifying:
                    self._verify_requested.pop(infohash, None)
                    progress = round((status.verify_progress or 0.0) * 100, 2)
                    if reported.get(infohash) != progress:
                        reported[infohash] = progress
                        yield infohash, progress, False
                    still.append(infohash)
                elif self._verify_pending(infohash, now):
                    # Asked to verify but not shown yet: the client may not have
                    # picked the request up, or queued it.
                    still.append(infohash)
                else:
                    self._verify_requested.pop(infohash, None)
                    yield infohash, round(status.progress * 100, 2), True
            pending = still

    # --- remove, move, reannounce -------------------------------------------------------
    async def remove(self, values: Sequence[str], *, delete_data: bool) -> RemoveResponse:
        response = RemoveResponse()
        try:
            todo, found = await self._sort(values, response, self.port.snapshot)
            if not todo:
                return response
            failures = await self.port.remove(todo, delete_data)
            self._failed(response, failures, errors.RemoveTorrentError, found)
            todo = [h for h in todo if h not in failures]
            if not todo:
                return response

            async def remove_again(infohashes: list[str]) -> object:
                return await self.port.remove(infohashes, delete_data)

            # Nothing counts as done but being gone.
            last, _, failure = await self._confirm(
                todo,
                self.port.snapshot,
                lambda status: False,
                resend=remove_again,
                missing_within=dict.fromkeys(todo, 0.0),
            )
            for infohash in todo:
                if infohash in last and last[infohash] is None:
                    response.removed.append(infohash)
                elif failure is not None:
                    response.errors.append(_naming(failure, _name(found, infohash)))
                else:
                    response.errors.append(
                        errors.RemoveTorrentError(f"{_name(found, infohash)}: Torrent was not removed")
                    )
        except Exception as exc:
            response.errors.append(as_error(exc))
        self._log.debug("removed", count=len(response.removed), errors=len(response.errors))
        return response

    async def move(self, values: Sequence[str], location: str) -> MoveResponse:
        response = MoveResponse()
        if not is_absolute(location):
            response.errors.append(errors.ValueError(f"Not an absolute path: {location!r}"))
            return response
        target = _normalized(location)

        def moved(torrent: Torrent) -> bool:
            return _normalized(str(torrent.save_path)) == target and torrent.state is not TorrentState.moving

        try:
            todo, found = await self._sort(
                values,
                response,
                self._reader("save_path", "state"),
                lambda infohash, torrent: moved(torrent),
                errors.TorrentAlreadyMoved,
                response.already_moved,
            )
            if not todo:
                return response
            failures = await self.port.move(todo, target)
            self._failed(response, failures, errors.MoveTorrentError, found)
            todo = [h for h in todo if h not in failures]
            if not todo:
                return response

            # A move that shows neither as moving nor as done in time failed.
            shows_within = self.port.timing.move_shows_within

            def stalled(torrent: Torrent) -> bool:
                return torrent.state is not TorrentState.moving

            last, _, failure = await self._confirm(
                todo,
                self._reader("save_path", "state", "error"),
                moved,
                ambiguous=stalled if shows_within is not None else None,
                ambiguous_grace=max(shows_within or 0.0, self.policy.ambiguous_grace),
                on_refresh=True,
            )
            for infohash in todo:
                torrent = last.get(infohash)
                name = _name(found, infohash)
                if torrent is not None and moved(torrent):
                    response.moved.append(infohash)
                elif failure is not None:
                    response.errors.append(_naming(failure, name))
                elif torrent is None:
                    response.errors.append(errors.NoSuchTorrentError(infohash))
                elif torrent.state is TorrentState.moving:
                    response.errors.append(
                        errors.MoveTorrentError(f"{name}: Still moving after {self.policy.timeout:g} seconds")
                    )
                else:
                    reason = f": {torrent.error}" if torrent.error else ""
                    response.errors.append(errors.MoveTorrentError(f"{name}: Torrent was not moved{reason}"))
        except Exception as exc:
            response.errors.append(as_error(exc))
        return response

    async def reannounce(self, values: Sequence[str]) -> ReannounceResponse:
        """Stopped torrents don't announce: asking one is an error, not a silent no-op.
        The client accepting the request is the confirmation (an announce may take long)."""
        response = ReannounceResponse()
        try:
            todo, found = await self._sort(values, response, self.port.snapshot)
            running = []
            for infohash in todo:
                if found[infohash].stopped is True:
                    response.errors.append(
                        errors.ReannounceTorrentError(f"{_name(found, infohash)}: Torrent is stopped")
                    )
                else:
                    running.append(infohash)
            if not running:
                return response
            failures = await self.port.reannounce(running)
            self._failed(response, failures, errors.ReannounceTorrentError, found)
            response.reannounced.extend(h for h in running if h not in failures)
        except Exception as exc:
            response.errors.append(as_error(exc))
        return response

    # --- labels and limits ------------------------------------------------------------------
    async def set_label(self, values: Sequence[str], label: str | None) -> LabelResponse:
        response = LabelResponse()
        if label is not None and not isinstance(label, str):
            response.errors.append(errors.ValueError(f"Invalid label: {label!r}"))
            return response
        wanted = label or None  # "" clears too

        def labeled(torrent: Torrent) -> bool:
            return torrent.label == wanted

        await self._set(
            values,
            response,
            "label",
            labeled,
            lambda todo: self.port.set_label(todo, wanted),
            errors.TorrentAlreadyLabeled,
            errors.LabelTorrentError,
            response.labeled,
            response.already_labeled,
        )
        return response

    async def set_limits(self, values: Sequence[str], limits: RateLimits) -> LimitResponse:
        response = LimitResponse()
        try:
            check_limits(limits)
        except errors.ValueError as exc:
            response.errors.append(exc)
            return response
        unit = self.port.limit_unit

        def limited(torrent: Torrent) -> bool:
            return all(
                getattr(torrent, f"limit_{direction}") == expected_limit(wanted, unit)
                for direction, wanted in _given(limits)
            )

        await self._set(
            values,
            response,
            "limit_down,limit_up",
            limited,
            lambda todo: self.port.set_limits(todo, limits),
            errors.TorrentAlreadyLimited,
            errors.LimitTorrentError,
            response.limited,
            response.already_limited,
        )
        return response

    async def _set(
        self,
        values: Sequence[str],
        response: Response,
        attributes: str,
        is_set: Callable[[Torrent], bool],
        send: Callable[[list[str]], Awaitable[Mapping[str, str]]],
        warning_class: type[errors.TorrentWarning],
        error_class: type[errors.ResponseError],
        done_list: list[str],
        already_list: list[str],
    ) -> None:
        """Set something the listing reports in `attributes`: sort, send, confirm."""
        read = self._reader(*attributes.split(","))
        try:
            todo, found = await self._sort(
                values, response, read, lambda infohash, torrent: is_set(torrent), warning_class, already_list
            )
            if not todo:
                return
            failures = await send(todo)
            self._failed(response, failures, error_class, found)
            todo = [h for h in todo if h not in failures]
            if not todo:
                return
            last, pending, failure = await self._confirm(todo, read, is_set)
            for infohash in todo:
                name = _name(found, infohash)
                if infohash not in pending:
                    done_list.append(infohash)
                elif failure is not None:
                    response.errors.append(_naming(failure, name))
                elif last.get(infohash) is None:
                    response.errors.append(errors.NoSuchTorrentError(infohash))
                else:
                    response.errors.append(error_class(f"{name}: The client did not take it"))
        except Exception as exc:
            response.errors.append(as_error(exc))

    # --- the session ----------------------------------------------------------------------------
    async def get_session(self) -> Session:
        session = await self.port.session()
        counts = Counter(t.state for t in await self.port.torrents(None, frozenset({"state"})))
        ordered = {state: counts[state] for state in TorrentState if counts[state]}
        return msgspec.structs.replace(session, torrents=ordered)

    async def set_session_limits(self, limits: RateLimits) -> None:
        """Set the global limits and wait until the client reports them; raises SessionError."""
        check_limits(limits)
        unit = self.port.limit_unit

        def applied(session: Session) -> bool:
            return all(
                getattr(session, f"limit_{direction}") == expected_limit(wanted, unit)
                for direction, wanted in _given(limits)
            )

        await self.port.set_session_limits(limits)
        session = None
        async for _ in poll_rounds(self.policy):
            session = await self.port.session()
            if applied(session):
                return
        raise errors.SessionError(
            f"{self.port.url.client} did not take the limits: down={session and session.limit_down}, "
            f"up={session and session.limit_up}"
        )

    async def get_torrent_file(self, value: str) -> bytes:
        """The torrent's .torrent as the client keeps it; its infohash is checked."""
        infohash = normalize_infohash(value)
        data = await self.port.torrent_file(infohash)
        try:
            source = source_from_metainfo(data, infohash)
        except errors.Error as exc:
            raise errors.ResponseError(f"{infohash}: The client's copy is not a valid torrent: {exc}") from exc
        if source.infohash != infohash and source.infohash_v2 != infohash:
            raise errors.ResponseError(f"{infohash}: The client's .torrent is of another torrent: {source.infohash}")
        return data

    # --- listing --------------------------------------------------------------------
    async def get_infohashes(self) -> list[str]:
        return await self.port.list_infohashes()

    async def get_torrents(self, values: Sequence[str], attributes: Iterable[str] | None) -> list[Torrent]:
        """The given torrents (every torrent for none), unknown ones left out."""
        names = parse_attributes(attributes)
        infohashes = _dedupe(normalize_infohash(value) for value in values) if values else None
        if infohashes is not None and not infohashes:
            return []
        torrents = await self.port.torrents(infohashes, names)
        if infohashes is None:
            return torrents
        wanted = set(infohashes)
        return [torrent for torrent in torrents if torrent.infohash in wanted]

    async def watch(self, attributes: Iterable[str] | None, interval: float) -> AsyncGenerator[TorrentEvent, None]:
        """Events for every change of the watched attributes, until the caller stops.

        The first poll reports every torrent there is as added. A lost
        connection is retried with backoff, and the first poll on the new one
        reports what changed meanwhile. A restarted daemon may answer before
        it has loaded its torrents: a torrent missing from the first listing
        after a break (a reconnect, or a restart the feed noticed between two
        polls) is reported removed only if the client still
        doesn't have it ``policy.timeout`` seconds later (asked directly).
        An AuthenticationError ends it.
        """
        names = parse_attributes(attributes)
        collections = sorted(names & COLLECTION_ATTRIBUTES)
        if collections:
            raise errors.ValueError(f"watch() can't follow {', '.join(collections)}: ask get_torrents() for them")
        if not interval > 0:
            raise errors.ValueError(f"Invalid interval: {interval!r}")
        feed = self.port.change_feed(names)
        known: dict[str, Torrent] = {}
        # Missing after a break, by when that was noticed: not yet removed.
        missing: dict[str, float] = {}
        try:
            changes = await feed.poll()  # a client that can't be reached at all is an error
            while True:
                for event in self._events(known, changes, missing):
                    yield event
                for event in await self._settle_missing(known, missing, names):
                    yield event
                await pause_for(interval, feed.news)
                changes = await self._next_changes(feed, interval)
        finally:
            await feed.close()

    async def _next_changes(self, feed: ChangeFeed, interval: float) -> TorrentChanges:
        """The feed's next poll, retried with backoff while the client can't be reached."""
        async for _ in poll_rounds(
            self.policy, first_delay=min(interval, 1.0), max_delay=max(interval, 10.0), timeout=0
        ):
            try:
                return await feed.poll()
            except errors.AuthenticationError:
                raise
            except errors.ConnectionError as exc:
                self._log.debug("watch: client unreachable, trying again", error=str(exc))
        raise AssertionError("poll_rounds without a deadline ended")  # pragma: no cover

    async def _settle_missing(
        self, known: dict[str, Torrent], missing: dict[str, float], names: frozenset[str]
    ) -> list[TorrentEvent]:
        """Removed events for the torrents missing since a break that the
        client still lacks after ``policy.timeout``; what changed of the others."""
        for infohash in [h for h in missing if h not in known]:
            del missing[infohash]  # reported removed by the client meanwhile
        now = time.monotonic()
        due = sorted(h for h, since in missing.items() if now - since >= self.policy.timeout)
        if not due:
            return []
        try:
            found = {t.infohash: t for t in await self.port.torrents(due, names)}
        except errors.AuthenticationError:
            raise
        except errors.ConnectionError as exc:  # gone again: asked after the next poll
            self._log.debug("watch: client unreachable, trying again", error=str(exc))
            return []
        events: list[TorrentEvent] = []
        for infohash in due:
            del missing[infohash]
            torrent = found.get(infohash)
            if torrent is None:
                del known[infohash]
                events.append(TorrentRemoved(infohash=infohash))
            else:
                events.extend(self._events(known, TorrentChanges(changed=[torrent]), missing))
        return events

    @staticmethod
    def _events(
        known: dict[str, Torrent],
        changes: TorrentChanges,
        missing: dict[str, float],
    ) -> list[TorrentEvent]:
        """The events `changes` make of what was `known` (updated). Torrents
        absent from ``changes.present`` are removed, except those `missing`
        since a break (added to it when the changes are ``resumed``), which wait there."""
        events: list[TorrentEvent] = []
        gone = set(changes.removed)
        if changes.present is not None:
            absent = known.keys() - changes.present - gone
            if changes.resumed:
                now = time.monotonic()
                for infohash in absent:
                    missing.setdefault(infohash, now)
            gone.update(absent - missing.keys())
        for torrent in changes.changed:
            missing.pop(torrent.infohash, None)  # back
        for infohash in sorted(gone & known.keys()):
            del known[infohash]
            events.append(TorrentRemoved(infohash=infohash))
        for torrent in changes.changed:
            old = known.get(torrent.infohash)
            if torrent.infohash in gone:
                continue
            known[torrent.infohash] = torrent
            if old is None:
                events.append(TorrentAdded(torrent=torrent))
            else:
                diff = changes_between(old, torrent)
                if diff:
                    events.append(TorrentChanged(infohash=torrent.infohash, changes=diff))
        return events
