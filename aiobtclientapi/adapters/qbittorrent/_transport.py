"""HTTP to qBittorrent's Web API v2: session cookie, login, re-login, failure translation.

aiohttp is imported lazily (through .._http) so ``import aiobtclientapi`` stays fast.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from ...application.ports import ConnectionOptions
from ...domain import errors
from ...domain.url import ClientURL
from .. import _http, _json

#: One file part of a multipart form: (field name, file name, content, content type).
FilePart = tuple[str, str, bytes, str]


class Form:
    """Form fields and file parts of a POST, rebuilt for every attempt.

    aiohttp consumes a FormData when it is sent, and a request may be sent
    twice (after logging in again, or on a new connection).
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
        self.http = _http.HttpClient(url, options)
        self._log = log
        # Counts logins, so concurrent requests refused together log in once.
        self._logins = 0
        self._login_lock = asyncio.Lock()

    @property
    def is_open(self) -> bool:
        return self.http.is_open

    async def close(self) -> None:
        await self.http.close()

    @property
    def _has_credentials(self) -> bool:
        return self.url.username is not None or self.url.password is not None

    async def login(self) -> None:
        """Log in; without credentials rely on the daemon's auth bypass (whitelist)."""
        self.http.session.cookie_jar.clear()  # a stale SID would be sent along otherwise
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
        kwargs: dict[str, Any] = {}
        if params:
            kwargs["params"] = dict(params)
        if form is not None:
            kwargs["data"] = form.build()
        return await self.http.request(verb, "/api/v2/" + method, what=method, **kwargs)

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

    def fail(self, method: str, reply: _http.HttpReply) -> errors.Error:
        """The error for a reply that isn't 2xx."""
        return self.http.status_error(reply, method)

    def decode(self, method: str, reply: _http.HttpReply) -> Any:
        """By Content-Type: JSON decoded, UTF-8 text as str, anything else as bytes."""
        import msgspec

        content_type = (reply.header("Content-Type") or "").lower()
        if not content_type or content_type.startswith("text/"):
            try:
                return reply.body.decode("utf-8")
            except UnicodeDecodeError:
                # 4.5.2 serves torrents/export (a .torrent) as text/plain.
                return bytes(reply.body)
        if "json" not in content_type:
            return bytes(reply.body)
        return _json.decode(reply.body, msgspec.json.decode, where=self.url, what=method)
