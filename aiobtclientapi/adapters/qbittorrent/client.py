"""QbittorrentAdapter: ClientPort over qBittorrent's Web API v2.

Every primitive is one request whatever the number of torrents
(``hashes=a|b|c``, one multipart ``torrents/add``); add() then polls
``torrents/info`` for the torrents it hasn't seen yet.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..._log import get_logger
from ...application.ports import AddOptions, AddOutcome, ConnectionOptions
from ...domain import errors
from ...domain.source import TorrentSource
from ...domain.status import ConnectionStatus
from ...domain.torrent import TorrentStatus
from ...domain.url import ClientURL
from .._base import AdapterBase
from .._http import HttpReply
from .._polling import poll_batched
from ._transport import FilePart, Form, QbittorrentTransport
from ._wire import (
    TorrentRow,
    WebApiNames,
    decode_preferences,
    decode_rows,
    parse_webapi_version,
    to_status,
    webapi_names,
)

#: Methods that answer GET (qBittorrent refuses GET for the others with 405).
_READ_ONLY_METHODS = frozenset(
    {
        "app/buildInfo", "app/defaultSavePath", "app/networkInterfaceAddressList",
        "app/networkInterfaceList", "app/preferences", "app/version", "app/webapiVersion",
        "app/cookies", "log/main", "log/peers", "rss/items", "search/plugins", "search/results",
        "search/status", "sync/maindata", "sync/torrentPeers", "torrents/categories",
        "torrents/count", "torrents/export", "torrents/files", "torrents/info",
        "torrents/pieceHashes", "torrents/pieceStates", "torrents/properties", "torrents/tags",
        "torrents/trackers", "torrents/webseeds", "transfer/downloadLimit", "transfer/info",
        "transfer/speedLimitsMode", "transfer/uploadLimit",
    }
)  # fmt: skip

_INVALID_PART = re.compile(r"'(\d+)\.torrent'")


def _torrent_id(infohash: str) -> str:
    """qBittorrent's torrent ID: the v1 infohash, or a v2 one truncated to 40 digits."""
    return infohash[:40]


def _row_hashes(row: TorrentRow) -> set[str]:
    return {h.lower() for h in (row.hash, row.infohash_v1, row.infohash_v2) if h}


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "|".join(str(item) for item in value)
    return str(value)


class QbittorrentAdapter(AdapterBase):
    """Implements ClientPort for qBittorrent 4.1+ (WebAPI 2.x)."""

    #: How long add() waits for accepted torrents to show in torrents/info.
    appear_timeout: float = 10.0
    #: How long add() waits for refused ones (maybe being added by another request).
    refused_wait: float = 1.0

    def __init__(self, url: ClientURL, options: ConnectionOptions) -> None:
        super().__init__(url)
        self._options = options
        self._log = get_logger(client="qbittorrent", url=str(url))
        self._transport = QbittorrentTransport(url, options, self._log)
        self._names: WebApiNames | None = None
        # qBittorrent reports states it refreshes every `refresh_interval` (1.5 s by
        # default), so a recheck shows only that much later — and a small torrent's
        # check may begin and end in between. Read at connect.
        self.state_latency = 1.5

    @property
    def request_counts(self) -> Mapping[str, int]:
        """Requests sent so far, by Web API method (e.g. ``torrents/add``)."""
        return dict(self._transport.requests)

    # --- connection ---------------------------------------------------------------
    async def connect(self) -> None:
        self._status.set(ConnectionStatus.connecting)
        try:
            await self._transport.login()
            reply = await self._transport.request("GET", "app/webapiVersion")
            if reply.status != 200:
                raise errors.ConnectionError(
                    f"{self._url}: Not a qBittorrent Web API: app/webapiVersion: HTTP {reply.status}"
                )
            try:
                version = parse_webapi_version(reply.text())
            except ValueError as exc:
                raise errors.ConnectionError(
                    f"{self._url}: Not a qBittorrent Web API version: {reply.text()[:100]!r}"
                ) from exc
            # What the daemon calls pause/resume is chosen once per connection.
            self._names = webapi_names(version)
            self.state_latency = await self._read_state_latency()
            self._log.debug("connected", webapi_version=".".join(map(str, version)), state_latency=self.state_latency)
        except BaseException:
            self._names = None
            await self._transport.close()
            self._status.set(ConnectionStatus.disconnected)
            raise
        self._status.set(ConnectionStatus.connected)

    async def _read_state_latency(self) -> float:
        """Seconds the daemon may take to show a change: one refresh plus a margin."""
        interval = 1500  # the default, if the preferences don't say
        reply = await self._transport.request("GET", "app/preferences")
        if reply.status == 200:
            try:
                interval = decode_preferences(reply.body).refresh_interval
            except ValueError:  # msgspec errors subclass ValueError
                self._log.debug("unexpected app/preferences reply")
        return max(interval, 0) / 1000 + 0.5

    async def disconnect(self) -> None:
        self._names = None
        await self._transport.close()
        self._status.set(ConnectionStatus.disconnected)

    async def _connected(self) -> WebApiNames:
        if self._names is None or self._status.status is not ConnectionStatus.connected:
            await self.connect()
        assert self._names is not None
        return self._names

    async def _request(
        self,
        verb: str,
        method: str,
        *,
        params: Mapping[str, str] | None = None,
        form: Form | None = None,
    ) -> HttpReply:
        await self._connected()
        try:
            return await self._transport.request(verb, method, params=params, form=form)
        except errors.TimeoutError:
            raise  # slow, not gone
        except errors.ConnectionError:
            # Daemon down or unreachable: the next call connects and logs in again.
            self._names = None
            self._status.set(ConnectionStatus.disconnected)
            raise

    # --- torrents/info --------------------------------------------------------------
    async def _rows(self, infohashes: Sequence[str] | None) -> list[TorrentRow]:
        if infohashes is None:
            reply = await self._request("GET", "torrents/info")
        else:
            # In the body: a thousand hashes would make a 41 kB URL.
            form = Form({"hashes": "|".join(dict.fromkeys(_torrent_id(h) for h in infohashes))})
            reply = await self._request("POST", "torrents/info", form=form)
        if reply.status != 200:
            raise self._transport.fail("torrents/info", reply)
        try:
            return decode_rows(reply.body)
        except ValueError as exc:  # msgspec.DecodeError/ValidationError subclass ValueError
            raise errors.ResponseError(f"{self._url}: torrents/info: unexpected reply: {exc}") from exc

    async def snapshot(self, infohashes: Sequence[str]) -> Mapping[str, TorrentStatus]:
        if not infohashes:
            return {}
        wanted = set(infohashes)
        result: dict[str, TorrentStatus] = {}
        for row in await self._rows(infohashes):
            for infohash in _row_hashes(row) & wanted:
                result[infohash] = to_status(row, infohash)
        return result

    async def list_infohashes(self) -> list[str]:
        # The full v1 (or v2) infohash: `hash` is a v2 one truncated for v2-only torrents.
        return [(row.infohash_v1 or row.infohash_v2 or row.hash).lower() for row in await self._rows(None)]

    # --- add ------------------------------------------------------------------------
    def _add_form(self, sources: Mapping[int, TorrentSource], options: AddOptions, names: WebApiNames) -> Form:
        files: list[FilePart] = []
        urls: list[str] = []
        for index, source in sources.items():
            if source.metainfo is not None:
                # Unique part names: equal names overwrite each other on the daemon.
                files.append(("torrents", f"{index}.torrent", source.metainfo, "application/x-bittorrent"))
            elif source.magnet is not None:
                urls.append(source.magnet)
        fields: dict[str, str] = {}
        if urls:
            fields["urls"] = "\n".join(urls)
        if options.location is not None:
            fields["savepath"] = options.location
            fields["autoTMM"] = "false"  # automatic management would ignore savepath
        if not options.verify:
            fields["skip_checking"] = "true"
        if options.stopped:
            fields[names.add_stopped] = "true"
        return Form(fields, files)

    async def add(self, sources: Sequence[TorrentSource], options: AddOptions) -> list[AddOutcome]:
        names = await self._connected()
        outcomes: dict[int, AddOutcome] = {}
        present = set(await self.snapshot([s.infohash for s in sources]))
        to_send: dict[int, TorrentSource] = {}
        for index, source in enumerate(sources):
            if source.infohash in present:
                outcomes[index] = AddOutcome(source=source, status="already_added", infohash=source.infohash)
            elif source.metainfo is None and source.magnet is None:
                outcomes[index] = AddOutcome(
                    source=source, status="failed", infohash=source.infohash, error="Nothing to add"
                )
            else:
                present.add(source.infohash)  # a second one in this batch is a duplicate
                to_send[index] = source

        refused: dict[int, str] = {}  # index → the daemon's message
        maybe_added = False
        nothing_added = False  # the daemon said so: any torrent there now was added by someone else
        failure: str | None = None
        remaining = dict(to_send)
        while remaining:
            reply = await self._request("POST", "torrents/add", form=self._add_form(remaining, options, names))
            body = reply.text().strip()
            invalid = _INVALID_PART.search(body) if reply.status == 415 else None
            if invalid and int(invalid.group(1)) in remaining:
                # The daemon stops at the first invalid file (in its own order, having
                # maybe added some others): send the rest again; ones it already took
                # are ignored as duplicates.
                index = int(invalid.group(1))
                refused[index] = f"qBittorrent refused the file: {_INVALID_PART.sub('file', body)}"
                maybe_added = True
                del remaining[index]
                continue
            if reply.status == 409 or (200 <= reply.status < 300 and body == "Fails."):
                # None was added: "Fails." up to 5.1, 409 Conflict from 5.2.
                nothing_added = True
                failure = f"qBittorrent did not add the torrent ({body or reply.status})"
            elif 200 <= reply.status < 300:
                maybe_added = True
            else:
                failure = str(self._transport.fail("torrents/add", reply))
            break

        expected = [s.infohash for i, s in to_send.items() if i not in refused]
        if maybe_added:
            wait = self.appear_timeout
        elif nothing_added:
            # Refused: for good, or as a duplicate of a torrent another request
            # is adding right now, which shows a moment later.
            wait = self.refused_wait
        else:
            wait = 0.0
        seen = await self._await_visible(expected, wait)
        for index, source in to_send.items():
            if source.infohash in seen and index not in refused:
                # Refused by a daemon that has it: added meanwhile by someone else.
                status = "already_added" if nothing_added and not maybe_added else "added"
                outcomes[index] = AddOutcome(source=source, status=status, infohash=source.infohash)
            else:
                error = refused.get(index) or failure or "Torrent did not appear in qBittorrent"
                outcomes[index] = AddOutcome(source=source, status="failed", infohash=source.infohash, error=error)
        return [outcomes[index] for index in range(len(sources))]

    async def _await_visible(self, infohashes: Sequence[str], wait: float) -> set[str]:
        """Which of `infohashes` torrents/info shows, waiting up to `wait` seconds for the rest.

        qBittorrent adds asynchronously: a torrent shows a moment after "Ok.".
        """
        return await poll_batched(infohashes, self.snapshot, within=wait)

    # --- start / stop / verify ----------------------------------------------------------
    async def _batch(self, method: str, infohashes: Sequence[str]) -> Mapping[str, str]:
        if not infohashes:
            return {}
        form = Form({"hashes": "|".join(dict.fromkeys(_torrent_id(h) for h in infohashes))})
        reply = await self._request("POST", method, form=form)
        if 200 <= reply.status < 300:  # 2.11.8+ answers some with 204
            return {}
        message = str(self._transport.fail(method, reply))
        return dict.fromkeys(infohashes, message)

    async def start(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        names = await self._connected()
        return await self._batch(names.start, infohashes)

    async def stop(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        names = await self._connected()
        return await self._batch(names.stop, infohashes)

    async def verify(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        return await self._batch("torrents/recheck", infohashes)

    # --- raw calls ------------------------------------------------------------------------
    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``call("torrents/info", hashes="a|b")``: keyword arguments are the parameters.

        Returns decoded JSON for JSON replies, text for text replies, bytes
        otherwise (e.g. ``torrents/export``). Bytes arguments are sent as file
        parts. Read-only methods go as GET, others as POST; a 405 tries the
        other verb.
        """
        if args:
            raise errors.ValueError(f"{self._url}: {method}: qBittorrent takes keyword arguments only")
        path = method.strip("/").removeprefix("api/v2/")
        fields = {k: _form_value(v) for k, v in kwargs.items() if not isinstance(v, bytes)}
        files: list[FilePart] = [
            (k, k, v, "application/octet-stream") for k, v in kwargs.items() if isinstance(v, bytes)
        ]
        verb = "GET" if path in _READ_ONLY_METHODS and not files else "POST"
        reply = await self._send_raw(verb, path, fields, files)
        if reply.status == 405 and not files:
            reply = await self._send_raw("POST" if verb == "GET" else "GET", path, fields, files)
        if not 200 <= reply.status < 300:
            raise self._transport.fail(path, reply)
        return self._transport.decode(path, reply)

    async def _send_raw(self, verb: str, path: str, fields: dict[str, str], files: list[FilePart]) -> HttpReply:
        if verb == "GET":
            return await self._request("GET", path, params=fields)
        return await self._request("POST", path, form=Form(fields, files))
