"""Connections to a client through a SOCKS5, SOCKS4 or HTTP CONNECT proxy.

The HTTP adapters get an aiohttp connector from aiohttp-socks
(:func:`http_connector`); Deluge's TLS socket and rTorrent's SCGI open their
streams with python-socks (:func:`open_connection`). Host names are resolved
by the proxy (SOCKS4a for ``socks4://``), as an SSH tunnel or a VPN gateway
expects. Both libraries come with the ``proxy`` extra and are imported only
when a proxy is used.

Every failure of the proxy itself becomes an error naming the proxy (its
password masked), not the client, in :func:`proxy_error`: a proxy that
can't be reached or times out, that refuses our credentials, or that can't or
won't connect to the client.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING, Any

from ..domain import errors

if TYPE_CHECKING:
    import aiohttp

    from ..domain.url import ClientURL

#: What the ``proxy`` extra installs, for the error saying it is missing.
_EXTRA = "pip install 'aiobtclientapi[proxy]'"

#: SOCKS5 reply codes (RFC 1928) after a CONNECT, by what they mean for us.
_SOCKS5_REPLIES = {
    1: "general failure",
    2: "not allowed by the proxy's rules",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
}

#: SOCKS4 reply codes.
_SOCKS4_REPLIES = {
    91: "rejected or failed",
    92: "rejected: no identd on our side",
    93: "rejected: the user ID does not match identd's",
}


def require() -> None:
    """Raise ValueError now if the proxy libraries aren't installed."""
    try:
        import aiohttp_socks  # noqa: F401
        import python_socks  # noqa: F401
    except ImportError:
        raise errors.ValueError(f"A proxy needs aiohttp-socks and python-socks: {_EXTRA}") from None


def _proxy_type(proxy: ClientURL) -> Any:
    from python_socks import ProxyType

    return {"socks5": ProxyType.SOCKS5, "socks4": ProxyType.SOCKS4, "http": ProxyType.HTTP}[proxy.scheme]


def _port(proxy: ClientURL) -> int:
    if proxy.port is None:  # parse_proxy_url requires one
        raise errors.ValueError(f"Invalid proxy URL: port missing: {proxy}")
    return proxy.port


def http_connector(proxy: ClientURL, tls: ssl.SSLContext | aiohttp.Fingerprint | None) -> aiohttp.TCPConnector:
    """An aiohttp connector whose every connection goes through `proxy`."""
    from aiohttp_socks import ProxyConnector

    return ProxyConnector(
        proxy_type=_proxy_type(proxy),
        host=proxy.host,
        port=_port(proxy),
        username=proxy.username,
        password=proxy.password,
        rdns=True,
        ssl=tls if tls is not None else True,
    )


async def open_connection(
    proxy: ClientURL,
    host: str,
    port: int,
    *,
    timeout: float,
    limit: int,
    tls: ssl.SSLContext | None = None,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A stream to `host`:`port` through `proxy`, with TLS on top if `tls` is given.

    Within `timeout` seconds, all of it. The proxy's failures (and a timeout
    before it connected) raise our errors naming the proxy; those of the TLS
    handshake with the client (TimeoutError, OSError, ssl.SSLError) are the
    caller's to translate.
    """
    from python_socks import ProxyError
    from python_socks.async_.asyncio import Proxy

    tunnel = Proxy(
        _proxy_type(proxy),
        proxy.host,
        _port(proxy),
        username=proxy.username,
        password=proxy.password,
        rdns=True,
    )
    deadline = asyncio.get_running_loop().time() + timeout
    try:
        async with asyncio.timeout_at(deadline):
            sock = await tunnel.connect(host, port, timeout=timeout)
    except (ProxyError, TimeoutError, OSError) as exc:
        raise proxy_error(exc, proxy, f"{host}:{port}") from exc
    try:
        async with asyncio.timeout_at(deadline):
            return await asyncio.open_connection(sock=sock, ssl=tls, server_hostname=host if tls else None, limit=limit)
    except BaseException:
        sock.close()
        raise


class Connecting:
    """Whether a request is opening a connection through the proxy (aiohttp's trace context)."""

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = False


def connection_tracing() -> aiohttp.TraceConfig:
    """Marks a request's :class:`Connecting` (given as ``trace_request_ctx``) while
    aiohttp opens a connection: a timeout then is the proxy's or behind it."""
    import aiohttp

    async def started(session: Any, context: Any, params: Any) -> None:
        if isinstance(context.trace_request_ctx, Connecting):
            context.trace_request_ctx.now = True

    async def ended(session: Any, context: Any, params: Any) -> None:
        if isinstance(context.trace_request_ctx, Connecting):
            context.trace_request_ctx.now = False

    tracing = aiohttp.TraceConfig()
    tracing.on_connection_create_start.append(started)
    tracing.on_connection_create_end.append(ended)
    return tracing


def error_types(proxy: ClientURL | None) -> tuple[type[BaseException], ...]:
    """The exceptions aiohttp-socks raises for a failure of `proxy` (none without a proxy)."""
    if proxy is None:
        return ()
    import aiohttp_socks

    return (aiohttp_socks.ProxyError, aiohttp_socks.ProxyConnectionError, aiohttp_socks.ProxyTimeoutError)


def proxy_error(exc: BaseException, proxy: ClientURL, target: str) -> errors.Error:
    """Our error for a failure of `proxy` (python-socks' or aiohttp-socks') while reaching `target`."""
    import aiohttp_socks
    import python_socks

    if isinstance(exc, (python_socks.ProxyTimeoutError, aiohttp_socks.ProxyTimeoutError, TimeoutError)):
        return errors.TimeoutError(f"Proxy {proxy}: timed out connecting to {target}")
    if isinstance(exc, (python_socks.ProxyConnectionError, aiohttp_socks.ProxyConnectionError, OSError)):
        # Both libraries say "Could not connect to proxy HOST:PORT [REASON]".
        text = str(exc)
        reason = text.rpartition("[")[2].rstrip("]") if "[" in text else getattr(exc, "strerror", None)
        return errors.ConnectionError(f"Proxy {proxy}: can't connect to the proxy: {reason or 'connection failed'}")
    code = getattr(exc, "error_code", None)
    message = str(exc)
    if code in (401, 407) or "authentication" in message.lower():  # tinyproxy answers 401
        given = "no credentials" if proxy.username is None and proxy.password is None else "wrong username or password"
        return errors.AuthenticationError(f"Proxy {proxy}: authentication failed ({given})")
    if proxy.scheme == "socks5" and code in _SOCKS5_REPLIES:
        return errors.ConnectionError(f"Proxy {proxy}: can't reach {target}: {_SOCKS5_REPLIES[code]}")
    if proxy.scheme == "socks4" and code in _SOCKS4_REPLIES:
        return errors.ConnectionError(f"Proxy {proxy}: can't reach {target}: {_SOCKS4_REPLIES[code]}")
    if proxy.scheme == "http" and code is not None:
        return errors.ConnectionError(f"Proxy {proxy}: refused to connect to {target} (HTTP {code})")
    return errors.ConnectionError(f"Proxy {proxy}: invalid reply ({message[:100]})")
