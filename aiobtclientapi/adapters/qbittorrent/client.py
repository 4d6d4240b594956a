"""QbittorrentAdapter: ClientPort over qBittorrent's Web API v2.

Every primitive is one request whatever the number of torrents
(``hashes=a|b|c``, one multipart ``torrents/add``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ...application.ports import AddOptions, AddOutcome, AddStatus, ClientTiming, ConnectionOptions
from ...domain import errors
from ...domain.source import TorrentSource
from ...domain.torrent import TorrentStatus
from ...domain.url import ClientURL
from .. import _json
from .._base import AdapterBase
from .._http import HttpReply
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


#: It answers "Fails." (409 from 5.2) also to a duplicate of a torrent
#: another request is adding: that one shows a moment later.
REFUSED_MAY_SHOW_WITHIN = 1.0

#: POST methods that do no harm when sent twice.
_IDEMPOTENT_POSTS = frozenset(
    {"torrents/info", "torrents/start", "torrents/stop", "torrents/resume", "torrents/pause", "torrents/recheck"}
)


def _default_timing(appear_within: float, refresh_interval_ms: int = 1500) -> ClientTiming:
    """qBittorrent reports states it refreshes every `refresh_interval` (1.5 s by
    default): a change shows up to that much later, plus a margin.

    It adds torrents asynchronously, a moment after answering "Ok.", and drops
    those it has not added yet when it is stopped: one it doesn't show within
    `appear_within` seconds (the request timeout) was not added.
    """
    return ClientTiming(
        state_latency=max(refresh_interval_ms, 0) / 1000 + 0.5,
        appear_within=appear_within,
        refused_may_show_within=REFUSED_MAY_SHOW_WITHIN,
    )


class QbittorrentAdapter(AdapterBase):
    """Implements ClientPort for qBittorrent 4.1+ (WebAPI 2.x)."""

    def __init__(self, url: ClientURL, options: ConnectionOptions) -> None:
        super().__init__(url, options)
        self._transport = QbittorrentTransport(url, options, self._log)
        self._names: WebApiNames | None = None
        self._appear_within = options.timeout
        self.timing = _default_timing(self._appear_within)

    @property
    def request_counts(self) -> Mapping[str, int]:
        """Requests sent so far, by Web API method (e.g. ``torrents/add``)."""
        return dict(self._transport.http.requests)

    # --- connection ---------------------------------------------------------------
    async def _open(self) -> None:
        self._names = None
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
        self.timing = await self._read_timing()
        self._log.debug("connected", webapi_version=".".join(map(str, version)), timing=self.timing)

    async def _read_timing(self) -> ClientTiming:
        reply = await self._transport.request("GET", "app/preferences")
        if reply.status == 200:
            try:
                preferences = _json.decode(reply.body, decode_preferences, where=self._url, what="app/preferences")
            except errors.ResponseError as exc:
                self._log.debug("unexpected app/preferences reply", error=str(exc))
            else:
                return _default_timing(self._appear_within, preferences.refresh_interval)
        return _default_timing(self._appear_within)

    async def _close(self) -> None:
        self._names = None
        await self._transport.close()

    def _is_open(self) -> bool:
        return self._names is not None and self._transport.is_open

    @property
    def _api_names(self) -> WebApiNames:
        if self._names is None:  # only between a lost connection and the next connect
            raise errors.ConnectionError(f"{self._url}: not connected")
        return self._names

    async def _web(
        self,
        verb: str,
        method: str,
        *,
        params: Mapping[str, str] | None = None,
        form: Form | None = None,
    ) -> HttpReply:
        """One Web API request, connected, under the adapter base's connection rules."""
        return await self._request(
            lambda: self._transport.request(verb, method, params=params, form=form),
            idempotent=verb == "GET" or method in _IDEMPOTENT_POSTS,
        )

    # --- torrents/info --------------------------------------------------------------
    async def _rows(self, infohashes: Sequence[str] | None) -> list[TorrentRow]:
        if infohashes is None:
            reply = await self._web("GET", "torrents/info")
        else:
            # In the body: a thousand hashes would make a 41 kB URL.
            form = Form({"hashes": "|".join(dict.fromkeys(_torrent_id(h) for h in infohashes))})
            reply = await self._web("POST", "torrents/info", form=form)
        if reply.status != 200:
            raise self._transport.fail("torrents/info", reply)
        return _json.decode(reply.body, decode_rows, where=self._url, what="torrents/info", typed=True)

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
        layout_field, layout_value = names.add_layout
        fields: dict[str, str] = {layout_field: layout_value}
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
        outcomes: dict[int, AddOutcome] = {}

        def outcome(index: int, status: AddStatus, **details: Any) -> None:
            source = sources[index]
            outcomes[index] = AddOutcome(source=source, status=status, infohash=source.infohash, **details)

        remaining: dict[int, TorrentSource] = {}
        resent = False  # whether the rest went again after the daemon refused one file
        for index, source in enumerate(sources):
            if source.metainfo is None and source.magnet is None:
                outcome(index, AddStatus.refused, message="Nothing to add")
            else:
                remaining[index] = source
        while remaining:
            try:
                await self.connect()
                form = self._add_form(remaining, options, self._api_names)
                reply = await self._web("POST", "torrents/add", form=form)
            except errors.Error as exc:
                for index in remaining:
                    outcome(index, AddStatus.failed, error=exc)
                break
            body = reply.text().strip()
            invalid = _INVALID_PART.search(body) if reply.status == 415 else None
            if invalid and int(invalid.group(1)) in remaining:
                # The daemon stops at the first invalid file (in its own order, having
                # maybe added some others): send the rest again; ones it already took
                # are answered as duplicates and show as added.
                index = int(invalid.group(1))
                outcome(
                    index, AddStatus.refused, message=f"qBittorrent refused the file: {_INVALID_PART.sub('file', body)}"
                )
                del remaining[index]
                resent = True
                continue
            if reply.status == 409 or (reply.ok and body == "Fails."):
                # None was added: "Fails." up to 5.1, 409 Conflict from 5.2. After
                # a 415 that means the request before took them all.
                message = f"qBittorrent did not add the torrent ({body or reply.status})"
                for index in remaining:
                    if resent:
                        outcome(index, AddStatus.added)
                    else:
                        outcome(index, AddStatus.refused, message=message)
            elif reply.ok:
                for index in remaining:
                    outcome(index, AddStatus.added)
            else:
                message = str(self._transport.fail("torrents/add", reply))
                for index in remaining:
                    outcome(index, AddStatus.refused, message=message)
            break
        return [outcomes[index] for index in range(len(sources))]

    # --- start / stop / verify ----------------------------------------------------------
    async def _batch(self, method: str, infohashes: Sequence[str]) -> Mapping[str, str]:
        if not infohashes:
            return {}
        form = Form({"hashes": "|".join(dict.fromkeys(_torrent_id(h) for h in infohashes))})
        reply = await self._web("POST", method, form=form)
        if reply.ok:  # 2.11.8+ answers some with 204
            return {}
        message = str(self._transport.fail(method, reply))
        return dict.fromkeys(infohashes, message)

    async def start(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        await self.connect()
        return await self._batch(self._api_names.start, infohashes)

    async def stop(self, infohashes: Sequence[str]) -> Mapping[str, str]:
        await self.connect()
        return await self._batch(self._api_names.stop, infohashes)

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
            return await self._web("GET", path, params=fields)
        return await self._web("POST", path, form=Form(fields, files))
