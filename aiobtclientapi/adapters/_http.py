"""HTTP transport shared by the HTTP-speaking adapters.

aiohttp is imported here only, and only when an HTTP adapter connects. Every
aiohttp, ssl and socket failure becomes an error from our hierarchy, with the
client and URL (password masked) in the message.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..application.ports import ConnectionOptions
from ..domain import errors
from ..domain.url import ClientURL

if TYPE_CHECKING:
    import aiohttp

#: Replies larger than this are refused: a broken or hostile server can't make us
#: buffer without bound.
MAX_RESPONSE_SIZE = 64 * 1024 * 1024


def ssl_context(options: ConnectionOptions, *, verify_default: bool = True) -> ssl.SSLContext:
    """A client TLS context following `options`."""
    context = ssl.create_default_context(cafile=options.tls_ca_file)
    if options.tls_fingerprint or (not (options.tls_verify and verify_default) and not options.tls_ca_file):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def check_fingerprint(der: bytes | None, options: ConnectionOptions, url: ClientURL) -> None:
    """Raise ConnectionError unless the peer certificate matches the pinned fingerprint."""
    if not options.tls_fingerprint:
        return
    expected = options.tls_fingerprint.replace(":", "").lower()
    actual = hashlib.sha256(der or b"").hexdigest()
    if actual != expected:
        raise errors.ConnectionError(f"{url}: certificate fingerprint mismatch: {actual}")


def basic_auth_headers(url: ClientURL) -> dict[str, str]:
    """An Authorization header for `url`'s credentials, or nothing without them."""
    if url.username is None and url.password is None:
        return {}
    import base64

    token = base64.b64encode(f"{url.username or ''}:{url.password or ''}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def new_session(options: ConnectionOptions, *, https: bool) -> aiohttp.ClientSession:
    """An aiohttp session with our timeouts and TLS settings."""
    import aiohttp

    connector: aiohttp.TCPConnector | None = None
    if https and options.tls_fingerprint:
        # aiohttp compares the peer certificate's SHA-256 on every connection.
        fingerprint = aiohttp.Fingerprint(bytes.fromhex(options.tls_fingerprint.replace(":", "")))
        connector = aiohttp.TCPConnector(ssl=fingerprint)
    elif https:
        connector = aiohttp.TCPConnector(ssl=ssl_context(options))
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=options.timeout),
        cookie_jar=aiohttp.CookieJar(unsafe=True),  # IP-address hosts keep their cookies
        raise_for_status=False,
    )


class HttpReply:
    """Status, headers and body of one HTTP reply."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


async def _send(session: aiohttp.ClientSession, method: str, target: str, where: object, **kwargs: Any) -> HttpReply:
    async with session.request(method, target, **kwargs) as resp:
        body = bytearray()
        async for chunk in resp.content.iter_chunked(65536):
            body += chunk
            if len(body) > MAX_RESPONSE_SIZE:
                raise errors.ResponseError(f"{where}: reply larger than {MAX_RESPONSE_SIZE} bytes")
        return HttpReply(resp.status, dict(resp.headers), bytes(body))


async def request(
    session: aiohttp.ClientSession,
    method: str,
    target: str,
    where: object,
    **kwargs: Any,
) -> HttpReply:
    """Send one request, read the whole (size-limited) reply, translate failures.

    `where` names the peer in error messages: a ClientURL (its str() masks
    the password) or a masked URL string.
    """
    import aiohttp

    try:
        try:
            return await _send(session, method, target, where, **kwargs)
        except aiohttp.ServerDisconnectedError:
            # A kept-alive connection the server closed meanwhile (e.g. it
            # restarted): send it once more. A multipart body can't be sent twice.
            if isinstance(kwargs.get("data"), aiohttp.FormData):
                raise
            return await _send(session, method, target, where, **kwargs)
    except errors.Error:
        raise
    except TimeoutError as exc:
        raise errors.TimeoutError(f"{where}: timed out") from exc
    except aiohttp.ClientConnectorCertificateError as exc:
        raise errors.ConnectionError(f"{where}: certificate verification failed: {exc.certificate_error}") from exc
    except aiohttp.ServerFingerprintMismatch as exc:
        raise errors.ConnectionError(f"{where}: certificate fingerprint mismatch: {exc.got.hex()}") from exc
    except aiohttp.ClientSSLError as exc:
        raise errors.ConnectionError(f"{where}: TLS error: {exc}") from exc
    except aiohttp.ClientConnectorError as exc:
        raise errors.ConnectionError(f"{where}: {exc.strerror or 'connection failed'}") from exc
    except (aiohttp.ClientError, OSError, ssl.SSLError) as exc:
        raise errors.ConnectionError(f"{where}: {type(exc).__name__}: {exc}") from exc


class TorrentDownloader:
    """Downloads .torrent files from http(s) URLs for add()."""

    def __init__(self, options: ConnectionOptions) -> None:
        self._options = options

    async def __call__(self, target: str) -> bytes:
        from ..application._sources import MAX_TORRENT_SIZE
        from ..domain.url import mask_password

        where = mask_password(target)
        session = new_session(self._options, https=target.lower().startswith("https:"))
        try:
            reply = await request(session, "GET", target, where)
        except errors.Error as exc:
            raise errors.ReadError(str(exc)) from exc
        finally:
            await session.close()
        if reply.status != 200:
            raise errors.ReadError(f"{where}: HTTP {reply.status}")
        if len(reply.body) > MAX_TORRENT_SIZE:
            raise errors.ReadError(f"{where}: File too large ({len(reply.body)} bytes)")
        return reply.body
