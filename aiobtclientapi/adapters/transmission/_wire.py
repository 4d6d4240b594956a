"""Transmission's reply shapes in both dialects, and their mapping to domain values.

Transmission speaks two dialects: the original protocol (3.00 and later:
kebab-case methods and arguments, camelCase torrent fields,
``{"result": "success", "arguments": ...}``) and, from rpc-version 18 (4.1),
JSON-RPC 2.0 with every name in snake_case. The adapter's code uses the
original names; :class:`Dialect` translates names and decodes replies.
"""

from __future__ import annotations

import re
from typing import Any, Literal, TypeVar, cast

import msgspec

from ...domain.torrent import TorrentState, TorrentStatus

S = TypeVar("S", bound=msgspec.Struct)

#: rpc-version-semver major from which the daemon speaks JSON-RPC 2.0. Not
#: rpc-version 18: 4.1.0-beta.2 reports 18 (semver 5.4.0) and still answers
#: JSON-RPC requests with "no method name"; 4.1.3 reports 19 (semver 6.0.1).
JSONRPC_MIN_SEMVER_MAJOR = 6

#: torrent-get fields the snapshot reads (original spelling).
SNAPSHOT_FIELDS = (
    "hashString",
    "name",
    "status",
    "percentDone",
    "recheckProgress",
    "metadataPercentComplete",
    "error",
    "errorString",
)


class TorrentRow(msgspec.Struct):
    hash_string: str
    name: str = ""
    status: int = 0
    percent_done: float = 0.0
    recheck_progress: float = 0.0
    metadata_percent_complete: float = 1.0
    error: int = 0
    error_string: str = ""


class HashRow(msgspec.Struct):
    hash_string: str


class AddedTorrent(msgspec.Struct):
    hash_string: str


class TorrentRows(msgspec.Struct):
    torrents: list[TorrentRow] = []


class HashRows(msgspec.Struct):
    torrents: list[HashRow] = []


class AddResult(msgspec.Struct):
    torrent_added: AddedTorrent | None = None
    torrent_duplicate: AddedTorrent | None = None


class SessionInfo(msgspec.Struct):
    version: str = ""
    rpc_version: int = 0
    rpc_version_semver: str = ""  # 4.0+

    @property
    def speaks_jsonrpc(self) -> bool:
        major = self.rpc_version_semver.split(".", 1)[0]
        return major.isdigit() and int(major) >= JSONRPC_MIN_SEMVER_MAJOR


def _respelled(base: type[S], rename: Literal["camel", "kebab"], **types: Any) -> type[S]:
    """A subclass of `base` reading the same fields spelled `rename`-style.

    msgspec applies ``rename`` only to the fields a class defines itself, so
    every field is defined again; `types` replaces nested struct types.
    """
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for field in msgspec.structs.fields(base):
        kind = types.get(field.name, field.type)
        fields.append((field.name, kind) if field.required else (field.name, kind, field.default))
    return cast(type[S], msgspec.defstruct(f"Legacy{base.__name__}", fields, bases=(base,), rename=rename))


# The original protocol's spelling: camelCase torrent fields, kebab-case the rest.
_LegacyTorrentRow = _respelled(TorrentRow, "camel")
_LegacyAddedTorrent = _respelled(AddedTorrent, "camel")
_LegacyTorrentRows = _respelled(TorrentRows, "camel", torrents=list[_LegacyTorrentRow])  # type: ignore[valid-type]
_LegacyHashRows = _respelled(HashRows, "camel", torrents=list[_respelled(HashRow, "camel")])  # type: ignore[misc]
_LegacyAddResult = _respelled(
    AddResult,
    "kebab",
    torrent_added=_LegacyAddedTorrent | None,
    torrent_duplicate=_LegacyAddedTorrent | None,
)
_LegacySessionInfo = _respelled(SessionInfo, "kebab")


class LegacyReply(msgspec.Struct):
    result: str
    arguments: dict[str, Any] = {}


class JsonRpcError(msgspec.Struct):
    code: int = 0
    message: str = ""
    data: Any = None


class JsonRpcReply(msgspec.Struct):
    result: dict[str, Any] | None = None
    error: JsonRpcError | None = None


class Outcome(msgspec.Struct):
    """A reply in either dialect: its arguments, or the daemon's error message."""

    arguments: dict[str, Any]
    error: str | None = None


_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake(name: str) -> str:
    """hashString / download-dir → hash_string / download_dir."""
    return _CAMEL.sub(r"_\1", name).replace("-", "_").lower()


class Dialect:
    """How requests are spelled and replies decoded for one protocol generation."""

    def __init__(self, name: str, *, jsonrpc: bool) -> None:
        self.name = name
        self.jsonrpc = jsonrpc
        self.rows: type[TorrentRows] = TorrentRows if jsonrpc else _LegacyTorrentRows
        self.hashes: type[HashRows] = HashRows if jsonrpc else _LegacyHashRows
        self.add_result: type[AddResult] = AddResult if jsonrpc else _LegacyAddResult
        self.session: type[SessionInfo] = SessionInfo if jsonrpc else _LegacySessionInfo
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(JsonRpcReply if jsonrpc else LegacyReply)

    def request(self, method: str, arguments: dict[str, Any] | None, request_id: int) -> dict[str, Any]:
        if not self.jsonrpc:
            request: dict[str, Any] = {"method": method, "tag": request_id}
            if arguments:
                request["arguments"] = arguments
            return request
        request = {"jsonrpc": "2.0", "method": snake(method), "id": request_id}
        if arguments:
            request["params"] = {snake(key): self._value(key, value) for key, value in arguments.items()}
        return request

    @staticmethod
    def _value(key: str, value: Any) -> Any:
        if key == "fields":
            return [snake(field) for field in value]
        return value

    def decode(self, body: bytes | bytearray) -> Outcome:
        """Raises msgspec.DecodeError for a body of neither shape."""
        reply = self._decoder.decode(body)
        if isinstance(reply, LegacyReply):
            if reply.result == "success":
                return Outcome(arguments=reply.arguments)
            return Outcome(arguments=reply.arguments, error=reply.result)
        if reply.error is not None:
            message = reply.error.message
            if isinstance(reply.error.data, dict) and reply.error.data.get("error_string"):
                message = f"{message}: {reply.error.data['error_string']}"
            return Outcome(arguments={}, error=message or f"error {reply.error.code}")
        return Outcome(arguments=reply.result or {})


LEGACY = Dialect("legacy", jsonrpc=False)
JSONRPC = Dialect("json-rpc 2.0", jsonrpc=True)

#: Transmission's status numbers: (state, stopped). While it verifies,
#: Transmission doesn't say whether the torrent runs afterwards: None.
_STATES: dict[int, tuple[TorrentState, bool | None]] = {
    0: (TorrentState.stopped, True),
    1: (TorrentState.verifying, None),  # queued to verify
    2: (TorrentState.verifying, None),
    3: (TorrentState.queued, False),  # queued to download
    4: (TorrentState.downloading, False),
    5: (TorrentState.queued, False),  # queued to seed
    6: (TorrentState.seeding, False),
}

#: tr_stat.error: 3 is a local error (e.g. missing data), which stops the torrent;
#: 1 and 2 are tracker warnings/errors, which don't.
_LOCAL_ERROR = 3


def to_status(row: TorrentRow) -> TorrentStatus:
    """One torrent-get row as a domain TorrentStatus."""
    state, stopped = _STATES.get(row.status, (TorrentState.unknown, None))
    if row.error == _LOCAL_ERROR and state is not TorrentState.verifying:
        state = TorrentState.error
    elif state is TorrentState.downloading and row.metadata_percent_complete < 1:
        state = TorrentState.metadata
    return TorrentStatus(
        infohash=row.hash_string.lower(),
        name=row.name,
        state=state,
        stopped=stopped,
        progress=row.percent_done,
        verify_progress=row.recheck_progress if state is TorrentState.verifying else None,
        error=row.error_string or None,
    )
