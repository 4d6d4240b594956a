"""transfer(): moving torrents from one client to another, nothing lost on the way.

The use case is built from the two API objects' own operations, so what
"added", "verified" or "stopped" means (and how long to wait for it) stays
with the services of each side. For all torrents at once, step by step:

1. read both clients (one listing each): what the source has, what the
   target has already (a run that was interrupted leaves some there);
2. read each new torrent's .torrent file from the source;
3. add them to the target, stopped, at the source's save path (through
   `path_map`), without their check where ``verify=False`` allows it;
4. ask the target to verify every torrent it doesn't show complete yet
   (qBittorrent doesn't check a torrent added stopped on its own) and wait
   for the checks: complete means as much data as the source has;
5. give them the source's label;
6. stop the ones running on the source, then start them on the target:
   never two clients seeding the same files;
7. with `remove_source`, remove them from the source (never their data).

A torrent that fails a step is rolled back alone: removed from the target
if this run added it, started on the source again if this run stopped it.
Running the same transfer again finishes what an interrupted run left and
reports the rest as already transferred.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

import msgspec

from ..domain import errors
from ..domain.paths import PathMap, joined, map_path, normalized, parse_path_map
from ..domain.response import Response, TransferResponse
from ..domain.torrent import Torrent, TorrentState
from .api import APIBase
from .services import parse_infohashes

__all__ = ["TransferProgress", "transfer"]

#: How many .torrent files are read from the source at once.
_READ_CONCURRENCY = 8

_ATTRIBUTES = ("name", "state", "progress", "save_path", "content_path", "label")

#: States of a source torrent that can't be moved now, and why.
_NOT_NOW = {
    TorrentState.verifying: "it is still being verified",
    TorrentState.moving: "its data is being moved",
    TorrentState.metadata: "the client has no metadata for it yet",
    TorrentState.error: "the client reports an error for it",
}


class TransferProgress(msgspec.Struct, frozen=True, kw_only=True):
    """How far a :func:`transfer` is: `done` of `total` torrents through `step`.

    Steps, in order: ``"reading"`` (the .torrent files from the source),
    ``"adding"``, ``"verifying"`` (the target's checks, the long one),
    ``"labeling"``, ``"stopping"`` (the source), ``"starting"`` (the
    target), ``"removing"`` (from the source).
    """

    step: str
    done: int
    total: int


#: Called with every TransferProgress; what it returns is ignored.
ProgressCallback = Callable[[TransferProgress], object]


@dataclasses.dataclass(slots=True)
class _Item:
    """One torrent on its way from source to target."""

    infohash: str
    name: str
    #: The downloaded fraction on the source: the target must find as much.
    source_progress: float
    label: str | None
    #: Where the target finds the content: a save path (the usual layout,
    #: the content named after the torrent in it), else the content itself.
    location: str | None
    content_path: str | None
    #: What the target had before this run (an earlier run was interrupted).
    target: Torrent | None
    #: Running somewhere: on the source, or on the target after an earlier run.
    started: bool
    metainfo: bytes | None = None
    #: Added to the target by this run: removed from it again on failure.
    added: bool = False
    #: Stopped on the source by this run: started again on failure.
    stopped_source: bool = False
    #: Anything done by this run: transferred, else already transferred.
    changed: bool = False

    @classmethod
    def plan(cls, torrent: Torrent, target: Torrent | None, rules: PathMap) -> _Item:
        name = str(torrent.name or torrent.infohash)
        save_path, content_path = str(torrent.save_path), str(torrent.content_path)
        usual = normalized(content_path) == joined(save_path, name)
        return cls(
            infohash=torrent.infohash,
            name=name,
            source_progress=float(torrent.progress or 0.0),
            label=torrent.label or None,
            location=map_path(save_path, rules) if usual else None,
            content_path=None if usual else map_path(content_path, rules),
            target=target,
            started=torrent.state is not TorrentState.stopped
            or (target is not None and target.state not in (TorrentState.stopped, TorrentState.verifying)),
        )

    @property
    def expected_content_path(self) -> str:
        return self.content_path or joined(str(self.location), self.name)

    def complete_at(self, progress: float) -> bool:
        """Whether the target holding `progress` % has all the source has."""
        return progress + 0.01 >= round(self.source_progress * 100, 2)


async def transfer(
    source: APIBase,
    target: APIBase,
    *infohashes: str,
    remove_source: bool = False,
    verify: bool = True,
    path_map: Mapping[str, str] | None = None,
    on_progress: ProgressCallback | None = None,
) -> TransferResponse:
    """Move torrents from the `source` client to the `target` client.

    Each torrent's .torrent file from the source is added to the target at
    the same save path (or the one `path_map` makes of it: ``{"/old":
    "/new"}``, longest prefix first, for daemons that see the disk
    differently), with the same label and the same stopped or started state.
    Nothing on disk is copied, moved or written.

    ``verify=False`` skips the target's check of torrents the source has
    complete where the target can (qBittorrent, Deluge, rTorrent); where it
    can't (Transmission), a warning says so and the check runs. The source
    torrent is stopped before the target starts it, and removed (never its
    data) only with `remove_source` and once the target shows it complete.
    A torrent that fails any step is left on the source as it was. Running
    the same transfer again finishes what an interrupted one left.

    `on_progress` is called with a :class:`TransferProgress` as torrents get
    through each step. Response lists: ``transferred``,
    ``already_transferred``.
    """
    response = TransferResponse()
    for side, api in (("source", source), ("target", target)):
        if not isinstance(api, APIBase):
            response.errors.append(errors.ValueError(f"The {side} is not an API object: {type(api).__name__}"))
    if response.errors:
        return response
    try:
        rules = parse_path_map(path_map)
    except errors.ValueError as exc:
        response.errors.append(exc)
        return response
    if source is target or str(source.url) == str(target.url):
        response.errors.append(errors.ValueError(f"Source and target are the same client: {source.url}"))
        return response
    wanted = parse_infohashes(infohashes, response)
    if wanted:
        job = _Transfer(source, target, response, remove_source=remove_source, verify=verify, on_progress=on_progress)
        await job.run(wanted, rules)
    return response


class _Transfer:
    def __init__(
        self,
        source: APIBase,
        target: APIBase,
        response: TransferResponse,
        *,
        remove_source: bool,
        verify: bool,
        on_progress: ProgressCallback | None,
    ) -> None:
        self.source = source
        self.target = target
        self.response = response
        self.remove_source = remove_source
        self.verify = verify
        self.on_progress = on_progress

    def _progress(self, step: str, done: int, total: int) -> None:
        if self.on_progress is not None:
            self.on_progress(TransferProgress(step=step, done=done, total=total))

    def _fail(self, item: _Item, message: str) -> None:
        self.response.errors.append(errors.TransferTorrentError(f"{item.name}: {message}"))

    async def run(self, infohashes: list[str], rules: PathMap) -> None:
        try:
            in_source = {t.infohash: t for t in await self.source.get_torrents(*infohashes, attributes=_ATTRIBUTES)}
            checking = [h for h, t in in_source.items() if t.state is TorrentState.verifying]
            if checking:
                # What a torrent has is known once its check ends (just added, often).
                async for _ in self.source._service.verify_progress(checking):
                    pass
                in_source = {t.infohash: t for t in await self.source.get_torrents(*infohashes, attributes=_ATTRIBUTES)}
            in_target = {t.infohash: t for t in await self.target.get_torrents(*infohashes, attributes=_ATTRIBUTES)}
        except errors.Error as exc:
            self.response.errors.append(exc)
            return
        items = self._plan(infohashes, in_source, in_target, rules)
        steps: list[Callable[[list[_Item]], Awaitable[list[_Item]]]] = [
            self._read,
            self._add,
            self._check,
            self._label,
            self._stop_source,
            self._start_target,
        ]
        for step in steps:
            if not items:
                return
            items = await step(items)
        if self.remove_source:
            items = await self._remove_source(items)
        for item in items:
            if item.changed:
                self.response.transferred.append(item.infohash)
            else:
                self.response.warnings.append(errors.TorrentAlreadyTransferred(item.infohash, item.name))
                self.response.already_transferred.append(item.infohash)

    def _plan(
        self,
        infohashes: list[str],
        in_source: Mapping[str, Torrent],
        in_target: Mapping[str, Torrent],
        rules: PathMap,
    ) -> list[_Item]:
        """What to do with each torrent; errors for the ones that can't go."""
        items: list[_Item] = []
        for infohash in infohashes:
            torrent, there = in_source.get(infohash), in_target.get(infohash)
            if torrent is None:
                if there is None:
                    self.response.errors.append(errors.NoSuchTorrentError(infohash))
                elif there.progress == 1.0 or there.state is not TorrentState.stopped:
                    # Moved by an earlier run, which removed it from the source.
                    name = str(there.name or infohash)
                    self.response.warnings.append(errors.TorrentAlreadyTransferred(infohash, name))
                    self.response.already_transferred.append(infohash)
                else:
                    self.response.errors.append(
                        errors.TransferTorrentError(
                            f"{there.name}: Not in the source; the target has it stopped at "
                            f"{round(float(there.progress or 0) * 100, 2)} %"
                        )
                    )
                continue
            item = _Item.plan(torrent, there, rules)
            state = torrent.state if isinstance(torrent.state, TorrentState) else TorrentState.unknown
            if why := _NOT_NOW.get(state):
                self._fail(item, f"Can't transfer it now: {why}")
            elif there is not None and normalized(str(there.content_path)) != item.expected_content_path:
                self._fail(
                    item,
                    f"The target has it already, with its content at {there.content_path}, "
                    f"not {item.expected_content_path}",
                )
            else:
                items.append(item)
        return items

    async def _read(self, items: list[_Item]) -> list[_Item]:
        """The .torrent file of every torrent the target doesn't have yet."""
        new = [item for item in items if item.target is None]
        semaphore = asyncio.Semaphore(_READ_CONCURRENCY)
        done = 0

        async def read(item: _Item) -> None:
            nonlocal done
            async with semaphore:
                # Checked by the source's service: a valid .torrent of this infohash.
                item.metainfo = await self.source.get_torrent_file(item.infohash)
            done += 1
            self._progress("reading", done, len(new))

        results = await asyncio.gather(*(read(item) for item in new), return_exceptions=True)
        failed: set[str] = set()
        for item, result in zip(new, results, strict=True):
            if isinstance(result, errors.Error):
                self._fail(item, f"Can't read its .torrent file from the source: {result}")
                failed.add(item.infohash)
            elif isinstance(result, Exception):
                self._fail(item, f"Can't read its .torrent file from the source: unexpected {type(result).__name__}")
                failed.add(item.infohash)
            elif isinstance(result, BaseException):
                raise result
        return [item for item in items if item.infohash not in failed]

    async def _add(self, items: list[_Item]) -> list[_Item]:
        """Add the new ones to the target, stopped: one request per save path."""
        new = [item for item in items if item.target is None]

        def group(item: _Item) -> tuple[str, str, bool]:
            # Where the target can't skip its check, its add service says so in a warning.
            skip = not self.verify and item.source_progress == 1.0
            return (item.location or "", item.content_path or "", skip)

        failed: set[str] = set()
        done = 0
        for (location, content_path, skip), grouped in itertools.groupby(sorted(new, key=group), key=group):
            batch = list(grouped)
            # One content path per request: each torrent with its own is alone.
            batches = [[item] for item in batch] if content_path else [batch]
            for chunk in batches:
                added = await self.target.add(
                    *(item.metainfo for item in chunk if item.metainfo is not None),
                    location=location or None,
                    content_path=content_path or None,
                    stopped=True,
                    verify=not skip,
                )
                self.response.warnings.extend(
                    w
                    for w in added.warnings
                    if not isinstance(w, errors.TorrentWarning) and w not in self.response.warnings
                )
                ok = set(added.added)
                for item in chunk:
                    if item.infohash in ok:
                        item.added = item.changed = True
                    elif item.infohash in added.already_added:
                        # Added meanwhile by someone else: not ours to remove on failure.
                        item.changed = True
                    else:
                        self._fail(item, f"Not added to the target: {_errors_of(added, item)}")
                        failed.add(item.infohash)
                done += len(chunk)
                self._progress("adding", done, len(new))
        return [item for item in items if item.infohash not in failed]

    async def _check(self, items: list[_Item]) -> list[_Item]:
        """Verify on the target whatever it doesn't show complete; wait for every check."""
        hashes = [item.infohash for item in items]
        by_hash = {item.infohash: item for item in items}
        try:
            shown = {t.infohash: t for t in await self.target.get_torrents(*hashes, attributes=("state", "progress"))}
        except errors.Error as exc:
            return await self._rollback(items, f"Can't read it on the target: {exc}")
        ask = [
            item
            for item in items
            if (torrent := shown.get(item.infohash)) is not None
            and torrent.state is not TorrentState.verifying
            and not item.complete_at(float(torrent.progress or 0.0) * 100)
        ]
        failed: list[tuple[_Item, str]] = []
        if ask:
            asked = await self.target.verify(*(item.infohash for item in ask))
            accepted = set(asked.verifying) | set(asked.already_verifying)
            for item in ask:
                if item.infohash in accepted:
                    item.changed = True
                else:
                    failed.append((item, f"The target did not verify it: {_errors_of(asked, item)}"))
        waiting = [h for h in hashes if h not in {item.infohash for item, _ in failed}]
        final: dict[str, float | errors.Error] = {}
        self._progress("verifying", 0, len(waiting))
        # The target's own wait (its service's), with each torrent's last word marked.
        async for infohash, value, last in self.target._service.verify_progress(waiting):
            if last:
                final[infohash] = value
                self._progress("verifying", len(final), len(waiting))
        for infohash in waiting:
            item, result = by_hash[infohash], final.get(infohash)
            if isinstance(result, errors.Error):
                failed.append((item, f"Not verified on the target: {result}"))
            elif result is None or not item.complete_at(result):
                have = round(item.source_progress * 100, 2)
                failed.append(
                    (
                        item,
                        f"The target found {result} % of its data at {item.expected_content_path}, "
                        f"the source has {have} %",
                    )
                )
        return await self._rollback_each(items, failed)

    async def _label(self, items: list[_Item]) -> list[_Item]:
        """Give each torrent the source's label on the target: one request per label."""
        # The target's labels are known: the listing's, none for those added unlabeled.
        todo = [item for item in items if ((item.target and item.target.label) or None) != item.label]
        failed: list[tuple[_Item, str]] = []

        def label_of(item: _Item) -> str:
            return item.label or ""

        done = 0
        for label, grouped in itertools.groupby(sorted(todo, key=label_of), key=label_of):
            batch = list(grouped)
            labeled = await self.target.set_label(*(item.infohash for item in batch), label=label or None)
            ok = set(labeled.labeled) | set(labeled.already_labeled)
            for item in batch:
                if item.infohash in ok:
                    item.changed = True
                else:
                    failed.append((item, f"The target did not take its label {label!r}: {_errors_of(labeled, item)}"))
            done += len(batch)
            self._progress("labeling", done, len(todo))
        return await self._rollback_each(items, failed)

    async def _stop_source(self, items: list[_Item]) -> list[_Item]:
        """Stop on the source what runs there, before the target starts it."""
        todo = [item for item in items if item.started]
        if not todo:
            return items
        stopped = await self.source.stop(*(item.infohash for item in todo))
        failed: list[tuple[_Item, str]] = []
        for item in todo:
            if item.infohash in stopped.stopped:
                item.stopped_source = item.changed = True
            elif item.infohash not in stopped.already_stopped:
                # It may have stopped all the same: started again on rollback.
                item.stopped_source = True
                failed.append((item, f"The source did not stop it: {_errors_of(stopped, item)}"))
        self._progress("stopping", len(todo), len(todo))
        return await self._rollback_each(items, failed)

    async def _start_target(self, items: list[_Item]) -> list[_Item]:
        todo = [item for item in items if item.started]
        if not todo:
            return items
        started = await self.target.start(*(item.infohash for item in todo))
        failed: list[tuple[_Item, str]] = []
        for item in todo:
            if item.infohash in started.started:
                item.changed = True
            elif item.infohash not in started.already_started:
                failed.append((item, f"The target did not start it: {_errors_of(started, item)}"))
        self._progress("starting", len(todo), len(todo))
        if failed:
            # Two clients must not run it: stop it on the target before the source starts it again.
            await self.target.stop(*(item.infohash for item, _ in failed))
        return await self._rollback_each(items, failed)

    async def _remove_source(self, items: list[_Item]) -> list[_Item]:
        """Remove from the source (never the data) what the target now has complete.

        Returns the items the target still shows: transferred, removed from
        the source or not (an error says so)."""
        if not items:
            return items
        # Once more, right before: a target that went away meanwhile may come back without them.
        try:
            shown = await self.target.get_torrents(*(item.infohash for item in items), attributes=("progress",))
            present = {t.infohash for t in shown}
        except errors.Error as exc:
            present, why = set(), str(exc)
        else:
            why = "the target no longer shows it"
        for item in items:
            if item.infohash not in present:
                self._fail(item, f"Not removed from the source: {why}")
        items = [item for item in items if item.infohash in present]
        if not items:
            return items
        removed = await self.source.remove(*(item.infohash for item in items), delete_data=False)
        gone = set(removed.removed)
        for item in items:
            if item.infohash in gone:
                item.changed = True
            else:
                self._fail(item, f"Transferred, but still in the source: {_errors_of(removed, item)}")
        self._progress("removing", len(items), len(items))
        return items

    async def _rollback(self, items: list[_Item], message: str) -> list[_Item]:
        return await self._rollback_each(items, [(item, message) for item in items])

    async def _rollback_each(self, items: list[_Item], failed: Sequence[tuple[_Item, str]]) -> list[_Item]:
        """Report each failed torrent and put it back as it was; the others go on."""
        if not failed:
            return items
        for item, message in failed:
            self._fail(item, message)
        gone = {item.infohash for item, _ in failed}
        added = [item for item, _ in failed if item.added]
        if added:
            removed = await self.target.remove(*(item.infohash for item in added), delete_data=False)
            for item in added:
                if item.infohash not in removed.removed:
                    self._fail(item, f"Still in the target, stopped: {_errors_of(removed, item)}")
        restart = [item for item, _ in failed if item.stopped_source]
        if restart:
            started = await self.source.start(*(item.infohash for item in restart))
            for item in restart:
                if item.infohash not in started.started and item.infohash not in started.already_started:
                    self._fail(item, f"Not started again on the source: {_errors_of(started, item)}")
        return [item for item in items if item.infohash not in gone]


def _errors_of(response: Response, item: _Item) -> str:
    """What `response` says went wrong with `item`: the errors naming it, else all of them."""
    texts = [str(error) for error in response.errors]
    naming = [text for text in texts if item.name in text or item.infohash in text.lower()]
    return "; ".join(_unique(naming or texts)) or "no reason given"


def _unique(texts: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(texts))
