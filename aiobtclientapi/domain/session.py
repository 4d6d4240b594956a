"""Session: what a client says about itself as a whole."""

from __future__ import annotations

import msgspec

from .torrent import TorrentState


class Session(msgspec.Struct, frozen=True, kw_only=True):
    """A client's session, the same fields in the same units for every client.

    ``client``: its name as :func:`aiobtclientapi.api` takes it; ``version``
    as the client reports it. Rates in bytes/s; ``downloaded``/``uploaded``:
    bytes transferred since the daemon started. ``limit_down``/``limit_up``:
    the global rate limits in bytes/s, ``None`` for unlimited. ``save_path``:
    where torrents go unless told; ``free_space``: bytes free there.
    ``torrents``: how many torrents are in each state (states with none are
    left out). ``None``: the client has no such value.
    """

    client: str
    version: str | None
    rate_down: int | None
    rate_up: int | None
    downloaded: int | None
    uploaded: int | None
    limit_down: int | None
    limit_up: int | None
    save_path: str | None
    free_space: int | None
    torrents: dict[TorrentState, int] = {}


class RateLimits(msgspec.Struct, frozen=True, kw_only=True):
    """Rate limits to set, in bytes/s: ``None`` for unlimited, ``UNSET`` to leave one as it is."""

    down: int | msgspec.UnsetType | None = msgspec.UNSET
    up: int | msgspec.UnsetType | None = msgspec.UNSET
