"""Transmission's change feed: torrent-get ids="recently-active" between full listings.

recently-active lists the torrents active or changed in the last 60 s and the
*ids* (not hashes) of those removed in the last 60 s: a time window, not a
cursor. So the feed keeps an id → hash map from a full listing and lists
everything again whenever the window or the ids may have been missed:

- on the first poll, after the adapter reconnected or the daemon's session id
  changed (ids are void after a daemon restart; the id also rotates hourly,
  costing one extra listing), and when the last poll is older than
  ``_WINDOW`` seconds;
- every ``_REFRESH`` seconds, for what no version reports as a change of an
  idle torrent (the trackers' swarm counts and messages);
- when a reply maps a known id to another hash.

Every such listing but the first is ``resumed``: the restarted daemon may not
have loaded all its torrents yet.

What older daemons don't report in recently-active [V]: label changes before
4.1.0 (fixed by transmission#8029), download-dir changes on 3.00 (only its
editDate moves). For those attributes each quiet poll adds one torrent-get of
every torrent's id and those fields in the compact "table" format, and fetches
the torrents whose values moved.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from ...application.ports import TorrentChanges
from ...domain import errors
from ._wire import RECENTLY_ACTIVE, ListRow, listing_fields, to_torrents

if TYPE_CHECKING:
    from .client import TransmissionAdapter

#: recently-active's window is 60 s; a poll later than this lists everything.
_WINDOW = 45.0
#: Seconds between full listings, for changes recently-active never reports.
_REFRESH = 300.0
#: rpc-version of 4.0, the first to report a download-dir change as activity.
_RPC_DIR_CHANGES = 17


class _IdsVoid(Exception):
    """The reply's ids don't match the map: the daemon restarted unnoticed."""


class TransmissionFeed:
    """A ChangeFeed over one TransmissionAdapter."""

    def __init__(self, adapter: TransmissionAdapter, attributes: frozenset[str]) -> None:
        self._adapter = adapter
        self._attributes = attributes
        self._fields = listing_fields(attributes, "id")
        self.news: asyncio.Event | None = None
        #: id → infohash of every torrent; None until a full listing.
        self._ids: dict[int, str] | None = None
        #: What the map belongs to: (adapter connections, daemon session id).
        self._epoch: tuple[int, str | None] = (0, None)
        self._polled_at = 0.0
        self._listed_at = 0.0
        #: Sweep fields and each id's last values of them (older daemons only).
        self._sweep_fields: list[str] = []
        self._swept: dict[int, list[Any]] = {}

    def _current_epoch(self) -> tuple[int, str | None]:
        return self._adapter.connections, self._adapter.session_id

    def _sweep_fields_for(self) -> list[str]:
        fields = []
        if not self._adapter.speaks_jsonrpc and self._attributes & {"label", "tags"}:
            fields.append("labels")
        if self._adapter.rpc_version < _RPC_DIR_CHANGES and self._attributes & {"save_path", "content_path"}:
            fields.append("downloadDir")
        return fields

    async def poll(self) -> TorrentChanges:
        resumed = False  # a listing forced by ids that stopped matching follows a break
        for _ in range(3):
            await self._adapter.connect()
            epoch = self._current_epoch()
            now = time.monotonic()
            full = (
                self._ids is None
                or epoch != self._epoch
                or now - self._polled_at > _WINDOW
                or now - self._listed_at > _REFRESH
            )
            try:
                changes = await (self._full() if full else self._quiet())
            except _IdsVoid:
                self._ids, resumed = None, True
                continue
            if self._current_epoch() != epoch and not full:
                # Reconnected or restarted during the poll: the ids may be another session's.
                self._ids, resumed = None, True
                continue
            if full and self._listed_at > 0 and (resumed or self._current_epoch() != self._epoch):
                # Not the first listing, and on another connection or daemon session than the last poll.
                changes = msgspec.structs.replace(changes, resumed=True)
            self._epoch = self._current_epoch()
            self._polled_at = now
            if full:
                self._listed_at = now
            return changes
        raise errors.ConnectionError(f"{self._adapter.url}: The daemon kept restarting during a poll")

    async def _full(self) -> TorrentChanges:
        self._sweep_fields = self._sweep_fields_for()
        rows = (await self._adapter.listing(self._fields, None)).torrents
        self._ids = {row.id: row.hash_string.lower() for row in rows}
        self._swept = {row.id: self._sweep_values(row) for row in rows}
        changed = to_torrents(rows, self._attributes, self._adapter.limit_unit)
        return TorrentChanges(changed=changed, present=frozenset(self._ids.values()))

    def _sweep_values(self, row: ListRow) -> list[Any]:
        # As the table's generic decoding has them: labels a list.
        return [list(row.labels) if field == "labels" else row.download_dir for field in self._sweep_fields]

    async def _quiet(self) -> TorrentChanges:
        assert self._ids is not None
        stale: list[int] = []
        gone: set[int] = set()
        if self._sweep_fields:
            # First, so a torrent missing here was removed before recently-active was asked.
            table = await self._adapter.table(["id", *self._sweep_fields])
            swept = {row[0]: row[1:] for row in table if isinstance(row[0], int)}
            stale = [id_ for id_, values in swept.items() if self._swept.get(id_) != values]
            gone = self._ids.keys() - swept.keys()
            self._swept = swept
        reply = await self._adapter.listing(self._fields, RECENTLY_ACTIVE)
        rows = reply.torrents
        seen = {row.id for row in rows}
        missed = [id_ for id_ in stale if id_ not in seen]
        if missed:
            rows = [*rows, *(await self._adapter.listing(self._fields, missed)).torrents]
        removed = self._apply(rows, [*reply.removed, *gone])
        if self._sweep_fields:
            self._swept.update((row.id, self._sweep_values(row)) for row in rows)
        return TorrentChanges(changed=to_torrents(rows, self._attributes, self._adapter.limit_unit), removed=removed)

    def _apply(self, rows: Sequence[ListRow], removed_ids: Sequence[int]) -> list[str]:
        """Update the id map from a quiet poll's rows; the removed ones' infohashes."""
        assert self._ids is not None
        for row in rows:
            infohash = row.hash_string.lower()
            if self._ids.setdefault(row.id, infohash) != infohash:
                raise _IdsVoid
        removed = []
        for id_ in dict.fromkeys(removed_ids):
            if id_ in self._ids:
                removed.append(self._ids.pop(id_))
        return removed

    async def close(self) -> None:
        pass
