"""Dependency-injection container: picks the adapter for a client name.

``container.port`` is a Selector over the adapters, keyed by the client
name; the API classes get their port from it. To run code against the
in-memory client instead of a daemon, override the provider::

    from dependency_injector import providers
    from aiobtclientapi.adapters.memory import MemoryAdapter
    from aiobtclientapi.container import container

    with container.port.override(providers.Singleton(MemoryAdapter)):
        api = aiobtclientapi.api("transmission", "localhost")  # in memory

Adapters are imported only when one is built.
"""

from __future__ import annotations

from typing import Any

from dependency_injector import containers, providers

from .application.ports import ClientPort, ConnectionOptions
from .domain.url import ClientURL


def _transmission(url: ClientURL, options: ConnectionOptions) -> Any:
    from .adapters.transmission import TransmissionAdapter

    return TransmissionAdapter(url, options)


def _qbittorrent(url: ClientURL, options: ConnectionOptions) -> Any:
    from .adapters.qbittorrent import QbittorrentAdapter

    return QbittorrentAdapter(url, options)


def _deluge(url: ClientURL, options: ConnectionOptions) -> Any:
    from .adapters.deluge import DelugeAdapter

    return DelugeAdapter(url, options)


def _rtorrent(url: ClientURL, options: ConnectionOptions) -> Any:
    from .adapters.rtorrent import RtorrentAdapter

    return RtorrentAdapter(url, options)


def _fetcher(options: ConnectionOptions) -> Any:
    from .adapters._http import TorrentDownloader

    return TorrentDownloader(options)


class Container(containers.DeclarativeContainer):
    """Builds ports (adapters) and the .torrent downloader."""

    config = providers.Configuration()
    port = providers.Selector(
        config.client,
        deluge=providers.Factory(_deluge),
        qbittorrent=providers.Factory(_qbittorrent),
        rtorrent=providers.Factory(_rtorrent),
        transmission=providers.Factory(_transmission),
    )
    fetch = providers.Factory(_fetcher)


container = Container()


def make_port(client: str, url: ClientURL, options: ConnectionOptions) -> ClientPort:
    """The adapter for `client`, as the container (or its override) builds it."""
    container.config.client.from_value(client)
    port: ClientPort = container.port(url=url, options=options)
    return port
