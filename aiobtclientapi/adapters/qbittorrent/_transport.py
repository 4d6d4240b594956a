"""HTTP to qBittorrent's Web API v2: session cookie, login, re-login, failure translation.

aiohttp is imported lazily (through .._http) so ``import aiobtclientapi`` stays fast.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ...application.ports import ConnectionOptions
from ...domain import errors
from ...domain.url import ClientURL
from .. import _http

if TYPE_CHECKING:
    import aiohttp

#: One file part of a multipart form: (field name, file name, content, content type).
FilePart = tuple[str, str, bytes, str]


class Form:
    """Form fields and file parts of a POST, rebuilt for every attempt.

    aiohttp consumes a FormData when it is sent, and a request may be sent
    twice (after logging in again).
    """

    def __init__(self, fields: Mapping[str, str] | None = None, files: Sequence[FilePart] = ()) -> None:
        self.fields = dict(fields or {})
        self.files = list(files)

    def build(self) -> Any:
        import aiohttp

        if not self.files:
            return self.fields  # urlencoded
        data = aiohttp.FormData()
        for name, filename, content, content_type in self.files:
            data.add_field(name, content, filename=filename, content_type=content_type)
        for name, value in self.fields.items():
            data.add_field(name, value)
        return data


class QbittorrentTransport:
    """Sends requests to ``/api/v2/<method>``, logged in.

    Keeps whatever session cookie the login sets (``SID`` up to 5.1,
    ``QBT_SID_<port>`` in 5.2) in the session's cookie jar, logs in again
    once when a request answers 403 (session expired, daemon restarted),
    and never sends Origin/Referer (qBittorrent's CSRF check compares them
    with Host). ``requests`` counts requests by method, for tests and logs.
    """

    def __init__(self, url: ClientURL, options: ConnectionOptions, log: Any) -> None:
        self.url = url
        self.options = options
        self._log = log
        self._base = f"{url.base}/api/v2/"
        self._session: aiohttp.ClientSession | None = None
        # Counts logins, so concurrent requests refused together log in once.
        self._logins = 0
        self._login_lock = asyncio.Lock()
        self.requests: Counter[str] = Counter()

    # --- session -------------------------------------------------------------------
    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = _http.new_session(self.options, https=self.url.scheme == "https")
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    @property
    def _has_credentials(self) -> bool:
        return self.url.username is not None or self.url.password is not None

    async def login(self) -> None:
        """Log in; without credentials rely on the daemon's auth bypass (whitelist)."""
        session = self._open_session()
        session.cookie_jar.clear()  # a stale SID would be sent along otherwise
        if not self._has_credentials:
            return
        form = Form({"username": self.url.username or "", "password": self.url.password or ""})
        reply = await self._send("POST", "auth/login", None, form)
        body = reply.text().strip()
        if reply.status == 403:
            raise errors.AuthenticationError(
                f"{self.url}: Authentication failed: this IP is banned after too many failed logins"
            )
        # Up to 5.1: 200 "Ok."/"Fails."; 5.2+: 204 / 401.
        if reply.status == 401 or (reply.status == 200 and body == "Fails."):
            raise errors.AuthenticationError(f"{self.url}: Authentication failed: invalid username or password")
        if reply.status not in (200, 204) or (reply.status == 200 and body not in ("Ok.", "")):
            raise errors.ConnectionError(f"{self.url}: Login failed: HTTP {reply.status}: {body[:200]}")
        self._logins += 1
        self._log.debug("logged in")

    # --- requests ------------------------------------------------------------------
    async def _send(
        self,
        verb: str,
        method: str,
        params: Mapping[str, str] | None,
        form: Form | None,
    ) -> _http.HttpReply:
        import aiohttp

        session = self._open_session()
        kwargs: dict[str, Any] = {}
        if params:
            kwargs["params"] = dict(params)
        if form is not None:
            kwargs["data"] = form.build()
        if self.options.tls_fingerprint and self.url.scheme == "https":
            digest = bytes.fromhex(self.options.tls_fingerprint.replace(":", ""))
            kwargs["ssl"] = aiohttp.Fingerprint(digest)
        self.requests[method] += 1
        started = time.monotonic()
        for attempt in (1, 2):
            try:
                reply = await _http.request(session, verb, self._base + method, self.url, **kwargs)
                break
            except errors.ConnectionError as exc:
                # A kept-alive connection the daemon closed (e.g. it restarted) fails
                # once on reuse; the next attempt opens a new connection.
                if attempt == 2 or not isinstance(exc.__cause__, aiohttp.ServerDisconnectedError):
                    raise
                if form is not None:
                    kwargs["data"] = form.build()
        self._log.debug(
            "request",
            method=method,
            verb=verb,
            status=reply.status,
            duration=round(time.monotonic() - started, 4),
        )
        return reply

    async def request(
        self,
        verb: str,
        method: str,
        *,
        params: Mapping[str, str] | None = None,
        form: Form | None = None,
    ) -> _http.HttpReply:
        """Send one request; on 403 log in again and send it once more."""
        logins = self._logins
        reply = await self._send(verb, method, params, form)
        if reply.status == 403:
            async with self._login_lock:
                if self._logins == logins:
                    self._log.debug("session refused, logging in again", method=method)
                    await self.login()
            reply = await self._send(verb, method, params, form)
            if reply.status == 403:
                why = "after logging in" if self._has_credentials else "(no username or password given)"
                raise errors.AuthenticationError(f"{self.url}: {method}: Forbidden {why}")
        return reply

    def fail(self, method: str, reply: _http.HttpReply) -> errors.ResponseError:
        """The error for a reply that isn't 2xx."""
        body = reply.text().strip()[:500]
        return errors.ResponseError(f"{self.url}: {method}: HTTP {reply.status}" + (f": {body}" if body else ""))

    def decode(self, method: str, reply: _http.HttpReply) -> Any:
        """By Content-Type: JSON decoded, UTF-8 text as str, anything else as bytes."""
        import msgspec

        content_type = next((v for k, v in reply.headers.items() if k.lower() == "content-type"), "").lower()
        if not content_type or content_type.startswith("text/"):
            try:
                return reply.body.decode("utf-8")
            except UnicodeDecodeError:
                # 4.5.2 serves torrents/export (a .torrent) as text/plain.
                return reply.body
        if "json" not in content_type:
            return reply.body
        try:
            return msgspec.json.decode(reply.body)
        except msgspec.DecodeError as exc:
            raise errors.ResponseError(f"{self.url}: {method}: invalid JSON reply: {exc}") from exc
