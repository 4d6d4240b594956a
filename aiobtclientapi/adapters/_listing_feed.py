"""The change feed of a client that can't say what changed: a full listing per poll."""

from __future__ import annotations

import asyncio
from typing import Protocol

from ..application.ports import TorrentChanges
from ..domain.torrent import Torrent


class _Lister(Protocol):
    async def torrents(self, infohashes: None, attributes: frozenset[str]) -> list[Torrent]: ...


class ListingFeed:
    """Lists every torrent with the asked attributes on each poll; the
    services find what changed."""

    def __init__(self, lister: _Lister, attributes: frozenset[str]) -> None:
        self._lister = lister
        self._attributes = attributes
        self.news: asyncio.Event | None = None

    async def poll(self) -> TorrentChanges:
        torrents = await self._lister.torrents(None, self._attributes)
        return TorrentChanges(changed=torrents, present=frozenset(t.infohash for t in torrents))

    async def close(self) -> None:
        pass
