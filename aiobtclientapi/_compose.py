"""What a new API object is made of: its adapter and its .torrent downloader.

The container (``container.py``) is the composition root and the one place
to override them. Only a program that imported it can have overridden a
provider, so until the container module is imported :func:`compose` builds the
container's own defaults directly, with the same two functions its providers
call, and dependency-injector (a tenth of a btclient call's start) is never
imported.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._registry import ClientSpec
    from .application._sources import TorrentFetcher
    from .application.ports import ClientPort, ConnectionOptions
    from .domain.url import ClientURL


def build_adapter(spec: ClientSpec, url: ClientURL, options: ConnectionOptions) -> ClientPort:
    """The registry's adapter for `spec`, speaking to `url`."""
    return spec.adapter_class()(url, options)


def build_fetcher(options: ConnectionOptions) -> TorrentFetcher:
    """The downloader of .torrent files from http(s) URLs."""
    from .adapters._http import TorrentDownloader

    return TorrentDownloader(options)


def compose(client: str, url: ClientURL, options: ConnectionOptions) -> tuple[ClientPort, TorrentFetcher]:
    """A new adapter for `client` and a downloader: the container's, or its defaults while it isn't imported."""
    container = sys.modules.get(f"{__package__}.container")
    if container is not None:
        parts: tuple[ClientPort, TorrentFetcher] = container.compose(client, url, options)
        return parts
    from ._registry import client_spec

    return build_adapter(client_spec(client), url, options), build_fetcher(options)
