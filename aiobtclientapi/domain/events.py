"""What watch() reports: a torrent added, removed, or changed."""

from __future__ import annotations

from typing import Any

import msgspec

from .torrent import Torrent


class TorrentAdded(msgspec.Struct, frozen=True, kw_only=True, tag="added"):
    """A torrent the watch had not seen, with every watched attribute."""

    torrent: Torrent

    @property
    def infohash(self) -> str:
        return self.torrent.infohash


class TorrentRemoved(msgspec.Struct, frozen=True, kw_only=True, tag="removed"):
    """A torrent that is gone from the client."""

    infohash: str


class TorrentChanged(msgspec.Struct, frozen=True, kw_only=True, tag="changed"):
    """Watched attributes of a torrent that changed: each name with its new value."""

    infohash: str
    changes: dict[str, Any]


TorrentEvent = TorrentAdded | TorrentRemoved | TorrentChanged


def changes_between(old: Torrent, new: Torrent) -> dict[str, Any]:
    """The attributes set in `new` whose value differs from `old`'s."""
    changes: dict[str, Any] = {}
    for name in new.__struct_fields__:
        value = getattr(new, name)
        if value is not msgspec.UNSET and value != getattr(old, name):
            changes[name] = value
    return changes
