"""HTTP transport for Transmission: basic auth and the session-id exchange."""

from __future__ import annotations

import collections
import time
from typing import TYPE_CHECKING, Any

import msgspec

from ..._log import get_logger
from ...application.ports import ConnectionOptions
from ...domain import errors
from ...domain.url import ClientURL
from .. import _http
from ._wire import LEGACY, Dialect, Outcome

if TYPE_CHECKING:
    import aiohttp

SESSION_ID_HEADER = "X-Transmission-Session-Id"
#: A 409 may come on any request (the daemon rotates the id): resend this often.
_MAX_SESSION_ID_RETRIES = 3


class TransmissionTransport:
    """Sends RPC requests; translates every failure into our errors."""

    def __init__(self, url: ClientURL, options: ConnectionOptions) -> None:
        self.url = url
        self.options = options
        self._session: aiohttp.ClientSession | None = None
        self._session_id: str | None = None
        self._tag = 0
        #: Spoken from connect() on; the original protocol works on every version.
        self.dialect: Dialect = LEGACY
        self._log = get_logger(client="transmission", url=str(url))
        #: Requests sent by RPC method, for tests and debugging.
        self.requests: collections.Counter[str] = collections.Counter()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = _http.new_session(self.options, https=self.url.scheme == "https")
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._session_id = None

    async def post(self, body: bytes, method: str) -> bytes:
        """POST one RPC body and return the reply body, handling 409 and auth."""
        session = self._get_session()
        target = self.url.base + self.url.path
        for _ in range(_MAX_SESSION_ID_RETRIES + 1):
            headers = {"Content-Type": "application/json", **_http.basic_auth_headers(self.url)}
            if self._session_id:
                headers[SESSION_ID_HEADER] = self._session_id
            self.requests[method] += 1
            reply = await _http.request(session, "POST", target, self.url, data=body, headers=headers)
            if reply.status == 409:
                self._session_id = reply.headers.get(SESSION_ID_HEADER)
                if not self._session_id:
                    raise errors.ResponseError(f"{self.url}: 409 without {SESSION_ID_HEADER}: not Transmission?")
                continue
            if reply.status == 401:
                raise errors.AuthenticationError(f"{self.url}: Authentication failed")
            if reply.status == 403:
                raise errors.AuthenticationError(
                    f"{self.url}: Forbidden: address not whitelisted or locked out after failed logins"
                )
            if reply.status == 421:
                raise errors.ConnectionError(f"{self.url}: Host name not whitelisted (HTTP 421)")
            if reply.status != 200:
                raise errors.ResponseError(f"{self.url}: HTTP {reply.status}: {reply.text()[:200]}")
            return reply.body
        raise errors.ResponseError(f"{self.url}: Session id kept changing")

    async def rpc(self, method: str, arguments: dict[str, Any] | None = None) -> Outcome:
        """One RPC request in the current dialect; the daemon's error is in the Outcome."""
        self._tag += 1
        started = time.monotonic()
        body = await self.post(msgspec.json.encode(self.dialect.request(method, arguments, self._tag)), method)
        try:
            outcome = self.dialect.decode(body)
        except msgspec.DecodeError as exc:
            raise errors.ResponseError(f"{self.url}: Invalid reply to {method}: {exc}") from exc
        self._log.debug(
            "rpc",
            method=method,
            dialect=self.dialect.name,
            error=outcome.error,
            seconds=round(time.monotonic() - started, 4),
        )
        return outcome

    async def rpc_ok(self, method: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """The reply's arguments; ResponseError when the daemon reports an error."""
        outcome = await self.rpc(method, arguments)
        if outcome.error is not None:
            raise errors.ResponseError(f"{self.url}: {method}: {outcome.error}")
        return outcome.arguments

    async def raw(self, method: str, arguments: dict[str, Any] | None) -> Any:
        """The whole decoded reply of a raw call, as the daemon sent it.

        Sent as JSON-RPC 2.0 when the daemon speaks it and the method is
        spelled that way (``session_get``); otherwise in the original protocol
        (``session-get``), which every version understands.
        """
        self._tag += 1
        if self.dialect.jsonrpc and "-" not in method:
            request: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": self._tag}
            if arguments:
                request["params"] = arguments
        else:
            request = LEGACY.request(method, arguments, self._tag)
        body = await self.post(msgspec.json.encode(request), method)
        try:
            return msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            raise errors.ResponseError(f"{self.url}: Invalid reply to {method}: {exc}") from exc
