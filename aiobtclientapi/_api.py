"""The four client API classes and the functions that pick one by name."""

from __future__ import annotations

import math
import re
from typing import ClassVar

from ._compose import compose
from ._registry import CLIENTS, client_names, client_spec, parse_url
from .application._poller import PollPolicy
from .application.api import APIBase
from .application.ports import ConnectionOptions
from .domain import errors
from .domain.url import parse_proxy_url

__all__ = ["DelugeAPI", "QbittorrentAPI", "RtorrentAPI", "TransmissionAPI", "api", "api_class", "client_names"]


class _ClientAPI(APIBase):
    default_url: ClassVar[str] = "localhost"

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        cls.label = CLIENTS[cls.name].label

    def __init__(
        self,
        url: str | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        tls_verify: bool = True,
        tls_ca_file: str | None = None,
        tls_fingerprint: str | None = None,
        proxy: str | None = None,
        policy: PollPolicy | None = None,
    ) -> None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < math.inf:
            raise errors.ValueError(f"Invalid timeout: {timeout!r}")
        if tls_fingerprint is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", tls_fingerprint.replace(":", "")):
            raise errors.ValueError(f"Invalid tls_fingerprint (SHA-256, 64 hex digits): {tls_fingerprint!r}")
        client_url = parse_url(self.name, url or self.default_url, username, password)
        proxy_url = None
        if proxy is not None:
            proxy_url = parse_proxy_url(proxy)
            if client_url.is_socket:
                raise errors.ValueError(f"A unix socket can't be reached through a proxy: {client_url}")
            from .adapters import _proxy

            _proxy.require()
        options = ConnectionOptions(
            timeout=float(timeout),
            tls_verify=tls_verify,
            tls_ca_file=tls_ca_file,
            tls_fingerprint=tls_fingerprint,
            proxy=proxy_url,
        )
        if tls_ca_file is not None:
            from .adapters._tls import client_context

            client_context(options)  # a missing file, or one without certificates: ValueError now
        port, fetch = compose(self.name, client_url, options)
        super().__init__(port, fetch=fetch, policy=policy)


class DelugeAPI(_ClientAPI):
    """Deluge daemon: ``[USERNAME:PASSWORD@]HOST[:PORT]`` (port 58846)."""

    name = "deluge"


class QbittorrentAPI(_ClientAPI):
    """qBittorrent Web API: ``[http[s]://][USERNAME:PASSWORD@]HOST[:PORT]`` (port 8080)."""

    name = "qbittorrent"


class RtorrentAPI(_ClientAPI):
    """rTorrent XML-RPC: ``[scgi://]HOST[:PORT]``, ``[file://]SOCKET_PATH`` or
    ``http[s]://[USERNAME:PASSWORD@]HOST[:PORT][/PATH]``."""

    name = "rtorrent"


class TransmissionAPI(_ClientAPI):
    """Transmission RPC: ``[http[s]://][USERNAME:PASSWORD@]HOST[:PORT][/PATH]`` (port 9091)."""

    name = "transmission"


_CLASSES: dict[str, type[_ClientAPI]] = {
    cls.name: cls for cls in (DelugeAPI, QbittorrentAPI, RtorrentAPI, TransmissionAPI)
}


def api_class(name: str) -> type[_ClientAPI]:
    """The API class for client `name`. Raises :class:`~aiobtclientapi.ValueError`."""
    return _CLASSES[client_spec(name).name]


def api(
    name: str,
    url: str | None = None,
    *,
    username: str | None = None,
    password: str | None = None,
    timeout: float = 10.0,
    tls_verify: bool = True,
    tls_ca_file: str | None = None,
    tls_fingerprint: str | None = None,
    proxy: str | None = None,
    policy: PollPolicy | None = None,
) -> APIBase:
    """An API object for client `name` at `url`.

    `proxy`: ``socks5://[USERNAME:PASSWORD@]HOST:PORT``, ``socks4://[USERNAME@]HOST:PORT``
    or ``http://[USERNAME:PASSWORD@]HOST:PORT`` (HTTP CONNECT): every connection
    to the client goes through it (needs the ``proxy`` extra).
    """
    cls = api_class(name)
    return cls(
        url,
        username=username,
        password=password,
        timeout=timeout,
        tls_verify=tls_verify,
        tls_ca_file=tls_ca_file,
        tls_fingerprint=tls_fingerprint,
        proxy=proxy,
        policy=policy,
    )
