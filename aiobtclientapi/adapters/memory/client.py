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

import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ...application.ports import AddOptions, AddOutcome, AddStatus, ConnectionOptions
from ...domain import errors
from ...domain.source import TorrentFile, TorrentSource
from ...domain.status import ConnectionStatus
from ...domain.torrent import TorrentState, TorrentStatus
from ...domain.url import ClientURL
from .._base import AdapterBase


class _Torrent:
    __slots__ = ("files", "infohash", "location", "name", "progress", "stopped", "verify_started")

    def __init__(self, source: TorrentSource, location: str, stopped: bool) -> None:
        self.infohash = source.infohash
        self.name = source.name
        self.files: tuple[TorrentFile, ...] = source.files
        self.location = location
        self.stopped = stopped
        self.progress = 0.0
        self.verify_started: float | None = None


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
        self.torrents: dict[str, _Torrent] = {}

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
        for file in torrent.files:
            path = os.path.join(torrent.location, *file.path)
            try:
                if os.path.getsize(path) == file.size:
                    have += file.size
            except OSError:
                pass
        return have / total

    def _advance(self, torrent: _Torrent) -> float | None:
        """Finish a verification whose time is up; the verified fraction if still running."""
        if torrent.verify_started is None:
            return None
        elapsed = time.monotonic() - torrent.verify_started
        if elapsed >= self.verify_seconds:
            torrent.verify_started = None
            torrent.progress = self._present_fraction(torrent)
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
        return {h: self._status_of(self.torrents[h]) for h in infohashes if h in self.torrents}

    async def list_infohashes(self) -> list[str]:
        self._require_connection()
        return list(self.torrents)

    async def add(self, sources: Sequence[TorrentSource], options: AddOptions) -> list[AddOutcome]:
        self._require_connection()
        outcomes: list[AddOutcome] = []
        for source in sources:
            if source.infohash in self.torrents:
                outcomes.append(AddOutcome(source=source, status=AddStatus.already_added, infohash=source.infohash))
                continue
            torrent = _Torrent(source, options.location or self.default_location, options.stopped)
            if torrent.files and not options.verify:
                torrent.progress = 1.0
            elif torrent.files and self._present_fraction(torrent) > 0:
                torrent.verify_started = time.monotonic()
            self.torrents[source.infohash] = torrent
            outcomes.append(AddOutcome(source=source, status=AddStatus.added, infohash=source.infohash))
        return outcomes

    def _act(self, infohashes: Sequence[str], action: Callable[[_Torrent], str | None]) -> Mapping[str, str]:
        """Apply `action` to each known torrent; failures by infohash (its message, or unknown)."""
        self._require_connection()
        failures = {}
        for infohash in infohashes:
            torrent = self.torrents.get(infohash)
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

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Raw calls: ``version`` and ``torrents`` (a list of dicts)."""
        self._require_connection()
        if method == "version":
            return "memory"
        if method == "torrents":
            rows = []
            for torrent in self.torrents.values():
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
