"""The client registry: every fact about a client that is not its wire protocol.

Name, label, URL format and defaults, and which adapter speaks to it. URL
parsing, :func:`aiobtclientapi.client_names`, the container and ``btclient
--help`` all read this table; a fifth client is its adapter package plus one
entry here. Adapters are named, not imported, so reading the table is cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

import msgspec

from .application.ports import ClientPort, ConnectionOptions
from .domain import errors
from .domain.url import ClientURL, SchemeRules, UrlRules, parse_client_url


class ClientSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One client: ``name`` as accepted by :func:`aiobtclientapi.api`, a
    human-readable ``label``, its URL ``rules`` and its ``adapter`` as
    ``"module:Class"`` relative to this package."""

    name: str
    label: str
    rules: UrlRules
    adapter: str

    def adapter_class(self) -> Callable[[ClientURL, ConnectionOptions], ClientPort]:
        module, _, name = self.adapter.partition(":")
        adapter: Callable[[ClientURL, ConnectionOptions], ClientPort] = getattr(
            importlib.import_module(module, __package__), name
        )
        return adapter


_HTTP_8080 = SchemeRules(port=8080)
_TRANSMISSION = SchemeRules(port=9091, path="/transmission/rpc")

CLIENTS: dict[str, ClientSpec] = {
    spec.name: spec
    for spec in (
        ClientSpec(
            name="deluge",
            label="Deluge",
            rules=UrlRules(
                client="deluge",
                formats=("[USERNAME:PASSWORD@]HOST[:PORT]",),
                default_scheme="deluge",
                schemes={"deluge": SchemeRules(port=58846)},
                scheme_prefix=False,
            ),
            adapter=".adapters.deluge:DelugeAdapter",
        ),
        ClientSpec(
            name="qbittorrent",
            label="qBittorrent",
            rules=UrlRules(
                client="qbittorrent",
                formats=("[http[s]://][USERNAME:PASSWORD@]HOST[:PORT]",),
                default_scheme="http",
                schemes={"http": _HTTP_8080, "https": _HTTP_8080},
            ),
            adapter=".adapters.qbittorrent:QbittorrentAdapter",
        ),
        ClientSpec(
            name="rtorrent",
            label="rTorrent",
            rules=UrlRules(
                client="rtorrent",
                formats=(
                    "[scgi://]HOST[:PORT]",
                    "[file://]SOCKET_PATH",
                    "http[s]://[USERNAME:PASSWORD@]HOST[:PORT][/PATH]",
                ),
                default_scheme="scgi",
                schemes={
                    "scgi": SchemeRules(port=5000, auth=False),
                    "file": SchemeRules(socket=True),
                    "http": SchemeRules(port=80, path="/RPC2"),
                    "https": SchemeRules(port=443, path="/RPC2"),
                },
            ),
            adapter=".adapters.rtorrent:RtorrentAdapter",
        ),
        ClientSpec(
            name="transmission",
            label="Transmission",
            rules=UrlRules(
                client="transmission",
                formats=("[http[s]://][USERNAME:PASSWORD@]HOST[:PORT][/PATH]",),
                default_scheme="http",
                schemes={"http": _TRANSMISSION, "https": _TRANSMISSION},
            ),
            adapter=".adapters.transmission:TransmissionAdapter",
        ),
    )
}

#: The URL formats by client name, as documented.
URL_FORMATS: dict[str, tuple[str, ...]] = {name: spec.rules.formats for name, spec in CLIENTS.items()}


def client_names() -> tuple[str, ...]:
    """Valid client names, sorted."""
    return tuple(sorted(CLIENTS))


def client_spec(name: str) -> ClientSpec:
    """The registry entry for client `name`. Raises :class:`~aiobtclientapi.ValueError`."""
    try:
        return CLIENTS[name]
    except (KeyError, TypeError):
        raise errors.ValueError(f"Unknown client: {name!r} (valid: {', '.join(client_names())})") from None


def parse_url(client: str, url: str, username: str | None = None, password: str | None = None) -> ClientURL:
    """Parse `url` in `client`'s format; `username`/`password` override the URL's."""
    return parse_client_url(client_spec(client).rules, url, username, password)
