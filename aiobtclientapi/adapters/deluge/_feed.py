"""Deluge's change feed: diff polls of ``core.get_torrents_status`` woken by events.

``core.get_torrents_status({}, keys, True)`` answers, per connection
(session), only the keys that changed since that session's previous diff
call, and lists every torrent (unchanged ones as empty dicts): the reply
tells which torrents exist. A new session's first diff call is a full listing.
The daemon keeps one baseline per torrent and session, whichever keys were
asked: feeds sharing an adapter take turns, and a feed that finds another's
baseline fetches in full once.

Events (``daemon.set_event_interest``, pushed as type-3 frames) only set
:attr:`DelugeChangeFeed.news`: what changed is read by the next poll.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...application.ports import TorrentChanges
from ...domain.torrent import Torrent
from ._wire import decode_listing_row, listing_keys, missing_keys, required_keys, torrent_maker

if TYPE_CHECKING:
    from .client import DelugeAdapter

#: Events that say a torrent came, went or changed in a way a poll shows.
#: Deluge has no progress or rate events: the interval's polls find those.
EVENTS = (
    "TorrentAddedEvent",
    "TorrentRemovedEvent",
    "TorrentStateChangedEvent",
    "TorrentResumedEvent",
    "TorrentFinishedEvent",
    "TorrentFolderRenamedEvent",
    "SessionPausedEvent",
    "SessionResumedEvent",
)


class DelugeChangeFeed:
    """The rows of every torrent, kept up to date by diff polls."""

    def __init__(self, adapter: DelugeAdapter, attributes: frozenset[str]) -> None:
        self._adapter = adapter
        self._attributes = attributes
        self._keys = listing_keys(attributes)
        self._required = required_keys(self._keys)
        self._to_torrent = torrent_maker(attributes)
        self._rows: dict[str, dict[str, Any]] = {}
        self._unsubscribe: Callable[[], None] | None = None
        #: adapter.connections at our last poll: another means a new session.
        self._session: int | None = None
        self.news: asyncio.Event | None = asyncio.Event()

    def _on_event(self, *args: Any) -> None:
        if self.news is not None:
            self.news.set()

    async def poll(self) -> TorrentChanges:
        adapter = self._adapter
        if self._unsubscribe is None:
            # Connects if need be; the transport registers again on every reconnect.
            self._unsubscribe = await adapter.subscribe_many(EVENTS, self._on_event)
        if self.news is not None:
            self.news.clear()  # what woke us is in the reply below
        where = str(adapter.url)
        async with adapter.diff_lock:
            baseline = adapter.diff_baseline
            reply = await adapter.status_rows(None, self._keys, diff=True)
            session = adapter.connections
            adapter.diff_baseline = (self, session)
        if baseline is not None and baseline[0] is not self and baseline[1] == session:
            # Diffed against another feed's last poll: what changed since ours
            # and not since theirs is missing. Our baseline is set now.
            reply = await adapter.status_rows(None, self._keys)
        # The first poll on a connection reports every torrent (the port's rule).
        everything = session != self._session
        old_rows, rows = self._rows, {}
        changed_ids = []
        for infohash, diff in reply.items():
            old = old_rows.get(infohash)
            row = {**old, **diff} if old is not None else diff
            rows[infohash] = row
            if everything or row != old:
                changed_ids.append(infohash)
        # A torrent new to us must come in full: it does unless the session
        # changed under the call (then the diff is against a baseline we never saw).
        incomplete = [infohash for infohash in changed_ids if missing_keys(rows[infohash], self._required)]
        if incomplete:
            for infohash, full in (await adapter.status_rows(incomplete, self._keys)).items():
                if full and infohash in rows:
                    rows[infohash] = {**rows[infohash], **full}
            still = [infohash for infohash in incomplete if missing_keys(rows[infohash], self._required)]
            for infohash in still:  # removed meanwhile
                del rows[infohash]
            changed_ids = [infohash for infohash in changed_ids if infohash in rows]
        previous, self._session = self._session, session
        self._rows = rows
        to_torrent = self._to_torrent
        changed: list[Torrent] = [
            to_torrent(infohash, decode_listing_row(rows[infohash], where)) for infohash in changed_ids
        ]
        # Every reply lists every torrent: removals are what `present` lacks.
        # A new connection after the feed's first poll follows a break.
        return TorrentChanges(changed=changed, present=frozenset(rows), resumed=everything and previous is not None)

    async def close(self) -> None:
        # The daemon can't forget an interest: its events are dropped on arrival.
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()
        if self._adapter.diff_baseline is not None and self._adapter.diff_baseline[0] is self:
            self._adapter.diff_baseline = None
