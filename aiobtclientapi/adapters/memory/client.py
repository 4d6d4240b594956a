"""MemoryAdapter: a complete client that keeps its torrents in memory.

It behaves like a daemon that shares the caller's filesystem: verification
takes ``verify_seconds`` and finds the content files present at the
torrent's location (by size, without hashing); torrents added without
metainfo wait for metadata. Use it through the container to test code that
uses aiobtclientapi without running a daemon::

    with container.port.override(providers.Factory(MemoryAdapter)):
        ...
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec

from ...application.ports import AddOptions, AddOutcome, AddStatus, ChangeFeed, ConnectionOptions
from ...domain import errors
from ...domain.session import RateLimits, Session
from ...domain.source import TorrentFile, TorrentSource
from ...domain.status import ConnectionStatus
from ...domain.torrent import (
    FilePriority,
    Torrent,
    TorrentFileInfo,
    TorrentState,
    TorrentStatus,
    TrackerInfo,
    TrackerStatus,
    ratio_of,
)
from ...domain.url import ClientURL
from .._base import AdapterBase
from .._listing_feed import ListingFeed


class _Torrent:
    __slots__ = (
        "added_at",
        "completed_at",
        "content_path",
        "files",
        "infohash",
        "is_private",
        "label",
        "limits",
        "location",
        "metainfo",
        "name",
        "progress",
        "stopped",
        "trackers",
        "verify_started",
    )

    def __init__(self, source: TorrentSource, location: str, stopped: bool) -> None:
        self.infohash = source.infohash
        self.name = source.name
        self.metainfo = source.metainfo
        self.files: tuple[TorrentFile, ...] = source.files
        #: Where the content is when it is not location/name (added with content_path).
        self.content_path: str | None = None
        self.label: str | None = None
        self.limits: dict[str, int | None] = {"down": None, "up": None}
        self.trackers = source.trackers
        self.is_private = source.is_private
        self.location = location
        self.stopped = stopped
        self.progress = 0.0
        self.verify_started: float | None = None
        self.added_at = datetime.now(UTC)
        self.completed_at: datetime | None = None

    def set_progress(self, progress: float) -> None:
        self.progress = progress
        if progress >= 1.0 and self.completed_at is None:
            self.completed_at = datetime.now(UTC)


def _apply(limits: RateLimits, current: dict[str, int | None]) -> None:
    """Set the given limits in `current`."""
    for direction in ("down", "up"):
        value = getattr(limits, direction)
        if value is not msgspec.UNSET:
            current[direction] = value


class MemoryAdapter(AdapterBase):
    """Implements ClientPort in memory.

    ``username``/``password``: when given, connecting with other credentials
    raises AuthenticationError. ``reachable=False`` makes connecting fail like
    a closed port.
    """

    def __init__(
        self,
        url: ClientURL | None = None,
        options: ConnectionOptions | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        reachable: bool = True,
        verify_seconds: float = 0.2,
        default_location: str | None = None,
    ) -> None:
        super().__init__(url or ClientURL(client="memory", scheme="memory", host="localhost"), options)
        self._credentials = (username, password) if username is not None or password is not None else None
        self._reachable = reachable
        self.verify_seconds = verify_seconds
        self.default_location = default_location or tempfile.gettempdir()
        self.store: dict[str, _Torrent] = {}
        #: The global rate limits (bytes/s, None unlimited).
        self.limits: dict[str, int | None] = {"down": None, "up": None}

    async def _open(self) -> None:
        if not self._reachable:
            raise errors.ConnectionError(f"{self._url}: Connection refused")
        if self._credentials is not None and self._credentials != (self._url.username, self._url.password):
            raise errors.AuthenticationError(f"{self._url}: Authentication failed")

    def _require_connection(self) -> None:
        if self.status is not ConnectionStatus.connected:
            raise errors.ConnectionError(f"{self._url}: Not connected")

    # --- simulation --------------------------------------------------------------
    def _present_fraction(self, torrent: _Torrent) -> float:
        total = sum(f.size for f in torrent.files)
        if not total:
            return 0.0
        have = 0
        for file, path in zip(torrent.files, self._file_paths(torrent), strict=True):
            try:
                if os.path.getsize(path) == file.size:
                    have += file.size
            except OSError:
                pass
        return have / total

    @staticmethod
    def _file_paths(torrent: _Torrent) -> list[str]:
        """Where each file of the torrent is on disk."""
        if torrent.content_path is None:
            return [os.path.join(torrent.location, *file.path) for file in torrent.files]
        if len(torrent.files) == 1 and len(torrent.files[0].path) == 1:
            return [torrent.content_path]
        return [os.path.join(torrent.content_path, *file.path[1:]) for file in torrent.files]

    def _advance(self, torrent: _Torrent) -> float | None:
        """Finish a verification whose time is up; the verified fraction if still running."""
        if torrent.verify_started is None:
            return None
        elapsed = time.monotonic() - torrent.verify_started
        if elapsed >= self.verify_seconds:
            torrent.verify_started = None
            torrent.set_progress(self._present_fraction(torrent))
            return None
        return elapsed / self.verify_seconds if self.verify_seconds else 1.0

    def _status_of(self, torrent: _Torrent) -> TorrentStatus:
        verified = self._advance(torrent)
        if verified is not None:
            state = TorrentState.verifying
        elif torrent.stopped:
            state = TorrentState.stopped
        elif not torrent.files:
            state = TorrentState.metadata
        elif torrent.progress >= 1.0:
            state = TorrentState.seeding
        else:
            state = TorrentState.downloading
        return TorrentStatus(
            infohash=torrent.infohash,
            name=torrent.name,
            state=state,
            stopped=torrent.stopped,
            progress=torrent.progress,
            verify_progress=verified,
        )

    # --- ClientPort ---------------------------------------------------------------
    async def snapshot(self, infohashes: Sequence[str]) -> Mapping[str, TorrentStatus]:
        self._require_connection()
        return {h: self._status_of(self.store[h]) for h in infohashes if h in self.store}

    async def list_infohashes(self) -> list[str]:
        self._require_connection()
        return list(self.store)

    async def torrents(self, infohashes: Sequence[str] | None, attributes: frozenset[str]) -> list[Torrent]:
        self._require_connection()
        if infohashes is None:
            chosen = list(self.store.values())
        else:
            chosen = [self.store[h] for h in dict.fromkeys(infohashes) if h in self.store]
        return [self._torrent_of(torrent, attributes) for torrent in chosen]

    def change_feed(self, attributes: frozenset[str]) -> ChangeFeed:
        return ListingFeed(self, attributes)

    def _torrent_of(self, torrent: _Torrent, attributes: frozenset[str]) -> Torrent:
        """Nothing transfers in memory: rates, totals and peers are zero, swarms unknown."""
        status = self._status_of(torrent)
        size = sum(f.size for f in torrent.files)
        done = round(size * torrent.progress)
        single = len(torrent.files) == 1 and len(torrent.files[0].path) == 1
        values: dict[str, Any] = {
            "infohash_v2": None,
            "name": torrent.name,
            "state": status.state,
            "progress": torrent.progress,
            "size_total": size,
            "size_wanted": size,
            "size_done": done,
            "downloaded": 0,
            "uploaded": 0,
            "rate_down": 0,
            "rate_up": 0,
            "ratio": ratio_of(0, 0),
            "eta": None,
            "seeds_connected": 0,
            "peers_connected": 0,
            "seeds_swarm": None,
            "peers_swarm": None,
            "save_path": torrent.location,
            "content_path": torrent.content_path or os.path.join(torrent.location, torrent.name),
            "label": torrent.label,
            "limit_down": torrent.limits["down"],
            "limit_up": torrent.limits["up"],
            "tags": (),
            "added_at": torrent.added_at,
            "completed_at": torrent.completed_at,
            "error": None,
            "is_private": torrent.is_private,
            "peers": (),
        }
        if "files" in attributes:
            values["files"] = tuple(
                TorrentFileInfo(
                    path="/".join(f.path if single else f.path[1:]),
                    size=f.size,
                    progress=torrent.progress,
                    wanted=True,
                    priority=FilePriority.normal,
                )
                for f in torrent.files
            )
        if "trackers" in attributes:
            values["trackers"] = tuple(
                TrackerInfo(
                    url=url, tier=tier, status=TrackerStatus.not_contacted, seeds=None, peers=None, message=None
                )
                for tier, urls in enumerate(torrent.trackers)
                for url in urls
            )
        return Torrent(infohash=torrent.infohash, **{name: values[name] for name in attributes})

    async def add(self, sources: Sequence[TorrentSource], options: AddOptions) -> list[AddOutcome]:
        self._require_connection()
        outcomes: list[AddOutcome] = []
        for source in sources:
            if source.infohash in self.store:
                outcomes.append(AddOutcome(source=source, status=AddStatus.already_added, infohash=source.infohash))
                continue
            location = options.location or self.default_location
            if options.content_path is not None:
                location = os.path.dirname(options.content_path)
            torrent = _Torrent(source, location, options.stopped)
            torrent.content_path = options.content_path
            if torrent.files and not options.verify:
                torrent.set_progress(1.0)
            elif torrent.files and self._present_fraction(torrent) > 0:
                torrent.verify_started = time.monotonic()
            self.store[source.infohash] = torrent
            outcomes.append(AddOutcome(source=source, status=AddStatus.added, infohash=source.infohash))
        return outcomes

    def _act(self, infohashes: Sequence[str], action: Callable[[_Torrent], str | None]) -> Mapping[str, str]:
        """Apply `action` to each known torrent; failures by infohash (its message, or unknown)."""
        self._require_connection()
        failures = {}
        for infohash in infohashes:
            torrent = self.store.get(infohash)
            failure = "No such torrent" if torrent is None else action(torrent)
            if failure is not None:
                failures[infohash] = failure
        return failures

    def _set_stopped(self, infohashes: Sequence[str], stopped: bool) -> Mapping[str, str]:
        def set_stopped(torrent: _Torrent) -> None:
            torrent.stopped = stopped

        return self._act(infohashes, set_stopped)

    async def start(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        return self._set_stopped(infohashes, False)

    async def stop(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        return self._set_stopped(infohashes, True)

    async def verify(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        def start_verifying(torrent: _Torrent) -> str | None:
            if not torrent.files:
                return "Torrent has no metadata yet"
            torrent.verify_started = time.monotonic()
            return None

        return self._act(infohashes, start_verifying)

    async def remove(self, infohashes: Sequence[str], delete_data: bool) -> Mapping[str, str]:
        def remove(torrent: _Torrent) -> str | None:
            del self.store[torrent.infohash]
            if delete_data:
                self._delete_files(torrent)
            return None

        return self._act(infohashes, remove)

    def _delete_files(self, torrent: _Torrent) -> None:
        """The torrent's own files, then the folders they leave empty up to its content folder."""
        paths = self._file_paths(torrent)
        top = torrent.content_path or os.path.join(torrent.location, torrent.name)
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)  # a symlink goes as a link
        folders = {os.path.dirname(path) for path in paths}
        for folder in sorted(folders, key=len, reverse=True):
            while folder == top or folder.startswith(top + os.sep):
                with contextlib.suppress(OSError):
                    os.rmdir(folder)
                folder = os.path.dirname(folder)

    async def move(self, infohashes: Sequence[str], location: str) -> Mapping[str, str]:
        def move(torrent: _Torrent) -> str | None:
            if torrent.content_path is not None:
                source = torrent.content_path
                target = os.path.join(location, os.path.basename(source))
            else:
                source = os.path.join(torrent.location, torrent.name)
                target = os.path.join(location, torrent.name)
            try:
                os.makedirs(location, exist_ok=True)
                if os.path.lexists(source):
                    shutil.move(source, target)
            except OSError as exc:
                return f"Can't move the data: {exc.strerror or exc}"
            torrent.location = location
            if torrent.content_path is not None:
                torrent.content_path = target
            return None

        return self._act(infohashes, move)

    async def reannounce(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        return self._act(infohashes, lambda torrent: None)

    async def set_label(self, infohashes: Sequence[str], label: str | None) -> Mapping[str, str]:
        def set_label(torrent: _Torrent) -> None:
            torrent.label = label

        return self._act(infohashes, set_label)

    async def set_limits(self, infohashes: Sequence[str], limits: RateLimits) -> Mapping[str, str]:
        def set_limits(torrent: _Torrent) -> None:
            _apply(limits, torrent.limits)

        return self._act(infohashes, set_limits)

    async def session(self) -> Session:
        self._require_connection()
        try:
            free: int | None = shutil.disk_usage(self.default_location).free
        except OSError:
            free = None
        return Session(
            client=self._url.client,
            version="memory",
            rate_down=0,
            rate_up=0,
            downloaded=0,
            uploaded=0,
            limit_down=self.limits["down"],
            limit_up=self.limits["up"],
            save_path=self.default_location,
            free_space=free,
        )

    async def set_session_limits(self, limits: RateLimits) -> None:
        self._require_connection()
        _apply(limits, self.limits)

    async def torrent_file(self, infohash: str) -> bytes:
        self._require_connection()
        torrent = self.store.get(infohash)
        if torrent is None:
            raise errors.NoSuchTorrentError(infohash)
        if torrent.metainfo is None:
            raise errors.ResponseError(f"{torrent.name}: The torrent has no metadata yet")
        return torrent.metainfo

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Raw calls: ``version``, ``torrents`` (a list of dicts) and ``remove``
        (infohashes as arguments; returns those it removed)."""
        self._require_connection()
        if method == "version":
            return "memory"
        if method == "remove":
            return [h for h in args if self.store.pop(h, None) is not None]
        if method == "torrents":
            rows = []
            for torrent in self.store.values():
                status = self._status_of(torrent)
                rows.append(
                    {
                        "infohash": torrent.infohash,
                        "name": torrent.name,
                        "stopped": torrent.stopped,
                        "verifying": status.is_verifying,
                    }
                )
            return rows
        raise errors.ResponseError(f"{self._url}: Unknown method: {method}")
