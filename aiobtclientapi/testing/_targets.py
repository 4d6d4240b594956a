"""What the contract suite needs of each adapter under test.

A :class:`Target` is one adapter talking to one client instance: the memory
adapter, or a real daemon (native Debian package or container). Each client
has a module in this package (``_<client>.py``) with a ``targets()`` context manager
yielding its Targets; ``tests/contract/conftest.py`` parametrizes the suite
over all of them, so test ids name the client and version.

``raw_states`` reads the client's real state through raw RPC calls
(``api.call``), a different code path from the adapter's own mapping, so
tests check what the daemon says and not only what our Response claims.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from aiobtclientapi import APIBase

if TYPE_CHECKING:
    from aiobtclientapi.testing._daemon import Daemon

#: What a torrent is doing according to the client's own raw fields.
RawState = Literal["stopped", "active", "verifying"]


class Target:
    #: Test id, e.g. "transmission-3.00" or "memory".
    id: str = ""
    #: Client name as given to aiobtclientapi.api().
    client: str = ""
    #: Where content files must be put so the client finds them.
    download_dir: Path
    #: The URL with credentials as a user would type it (for btclient).
    url: str = ""
    #: btclient options the target needs, e.g. ("--tls-ca-file", PATH).
    cli_options: tuple[str, ...] = ()
    #: The daemon behind the adapter; None for the in-process memory client.
    daemon: Daemon | None = None

    def make_api(self, **kwargs: Any) -> APIBase:
        """A new API object with valid credentials."""
        raise NotImplementedError

    def make_api_wrong_password(self) -> APIBase:
        raise NotImplementedError

    def make_api_closed_port(self) -> APIBase:
        """An API object pointing at a port (or socket) nothing listens on."""
        raise NotImplementedError

    async def raw_states(self, api: APIBase, infohashes: list[str]) -> dict[str, RawState]:
        """Real state of each torrent the client knows (absent: unknown)."""
        raise NotImplementedError

    async def raw_infohash_list(self, api: APIBase) -> list[str]:
        """Every torrent's infohash as the client lists it, read with a raw call."""
        raise NotImplementedError

    async def raw_remove(self, api: APIBase, infohashes: list[str]) -> None:
        """Remove these torrents (keeping their data) with a raw call."""
        raise NotImplementedError

    async def raw_infohashes(self, api: APIBase) -> set[str]:
        """Every infohash the client knows, read with a raw call."""
        return set(await self.raw_infohash_list(api))

    #: A raw call and a function checking its reply, for the call() test.
    raw_call: tuple[str, tuple[Any, ...]] = ("", ())

    def check_raw_call_reply(self, reply: Any) -> None:
        raise NotImplementedError
