"""HTTP transport for Transmission: basic auth and the session-id exchange."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from ..._log import get_logger
from ...application.ports import ConnectionOptions
from ...domain import errors
from ...domain.url import ClientURL
from .. import _http, _json
from ._wire import LEGACY, Dialect, Outcome, S

SESSION_ID_HEADER = "X-Transmission-Session-Id"
#: A 409 may come on any request (the daemon rotates the id): resend this often.
_MAX_SESSION_ID_RETRIES = 3


class TransmissionTransport:
    """Sends RPC requests; translates every failure into our errors."""

    def __init__(self, url: ClientURL, options: ConnectionOptions) -> None:
        self.url = url
        self.http = _http.HttpClient(url, options)
        self._session_id: str | None = None
        self._tag = 0
        #: Spoken from connect() on; the original protocol works on every version.
        self.dialect: Dialect = LEGACY
        self._log = get_logger(client="transmission", url=str(url))

    @property
    def session_id(self) -> str | None:
        return self._session_id

    @property
    def is_open(self) -> bool:
        return self.http.is_open

    async def close(self) -> None:
        await self.http.close()
        self._session_id = None

    async def post(self, body: bytes, method: str) -> bytearray:
        """POST one RPC body and return the reply body, handling 409 and auth."""
        for _ in range(_MAX_SESSION_ID_RETRIES + 1):
            headers = {"Content-Type": "application/json", **_http.basic_auth_headers(self.url)}
            if self._session_id:
                headers[SESSION_ID_HEADER] = self._session_id
            reply = await self.http.request("POST", self.url.path, what=method, data=body, headers=headers)
            if reply.status == 409:
                # Not processed: the daemon asks for its current session id first.
                self._session_id = reply.header(SESSION_ID_HEADER)
                if not self._session_id:
                    raise errors.ResponseError(f"{self.url}: 409 without {SESSION_ID_HEADER}: not Transmission?")
                continue
            if reply.status != 200:
                raise self.http.status_error(reply, method)
            return reply.body
        raise errors.ResponseError(f"{self.url}: Session id kept changing")

    async def request(self, method: str, arguments: dict[str, Any] | None) -> bytearray:
        """Send one RPC request in the current dialect; the reply body."""
        self._tag += 1
        return await self.post(msgspec.json.encode(self.dialect.request(method, arguments, self._tag)), method)

    async def rpc(self, method: str, arguments: dict[str, Any] | None = None) -> Outcome:
        """One RPC request in the current dialect; the daemon's error is in the Outcome."""
        started = time.monotonic()
        body = await self.request(method, arguments)
        outcome = _json.decode(body, self.dialect.decode, where=self.url, what=method)
        self._log_rpc(method, outcome.error, started)
        return outcome

    async def rpc_ok(self, method: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """The reply's arguments; ResponseError when the daemon reports an error."""
        outcome = await self.rpc(method, arguments)
        if outcome.error is not None:
            raise errors.ResponseError(f"{self.url}: {method}: {outcome.error}")
        return outcome.arguments

    async def rpc_as(self, method: str, arguments: dict[str, Any] | None, shape: type[S]) -> S:
        """The reply's arguments decoded straight into `shape` (unknown fields skipped);
        ResponseError when the daemon reports an error or the reply is not of that shape."""
        started = time.monotonic()
        dialect = self.dialect
        body = await self.request(method, arguments)
        result, error = _json.decode(
            body, lambda body: dialect.decode_as(body, shape), where=self.url, what=method, typed=True
        )
        self._log_rpc(method, error, started)
        if error is not None:
            raise errors.ResponseError(f"{self.url}: {method}: {error}")
        return result

    def _log_rpc(self, method: str, error: str | None, started: float) -> None:
        self._log.debug(
            "rpc",
            method=method,
            dialect=self.dialect.name,
            error=error,
            seconds=round(time.monotonic() - started, 4),
        )

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
        return _json.decode(body, msgspec.json.decode, where=self.url, what=method)
