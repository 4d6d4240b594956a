"""The composition root: which adapter and downloader each API object gets.

``container.port`` is a Selector over the registry's clients, keyed by the
client name; each is a Factory, so every API object gets an adapter of its
own. To run code against the in-memory client instead of a daemon, override
the provider in a with-block::

    from dependency_injector import providers
    from aiobtclientapi.adapters.memory import MemoryAdapter
    from aiobtclientapi.container import container

    with container.port.override(providers.Factory(MemoryAdapter)):
        api = aiobtclientapi.api("transmission", "localhost")  # in memory

Adapters are imported only when one is built. An API object made while this
module isn't imported gets the same defaults without it (``_compose.py``):
nothing can have overridden a provider then.
"""

from __future__ import annotations

from dependency_injector import containers, providers

from ._compose import build_adapter, build_fetcher
from ._registry import CLIENTS
from .application._sources import TorrentFetcher
from .application.ports import ClientPort, ConnectionOptions
from .domain.url import ClientURL


class Container(containers.DeclarativeContainer):
    """Builds ports (adapters) and the .torrent downloader."""

    #: ``config.client``: the client name that selects the adapter.
    config = providers.Configuration()
    #: A Factory of the client's adapter per client name; override it to give API objects another adapter.
    port = providers.Selector(
        config.client,
        **{name: providers.Factory(build_adapter, spec) for name, spec in CLIENTS.items()},
    )
    #: The downloader of .torrent files given by http(s) URL.
    fetch = providers.Factory(build_fetcher)


#: The container every API object is composed by.
container = Container()


def compose(client: str, url: ClientURL, options: ConnectionOptions) -> tuple[ClientPort, TorrentFetcher]:
    """A new adapter for `client` and a downloader, as the container (or its overrides) builds them."""
    container.config.client.from_value(client)
    port: ClientPort = container.port(url=url, options=options)
    fetch: TorrentFetcher = container.fetch(options=options)
    return port, fetch
