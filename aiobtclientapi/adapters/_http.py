"""The one HTTP layer of the HTTP-speaking adapters (Transmission, qBittorrent, rTorrent over HTTP).

:class:`HttpClient` owns the aiohttp session of one adapter, reads replies
under a size cap, translates every aiohttp, ssl and socket failure into an
error from our hierarchy and maps HTTP statuses to errors in one place. It
never sends a request twice: resending is the adapter base's rule (see
``_base``). aiohttp is imported here only, and only when a request is made.
"""

from __future__ import annotations

import collections
import ssl
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._log import get_logger
from ..application.ports import ConnectionOptions
from ..domain import errors
from ..domain.url import ClientURL, mask_password
from . import _proxy, _tls

if TYPE_CHECKING:
    import aiohttp

#: Replies larger than this are refused: a broken or hostile server can't make us
#: buffer without bound.
MAX_RESPONSE_SIZE = 64 * 1024 * 1024


class HttpReply:
    """Status, headers and body of one HTTP reply.

    The body is the buffer it was read into, not a copy (replies may be tens
    of MB): decoders take it as it is; ``bytes(reply.body)`` where bytes leave
    the library.
    """

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytearray) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


def basic_auth_headers(url: ClientURL) -> dict[str, str]:
    """An Authorization header for `url`'s credentials, or nothing without them."""
    if url.username is None and url.password is None:
        return {}
    import base64

    token = base64.b64encode(f"{url.username or ''}:{url.password or ''}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def status_error(reply: HttpReply, where: object, what: str) -> errors.Error:
    """The error for a reply whose status is not 2xx."""
    if reply.status == 401:
        return errors.AuthenticationError(f"{where}: Authentication failed")
    if reply.status == 403:
        return errors.AuthenticationError(
            f"{where}: {what}: Forbidden (address not allowed, or locked out after failed logins)"
        )
    if reply.status == 421:
        return errors.ConnectionError(f"{where}: Host name not allowed by the server (HTTP 421)")
    if reply.status in (502, 503, 504):
        # A proxy in front of the daemon (e.g. nginx before rTorrent) can't reach it.
        return errors.ConnectionError(f"{where}: {what}: daemon unreachable behind the server (HTTP {reply.status})")
    body = reply.text().strip()[:200]
    return errors.ResponseError(f"{where}: {what}: HTTP {reply.status}" + (f": {body}" if body else ""))


def new_session(options: ConnectionOptions, *, https: bool) -> aiohttp.ClientSession:
    """An aiohttp session with our timeouts, TLS settings and proxy."""
    import aiohttp

    connector: aiohttp.TCPConnector | None = None
    tls: ssl.SSLContext | aiohttp.Fingerprint | None = None
    digest = _tls.pinned_digest(options)
    if https and digest is not None:
        # aiohttp compares the peer certificate's SHA-256 on every connection.
        tls = aiohttp.Fingerprint(digest)
    elif https:
        tls = _tls.client_context(options)
    if options.proxy is not None:
        connector = _proxy.http_connector(options.proxy, tls)
    elif tls is not None:
        connector = aiohttp.TCPConnector(ssl=tls)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=options.timeout),
        cookie_jar=aiohttp.CookieJar(unsafe=True),  # IP-address hosts keep their cookies
        raise_for_status=False,
        trace_configs=[_proxy.connection_tracing()] if options.proxy is not None else None,
    )


async def send(
    session: aiohttp.ClientSession,
    verb: str,
    target: str,
    where: object,
    proxy: ClientURL | None = None,
    **kwargs: Any,
) -> HttpReply:
    """Send one request, read the whole (size-limited) reply, translate failures.

    `where` names the peer in error messages: a ClientURL (its str() masks
    the password) or a masked URL string. `proxy`: the session's proxy, whose
    failures name it.
    """
    import aiohttp

    try:
        return await _send(session, verb, target, where, proxy, **kwargs)
    except aiohttp.InvalidURL:
        pass  # raised below, out of this block: aiohttp's error holds the URL as given, password and all
    raise errors.ConnectionError(f"{where}: invalid URL")


async def _send(
    session: aiohttp.ClientSession, verb: str, target: str, where: object, proxy: ClientURL | None, **kwargs: Any
) -> HttpReply:
    import aiohttp

    connecting = None
    if proxy is not None:
        connecting = kwargs["trace_request_ctx"] = _proxy.Connecting()
    try:
        async with session.request(verb, target, **kwargs) as resp:
            body = bytearray()
            async for chunk in resp.content.iter_chunked(65536):
                body += chunk
                if len(body) > MAX_RESPONSE_SIZE:
                    raise errors.ResponseError(f"{where}: reply larger than {MAX_RESPONSE_SIZE} bytes")
            return HttpReply(resp.status, dict(resp.headers), body)
    except errors.Error:
        raise
    except aiohttp.InvalidURL:
        raise  # for send(), which drops it
    except _proxy.error_types(proxy) as exc:
        raise _proxy.proxy_error(exc, proxy, _host_and_port(target)) from exc  # type: ignore[arg-type]
    except TimeoutError as exc:
        if connecting is not None and connecting.now:
            raise _proxy.proxy_error(exc, proxy, _host_and_port(target)) from exc  # type: ignore[arg-type]
        raise errors.TimeoutError(f"{where}: timed out") from exc
    except aiohttp.ClientConnectorCertificateError as exc:
        raise errors.ConnectionError(f"{where}: certificate verification failed: {exc.certificate_error}") from exc
    except aiohttp.ServerFingerprintMismatch as exc:
        raise errors.ConnectionError(f"{where}: certificate fingerprint mismatch: {exc.got.hex()}") from exc
    except aiohttp.ClientSSLError as exc:
        raise errors.ConnectionError(f"{where}: TLS error: {exc}") from exc
    except aiohttp.ClientConnectorError as exc:
        raise errors.ConnectionError(f"{where}: {exc.strerror or 'connection failed'}") from exc
    except aiohttp.TooManyRedirects as exc:
        raise errors.ConnectionError(f"{where}: too many redirects ({len(exc.history)})") from exc
    except (aiohttp.ClientError, OSError, ssl.SSLError) as exc:
        raise errors.ConnectionError(f"{where}: {type(exc).__name__}") from exc


def _host_and_port(target: str) -> str:
    """``host:port`` of an http(s) URL without credentials (the proxy's target, in errors)."""
    import urllib.parse

    parts = urllib.parse.urlsplit(target)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


class HttpClient:
    """One adapter's HTTP session to its daemon.

    ``requests`` counts requests by the name the adapter gives them (its RPC
    or Web API method), for tests and logs; ``bytes_received`` the reply
    bodies' bytes (as decompressed).
    """

    def __init__(self, url: ClientURL, options: ConnectionOptions) -> None:
        self.url = url
        self.options = options
        self._session: aiohttp.ClientSession | None = None
        self.requests: collections.Counter[str] = collections.Counter()
        self.bytes_received = 0
        self._log = get_logger(client=url.client, url=str(url))

    @property
    def is_open(self) -> bool:
        return self._session is not None and not self._session.closed

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = new_session(self.options, https=self.url.scheme == "https")
        return self._session

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def request(self, verb: str, target: str, *, what: str, **kwargs: Any) -> HttpReply:
        """Send one request to `target` (a path under the URL's base, or a full URL)."""
        if target.startswith("/"):
            target = self.url.base + target
        self.requests[what] += 1
        started = time.monotonic()
        reply = await send(self.session, verb, target, self.url, self.options.proxy, **kwargs)
        self.bytes_received += len(reply.body)
        self._log.debug("request", method=what, status=reply.status, seconds=round(time.monotonic() - started, 4))
        return reply

    def status_error(self, reply: HttpReply, what: str) -> errors.Error:
        return status_error(reply, self.url, what)


class TorrentDownloader:
    """Downloads .torrent files from http(s) URLs for add().

    Its TLS settings are its own: certificates are verified against the
    system's CAs, whatever the client connection's ``tls_*`` options say
    (those are meant for the daemon, not for every torrent host). Downloads
    share one session, at most :attr:`concurrency` at a time; the session is
    closed when the last download in flight ends.
    """

    concurrency = 8

    def __init__(self, options: ConnectionOptions) -> None:
        import asyncio

        self._options = ConnectionOptions(timeout=options.timeout)
        self._slots = asyncio.Semaphore(self.concurrency)
        self._session: aiohttp.ClientSession | None = None
        self._users = 0

    async def __call__(self, target: str) -> bytes:
        from ..application._sources import MAX_TORRENT_SIZE

        where = mask_password(target)
        self._users += 1
        try:
            async with self._slots:
                if self._session is None:
                    # One session for http and https: its connector's TLS context is the default one.
                    self._session = new_session(self._options, https=True)
                reply = await send(self._session, "GET", target, where)
        except errors.Error as exc:
            raise errors.ReadError(str(exc)) from exc
        finally:
            self._users -= 1
            if not self._users and self._session is not None:
                session, self._session = self._session, None
                await session.close()
        if reply.status != 200:
            raise errors.ReadError(f"{where}: HTTP {reply.status}")
        if len(reply.body) > MAX_TORRENT_SIZE:
            raise errors.ReadError(f"{where}: File too large ({len(reply.body)} bytes)")
        return bytes(reply.body)
