"""The four client API classes and the functions that pick one by name."""

from __future__ import annotations

import re
from typing import ClassVar

from .application.api import APIBase
from .application.ports import ConnectionOptions
from .application.services import PollPolicy
from .domain import errors
from .domain.url import parse_url


class _ClientAPI(APIBase):
    default_url: ClassVar[str] = "localhost"

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
        policy: PollPolicy | None = None,
    ) -> None:
        from .container import container, make_port  # lazy: dependency-injector

        if not isinstance(timeout, (int, float)) or timeout <= 0:
            raise errors.ValueError(f"Invalid timeout: {timeout!r}")
        if tls_fingerprint is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", tls_fingerprint.replace(":", "")):
            raise errors.ValueError(f"Invalid tls_fingerprint (SHA-256, 64 hex digits): {tls_fingerprint!r}")
        client_url = parse_url(self.name, url or self.default_url, username, password)
        options = ConnectionOptions(
            timeout=float(timeout),
            tls_verify=tls_verify,
            tls_ca_file=tls_ca_file,
            tls_fingerprint=tls_fingerprint,
        )
        port = make_port(self.name, client_url, options)
        fetcher = container.fetch(options=options)
        super().__init__(port, fetch=fetcher, policy=policy)


class DelugeAPI(_ClientAPI):
    """Deluge daemon: ``[USERNAME:PASSWORD@]HOST[:PORT]`` (port 58846)."""

    name = "deluge"
    label = "Deluge"


class QbittorrentAPI(_ClientAPI):
    """qBittorrent Web API: ``[http[s]://][USERNAME:PASSWORD@]HOST[:PORT]`` (port 8080)."""

    name = "qbittorrent"
    label = "qBittorrent"


class RtorrentAPI(_ClientAPI):
    """rTorrent XML-RPC: ``[scgi://]HOST[:PORT]``, ``[file://]SOCKET_PATH`` or
    ``http[s]://[USERNAME:PASSWORD@]HOST[:PORT][/PATH]``."""

    name = "rtorrent"
    label = "rTorrent"


class TransmissionAPI(_ClientAPI):
    """Transmission RPC: ``[http[s]://][USERNAME:PASSWORD@]HOST[:PORT][/PATH]`` (port 9091)."""

    name = "transmission"
    label = "Transmission"


_CLASSES: dict[str, type[_ClientAPI]] = {
    cls.name: cls for cls in (DelugeAPI, QbittorrentAPI, RtorrentAPI, TransmissionAPI)
}


def client_names() -> tuple[str, ...]:
    """Valid client names, sorted."""
    return tuple(sorted(_CLASSES))


def api_class(name: str) -> type[_ClientAPI]:
    """The API class for client `name`. Raises :class:`~aiobtclientapi.ValueError`."""
    try:
        return _CLASSES[name]
    except (KeyError, TypeError):
        raise errors.ValueError(f"Unknown client: {name!r} (valid: {', '.join(client_names())})") from None


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
    policy: PollPolicy | None = None,
) -> APIBase:
    """An API object for client `name` at `url`."""
    cls = api_class(name)
    return cls(
        url,
        username=username,
        password=password,
        timeout=timeout,
        tls_verify=tls_verify,
        tls_ca_file=tls_ca_file,
        tls_fingerprint=tls_fingerprint,
        policy=policy,
    )
