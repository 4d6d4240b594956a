"""Record the daemon replies the adapters decode, for the wire tests beside this file.

    venv/bin/python -m tests.wire.record [TARGET_ID ...]

Starts the daemons as the integration fixtures do (Debian 12's; with
``BTC_CONTAINERS=1`` also those of the client images), puts a few torrents
into known states, sends the requests the adapters send (built with the
adapters' own field lists and encoders) and writes the replies exactly as
received, the client's version and each torrent's intended state to
``recordings/<target id>.json``. The bytes are read here, not through the
adapters' transports, so a transport refactoring can't change what is
recorded. rTorrent is recorded over SCGI only: its HTTP targets carry the
same XML through nginx.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import re
import secrets
import ssl
import sys
import tempfile
import traceback
import urllib.parse
import xmlrpc.client
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import rencode

from aiobtclientapi import APIBase
from aiobtclientapi.adapters.deluge._transport import CLIENT_VERSION, HEADER, RPC_RESPONSE, encode_frame
from aiobtclientapi.adapters.deluge._wire import STATUS_KEYS
from aiobtclientapi.adapters.rtorrent._wire import STATUS
from aiobtclientapi.adapters.transmission._wire import JSONRPC, LEGACY, SNAPSHOT_FIELDS, Dialect
from aiobtclientapi.domain.torrent import TorrentState
from aiobtclientapi.testing._pool import TargetPool, all_target_ids
from aiobtclientapi.testing._targets import RawState, Target
from aiobtclientapi.testing._torrents import make_torrent
from aiobtclientapi.testing._tracker import announce_url
from tests.wire._recordings import RECORDINGS, Expected, Recording

#: Seconds to wait once the torrents show their states: qBittorrent and
#: Deluge report states refreshed every 1.5 s.
SETTLE = 3.0
#: The torrent to catch while verifying: big enough to take a moment.
VERIFY_SIZE = 256 * 1024 * 1024
VERIFY_ATTEMPTS = 6
STATE_TIMEOUT = 60.0


@dataclass
class Planned:
    """A torrent to add, and the state it must be in when the replies are recorded."""

    expected: Expected
    #: A .torrent path or a magnet URI.
    source: str
    #: What the target's raw reading (Target.raw_states) shows once it is there.
    settled: RawState


def plan(download_dir: Path, torrent_dir: Path) -> dict[str, Planned]:
    """The torrents for one target, by role; content files go where the daemon finds them."""

    def from_file(
        role: str, state: TorrentState, progress: float, *, content: bool, size: int = 256 * 1024, files: int = 1
    ) -> Planned:
        made = make_torrent(
            download_dir, torrent_dir, size=size, files=files, piece_size=1024 * 1024, keep_content=content
        )
        stopped = state is TorrentState.stopped
        expected = Expected(
            role=role,
            infohash=made.infohash,
            name=made.name,
            state=state.value,
            stopped=stopped,
            progress=(progress, progress),
        )
        return Planned(expected, str(made.torrent_path), "stopped" if stopped else "active")

    magnet_hash = secrets.token_hex(20)
    magnet_name = f"magnet-{magnet_hash[:12]}"
    tracker = urllib.parse.quote(announce_url(), safe="")
    magnet = Planned(
        Expected(
            role="magnet",
            infohash=magnet_hash,
            name=None,
            state=TorrentState.metadata.value,
            stopped=False,
            progress=(0.0, 0.0),
        ),
        f"magnet:?xt=urn:btih:{magnet_hash}&dn={magnet_name}&tr={tracker}",
        "active",
    )
    return {
        "stopped": from_file("stopped", TorrentState.stopped, 0.0, content=False),
        "downloading": from_file("downloading", TorrentState.downloading, 0.0, content=False),
        "seeding": from_file("seeding", TorrentState.seeding, 1.0, content=True),
        # Seeding until snapshot_while_verifying() verifies it.
        "verifying": from_file("verifying", TorrentState.seeding, 1.0, content=True, size=VERIFY_SIZE, files=4),
        "magnet": magnet,
    }


# --- one client's requests, as its adapter sends them ---------------------------------


class ClientAddress:
    """A target's URL, split with urllib: the library is used only for request shapes and encoders."""

    def __init__(self, url: str) -> None:
        # Deluge's URLs have no scheme.
        parts = urllib.parse.urlsplit(url if "://" in url else f"deluge://{url}")
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port
        self.path = parts.path
        self.username = urllib.parse.unquote(parts.username or "")
        self.password = urllib.parse.unquote(parts.password or "")
        self.base = f"{self.scheme}://{self.host}:{self.port}"

    def __str__(self) -> str:
        return self.base


class WireRecorder:
    """Sends one client's requests and keeps the replies as received, by request name."""

    def __init__(self, url: ClientAddress) -> None:
        self.url = url
        self.replies: dict[str, str] = {}
        self.decoded: dict[str, Any] = {}

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def version(self) -> str:
        """Records the version requests; returns the version as the daemon tells it."""
        raise NotImplementedError

    async def add_stopped(self, api: APIBase, torrent: Planned) -> None:
        await add(api, [torrent.source], stopped=True)

    async def snapshot(self, infohashes: Sequence[str]) -> None:
        """Records the status requests for `infohashes`."""
        raise NotImplementedError

    async def verify(self, infohash: str) -> None:
        raise NotImplementedError


class TransmissionRecorder(WireRecorder):
    """session-get in the original protocol, then the dialect the adapter picks from it."""

    SESSION_ID_HEADER = "X-Transmission-Session-Id"

    async def open(self) -> None:
        credentials = base64.b64encode(f"{self.url.username}:{self.url.password}".encode()).decode("ascii")
        self.session = aiohttp.ClientSession(headers={"Authorization": f"Basic {credentials}"})
        self.session_id = ""
        self.dialect: Dialect = LEGACY
        self.tags = itertools.count(1)

    async def close(self) -> None:
        await self.session.close()

    async def rpc(self, method: str, arguments: dict[str, Any], dialect: Dialect | None = None) -> str:
        request = (dialect or self.dialect).request(method, arguments, next(self.tags))
        body = msgspec.json.encode(request)
        for _ in range(3):
            headers = {"Content-Type": "application/json", self.SESSION_ID_HEADER: self.session_id}
            async with self.session.post(self.url.base + self.url.path, data=body, headers=headers) as reply:
                if reply.status == 409:
                    self.session_id = reply.headers[self.SESSION_ID_HEADER]
                    continue
                reply.raise_for_status()
                return (await reply.read()).decode("utf-8")
        raise RuntimeError(f"{self.url}: no session id")

    async def version(self) -> str:
        # As the adapter's connect(): always in the original protocol.
        fields = {"fields": ["version", "rpc-version", "rpc-version-semver"]}
        body = self.replies["session-get"] = await self.rpc("session-get", fields, LEGACY)
        session = msgspec.convert(json.loads(body)["arguments"], LEGACY.session)
        self.dialect = JSONRPC if session.speaks_jsonrpc else LEGACY
        return session.version

    async def add_stopped(self, api: APIBase, torrent: Planned) -> None:
        metainfo = base64.b64encode(Path(torrent.source).read_bytes()).decode("ascii")
        arguments = {"paused": True, "metainfo": metainfo}
        self.replies["torrent-add added"] = await self.rpc("torrent-add", arguments)
        self.replies["torrent-add duplicate"] = await self.rpc("torrent-add", arguments)

    async def snapshot(self, infohashes: Sequence[str]) -> None:
        arguments = {"fields": list(SNAPSHOT_FIELDS), "ids": list(infohashes)}
        self.replies["torrent-get"] = await self.rpc("torrent-get", arguments)

    async def verify(self, infohash: str) -> None:
        await self.rpc("torrent-verify", {"ids": [infohash]})


#: app/preferences keys whose values may be secret (blanked in the recording).
_SECRET_PREFERENCE = re.compile(r"pass|user|secret|token|key|salt", re.IGNORECASE)


def without_secrets(preferences_body: str) -> str:
    """app/preferences with credential-like strings blanked (re-encoded, compact)."""
    preferences = json.loads(preferences_body)
    for key, value in preferences.items():
        if isinstance(value, str) and value and _SECRET_PREFERENCE.search(key):
            preferences[key] = ""
    return json.dumps(preferences, ensure_ascii=False, separators=(",", ":"))


class QbittorrentRecorder(WireRecorder):
    async def open(self) -> None:
        # unsafe: keep cookies of an IP address host.
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        credentials = {"username": self.url.username, "password": self.url.password}
        await self.request("POST", "auth/login", credentials)

    async def close(self) -> None:
        await self.session.close()

    async def request(self, verb: str, method: str, form: dict[str, str] | None = None) -> str:
        async with self.session.request(verb, f"{self.url.base}/api/v2/{method}", data=form) as reply:
            reply.raise_for_status()
            return (await reply.read()).decode("utf-8")

    async def version(self) -> str:
        self.replies["app/webapiVersion"] = await self.request("GET", "app/webapiVersion")
        self.replies["app/preferences"] = without_secrets(await self.request("GET", "app/preferences"))
        return await self.request("GET", "app/version")

    async def snapshot(self, infohashes: Sequence[str]) -> None:
        # As the adapter asks: POST, the hashes in the body.
        self.replies["torrents/info"] = await self.request("POST", "torrents/info", {"hashes": "|".join(infohashes)})

    async def verify(self, infohash: str) -> None:
        await self.request("POST", "torrents/recheck", {"hashes": infohash})


class DelugeRecorder(WireRecorder):
    """Its own TLS connection, speaking the adapter's framing; keeps whole reply frames."""

    async def open(self) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the daemon's self-signed certificate
        self.reader, self.writer = await asyncio.open_connection(self.url.host, self.url.port, ssl=context)
        self.ids = itertools.count(1)
        await self.call("daemon.login", self.url.username, self.url.password, client_version=CLIENT_VERSION)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()

    async def call(self, method: str, *args: Any, **kwargs: Any) -> tuple[bytes, Any]:
        """The reply frame and its value (decoded here with zlib and rencode, not the adapter's decoder)."""
        request_id = next(self.ids)
        self.writer.write(encode_frame([[request_id, method, list(args), kwargs]]))
        await self.writer.drain()
        header = await self.reader.readexactly(HEADER.size)
        _, length = HEADER.unpack(header)
        frame = header + await self.reader.readexactly(length)
        message = rencode.loads(zlib.decompress(frame[HEADER.size :]), decode_utf8=True)
        if message[0] != RPC_RESPONSE or message[1] != request_id:
            raise RuntimeError(f"{self.url}: {method}: {message!r:.500}")
        return frame, message[2]

    async def keep(self, method: str, *args: Any) -> Any:
        frame, value = await self.call(method, *args)
        self.replies[method] = base64.b64encode(frame).decode("ascii")
        # JSON has no tuples: rencode's tuples become lists.
        self.decoded[method] = json.loads(json.dumps(value))
        return value

    async def version(self) -> str:
        return str(await self.keep("daemon.info"))

    async def snapshot(self, infohashes: Sequence[str]) -> None:
        await self.keep("core.get_torrents_status", {"id": list(infohashes)}, STATUS_KEYS)

    async def verify(self, infohash: str) -> None:
        await self.call("core.force_recheck", [infohash])


class RtorrentRecorder(WireRecorder):
    """XML-RPC over SCGI (TCP or unix socket), one connection per request as rTorrent wants."""

    async def exchange(self, method: str, *params: Any) -> str:
        body = xmlrpc.client.dumps(params, method, allow_none=False).encode("utf-8")
        if self.url.scheme == "file":
            reader, writer = await asyncio.open_unix_connection(self.url.path)
        else:
            reader, writer = await asyncio.open_connection(self.url.host, self.url.port)
        headers = b"CONTENT_LENGTH\0%d\0SCGI\x001\0" % len(body)
        writer.write(b"%d:%s,%s" % (len(headers), headers, body))
        await writer.drain()
        raw = await reader.read()  # rTorrent closes the connection after its reply
        writer.close()
        _, separator, xml = raw.partition(b"\r\n\r\n")
        if not separator:
            raise RuntimeError(f"{self.url}: {method}: not an SCGI reply: {raw[:200]!r}")
        return xml.decode("utf-8")

    async def version(self) -> str:
        xml = self.replies["system.client_version"] = await self.exchange("system.client_version")
        return str(xmlrpc.client.loads(xml)[0][0])

    async def snapshot(self, infohashes: Sequence[str]) -> None:
        # snapshot() reads all torrents with d.multicall2, or few with their getters in a system.multicall.
        self.replies["d.multicall2"] = await self.exchange("d.multicall2", "", "main", *STATUS.args())
        wire_calls = [call for h in infohashes for call in STATUS.calls(h.upper())]
        calls = [{"methodName": method, "params": list(params)} for method, params in wire_calls]
        self.replies["system.multicall"] = await self.exchange("system.multicall", calls)

    async def verify(self, infohash: str) -> None:
        await self.exchange("d.check_hash", infohash.upper())


RECORDERS: dict[str, type[WireRecorder]] = {
    "transmission": TransmissionRecorder,
    "qbittorrent": QbittorrentRecorder,
    "deluge": DelugeRecorder,
    "rtorrent": RtorrentRecorder,
}


# --- bringing torrents into their states ----------------------------------------------


async def add(api: APIBase, sources: Sequence[str], *, stopped: bool) -> None:
    response = await api.add(*sources, stopped=stopped)
    if response.errors:
        raise RuntimeError(f"add failed: {response.errors}")


async def wait_for(target: Target, api: APIBase, wanted: dict[str, RawState], timeout: float, pause: float) -> bool:
    """Whether the target's raw reading shows every torrent in its wanted state within `timeout` s."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        states = await target.raw_states(api, list(wanted))
        if all(states.get(infohash) == state for infohash, state in wanted.items()):
            return True
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(pause)


async def settle(target: Target, api: APIBase, torrents: Sequence[Planned]) -> None:
    wanted = {torrent.expected.infohash: torrent.settled for torrent in torrents}
    if not await wait_for(target, api, wanted, STATE_TIMEOUT, pause=0.2):
        states = await target.raw_states(api, list(wanted))
        raise RuntimeError(f"{target.id}: torrents did not reach {wanted}: {states}")
    await asyncio.sleep(SETTLE)


async def snapshot_while_verifying(
    target: Target, api: APIBase, recorder: WireRecorder, torrent: Planned, infohashes: Sequence[str]
) -> bool:
    """Records the snapshot while `torrent` verifies; False if that was never caught.

    The target's raw reading shows it verifying right before and right after
    the recorded request, so the recorded reply (in between) does too.
    """
    infohash = torrent.expected.infohash
    for _ in range(VERIFY_ATTEMPTS):
        await recorder.verify(infohash)
        if await wait_for(target, api, {infohash: "verifying"}, timeout=10.0, pause=0.005):
            await recorder.snapshot(infohashes)
            if await wait_for(target, api, {infohash: "verifying"}, timeout=0.0, pause=0.0):
                return True
        await settle(target, api, [torrent])
    return False


async def record(target: Target, torrent_dir: Path) -> Recording:
    torrents = plan(target.download_dir, torrent_dir)
    unknown_infohash = secrets.token_hex(20)
    infohashes = [torrent.expected.infohash for torrent in torrents.values()] + [unknown_infohash]
    recorder = RECORDERS[target.client](ClientAddress(target.url))
    api = target.make_api(timeout=60)
    await recorder.open()
    try:
        async with api:
            version = await recorder.version()
            await recorder.add_stopped(api, torrents["stopped"])
            await add(api, [torrent.source for role, torrent in torrents.items() if role != "stopped"], stopped=False)
            await settle(target, api, list(torrents.values()))
            verifying = torrents["verifying"]
            if await snapshot_while_verifying(target, api, recorder, verifying, infohashes):
                verifying.expected = msgspec.structs.replace(
                    verifying.expected, state=TorrentState.verifying.value, progress=(0.0, 1.0)
                )
            else:
                print(f"{target.id}: never caught verifying; recorded once verified", file=sys.stderr)
                verifying.expected = msgspec.structs.replace(verifying.expected, role="verified")
                await recorder.snapshot(infohashes)
    finally:
        await recorder.close()
    return Recording(
        target=target.id,
        client=target.client,
        version=version.strip(),
        torrents=[torrent.expected for torrent in torrents.values()],
        unknown_infohash=unknown_infohash,
        replies=recorder.replies,
        decoded=recorder.decoded,
    )


def to_json(value: Any, depth: int = 0) -> str:
    """JSON with one line per torrent and per reply."""
    if depth < 2 and isinstance(value, dict) and value:
        items = [f"{' ' * (depth + 1)}{json.dumps(key)}: {to_json(item, depth + 1)}" for key, item in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * depth + "}"
    if depth < 2 and isinstance(value, list) and value:
        items = [f"{' ' * (depth + 1)}{to_json(item, depth + 1)}" for item in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * depth + "]"
    return json.dumps(value, ensure_ascii=False)


def write(recording: Recording) -> Path:
    RECORDINGS.mkdir(exist_ok=True)
    path = RECORDINGS / f"{recording.target}.json"
    path.write_text(to_json(msgspec.to_builtins(recording)) + "\n")
    return path


def recordable(target_id: str) -> bool:
    client = target_id.split("-", 1)[0]
    return client in RECORDERS and (client != "rtorrent" or target_id.endswith("-scgi"))


def main(argv: Sequence[str]) -> int:
    chosen = set(argv)
    target_ids = [
        target_id
        for target_id in all_target_ids(include_memory=False)
        if recordable(target_id) and (not chosen or target_id in chosen)
    ]
    failed: list[str] = []
    # One client's daemons at a time: a pool starts all of a client's targets at once.
    for client, group in itertools.groupby(target_ids, key=lambda target_id: target_id.split("-", 1)[0]):
        pool = TargetPool()
        try:
            for target_id in group:
                try:
                    target = pool.get(target_id)
                    with tempfile.TemporaryDirectory(prefix="btc-wire-") as torrent_dir:
                        recording = asyncio.run(record(target, Path(torrent_dir)))
                    path = write(recording)
                    roles = ", ".join(f"{t.role}: {t.state}" for t in recording.torrents)
                    print(f"{target_id}: {recording.version!r}: {roles} -> {path} ({path.stat().st_size} bytes)")
                except Exception:
                    failed.append(target_id)
                    print(f"{target_id}: recording failed:\n{traceback.format_exc()}", file=sys.stderr)
        finally:
            print(f"stopping the {client} daemons", file=sys.stderr)
            pool.close()
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
