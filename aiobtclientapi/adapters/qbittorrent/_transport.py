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

#: The cookies a login set, by name.
Cookies = dict[str, str]


class _SharedLogin:
    """The session of the last login to one Web API as one user, and the login under way."""

    __slots__ = ("cookies", "pending")

    def __init__(self) -> None:
        self.cookies: Cookies | None = None
        #: The login some transport is sending now, resolved in its event loop.
        self.pending: asyncio.Future[Cookies] | None = None


#: Logins by (Web API, username, password). qBittorrent hashes the password
#: of every login (PBKDF2, ~50 ms of its CPU), so the transports of one
#: process that log in to the same daemon as the same user share one session:
#: 25 API objects connecting at once cost it one login, not a second of CPU.
_shared_logins: dict[tuple[str, ...], _SharedLogin] = {}
#: Beyond this many Web APIs and users, the oldest entry is forgotten.
_SHARED_LOGINS_KEPT = 256


def _shared_login(key: tuple[str, ...]) -> _SharedLogin:
    shared = _shared_logins.pop(key, None) or _SharedLogin()
    _shared_logins[key] = shared  # last in the dict: the most recently used
    while len(_shared_logins) > _SHARED_LOGINS_KEPT:
        del _shared_logins[next(iter(_shared_logins))]
    return shared


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

    Transports of one process with the same URL, username, password, proxy and
    TLS settings share the session of one login (see ``_shared_logins``): a transport joins the
    last login's session, and logs in itself only when there is none or the
    daemon refused it.
    """

    def __init__(self, url: ClientURL, options: ConnectionOptions, log: Any) -> None:
        self.url = url
        self.http = _http.HttpClient(url, options)
        self._log = log
        # Only transports that reach the daemon the same way share a login: a login's
        # failure may be its proxy's or its TLS settings', not the credentials'.
        proxy = options.proxy
        self._share_key = (
            url.base,
            url.username or "",
            url.password or "",
            "" if proxy is None else f"{proxy.scheme}://{proxy.username}:{proxy.password}@{proxy.host}:{proxy.port}",
            f"{options.tls_verify} {options.tls_ca_file} {options.tls_fingerprint}",
        )
        # Counts logins, so concurrent requests refused together log in once.
        self._logins = 0
        self._login_lock = asyncio.Lock()
        #: The session cookies in use: refused by the daemon, they are not joined again.
        self._cookies: Cookies | None = None

    @property
    def is_open(self) -> bool:
        return self.http.is_open

    async def close(self) -> None:
        await self.http.close()

    @property
    def _has_credentials(self) -> bool:
        return self.url.username is not None or self.url.password is not None

    async def login(self, refused: Cookies | None = None) -> None:
        """Join the session of the last login as this user, or log in if there is none
        (or it is the `refused` one); without credentials rely on the daemon's auth
        bypass (whitelist)."""
        self.http.session.cookie_jar.clear()  # a stale SID would be sent along otherwise
        self._cookies = None
        if not self._has_credentials:
            return
        shared = _shared_login(self._share_key)
        loop = asyncio.get_running_loop()
        while True:
            if shared.cookies is not None and shared.cookies != refused:
                self._use(shared.cookies)
                self._log.debug("joined the session of an earlier login")
                return
            pending = shared.pending
            if pending is None or pending.done() or pending.get_loop() is not loop:
                break
            # Another transport is logging in as this user: its answer is ours.
            try:
                await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # we were cancelled, not that login
        # Ours, not shared.pending later: a transport in another event loop may replace that.
        login = shared.pending = loop.create_future()
        # Its failure is raised where it was sent; the others waiting re-raise it too.
        login.add_done_callback(lambda done: done.cancelled() or done.exception())
        try:
            cookies = await self._log_in()
        except errors.Error as exc:
            login.set_exception(exc)
            raise
        except BaseException:
            login.cancel()  # those waiting log in themselves
            raise
        shared.cookies = cookies
        login.set_result(cookies)
        self._use(cookies)

    def _use(self, cookies: Cookies) -> None:
        from yarl import URL

        self.http.session.cookie_jar.update_cookies(cookies, URL(self.url.base + "/"))
        self._cookies = cookies
        self._logins += 1

    async def _log_in(self) -> Cookies:
        """Send auth/login; the cookies it set."""
        from yarl import URL

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
        self._log.debug("logged in")
        jar = self.http.session.cookie_jar.filter_cookies(URL(self.url.base + "/api/v2/"))
        return {name: morsel.value for name, morsel in jar.items()}

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
                    await self.login(refused=self._cookies)
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
