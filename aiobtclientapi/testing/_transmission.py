"""Real transmission-daemon processes as contract-suite targets."""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import aiobtclientapi
from aiobtclientapi import APIBase
from aiobtclientapi.testing._containers import container_labels, native_and_container_targets
from aiobtclientapi.testing._daemon import Daemon, NativeRunner, free_port
from aiobtclientapi.testing._targets import RawState, Target


class TransmissionDaemon(Daemon):
    client = "transmission"

    def prepare(self) -> None:
        self.port = free_port()
        self.peer_port = free_port()
        self.config_dir = self.workdir / "config"
        self.config_dir.mkdir(exist_ok=True)

    def command(self) -> Sequence[str]:
        return [
            self.runner.executable("transmission-daemon"),
            "--foreground",
            "--config-dir", str(self.config_dir),
            "--port", str(self.port),
            "--rpc-bind-address", "127.0.0.1",
            "--auth", "--username", self.username, "--password", self.password,
            "--download-dir", str(self.download_dir),
            "--peerport", str(self.peer_port),
            "--no-dht", "--no-portmap", "--no-lpd",
        ]  # fmt: skip

    def is_ready(self) -> bool:
        """RPC answers, and every torrent the daemon keeps on disk is loaded.

        The RPC server starts before the daemon loads its torrents: right
        after a restart, torrent-get can list none of them.
        """
        try:
            reply = self._rpc({"method": "torrent-get", "arguments": {"fields": ["id"]}})
        except (OSError, ValueError):  # not listening yet, HTTP errors, bad JSON
            return False
        kept = len(list((self.config_dir / "torrents").glob("*.torrent")))
        return len(reply["arguments"]["torrents"]) >= kept

    def _rpc(self, body: dict[str, Any]) -> dict[str, Any]:
        """One legacy RPC request with the session-id exchange (a sync client for fixtures)."""
        credentials = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        headers = {"Authorization": f"Basic {credentials}", "Content-Type": "application/json"}
        for _ in range(2):
            request = urllib.request.Request(
                f"http://127.0.0.1:{self.port}/transmission/rpc", data=json.dumps(body).encode(), headers=headers
            )
            try:
                with urllib.request.urlopen(request, timeout=2) as reply:
                    return json.load(reply)  # type: ignore[no-any-return]
            except urllib.error.HTTPError as exc:
                if exc.code != 409:
                    raise
                headers["X-Transmission-Session-Id"] = exc.headers["X-Transmission-Session-Id"]
        raise OSError("no session id after a 409")

    @property
    def url(self) -> str:
        return f"http://{self.username}:{self.password}@127.0.0.1:{self.port}/transmission/rpc"


@functools.cache
def native_version() -> str:
    output = NativeRunner().output([NativeRunner().executable("transmission-daemon"), "--version"])
    match = re.search(r"transmission-daemon (\S+)", output)
    return match.group(1) if match else "unknown"


class TransmissionTarget(Target):
    client = "transmission"

    daemon: TransmissionDaemon

    def __init__(self, target_id: str, daemon: TransmissionDaemon) -> None:
        self.id = target_id
        self.daemon = daemon
        self.download_dir = daemon.download_dir
        self.url = daemon.url

    def make_api(self, **kwargs: Any) -> APIBase:
        return aiobtclientapi.api("transmission", self.daemon.url, **kwargs)

    def make_api_wrong_password(self) -> APIBase:
        return aiobtclientapi.api("transmission", self.daemon.url, password="wrong-password")

    def make_api_closed_port(self) -> APIBase:
        return aiobtclientapi.api("transmission", f"127.0.0.1:{free_port()}", timeout=5)

    async def _torrents(self, api: APIBase, ids: list[str] | None) -> list[dict[str, Any]]:
        arguments: dict[str, Any] = {"fields": ["hashString", "status"]}
        if ids is not None:
            arguments["ids"] = ids
        reply = await api.call("torrent-get", arguments)
        assert reply["result"] == "success", reply
        torrents: list[dict[str, Any]] = reply["arguments"]["torrents"]
        return torrents

    async def raw_states(self, api: APIBase, infohashes: list[str]) -> dict[str, RawState]:
        states: dict[str, RawState] = {}
        for row in await self._torrents(api, infohashes):
            status = row["status"]  # 0 stopped, 1-2 (queued to) verify, 3-6 queued/downloading/seeding
            states[row["hashString"].lower()] = (
                "stopped" if status == 0 else "verifying" if status in (1, 2) else "active"
            )
        return states

    async def raw_infohash_list(self, api: APIBase) -> list[str]:
        return [row["hashString"].lower() for row in await self._torrents(api, None)]

    async def raw_remove(self, api: APIBase, infohashes: list[str]) -> None:
        reply = await api.call("torrent-remove", ids=infohashes, **{"delete-local-data": False})
        assert reply["result"] == "success", reply

    raw_call = ("session-get", ())

    def check_raw_call_reply(self, reply: Any) -> None:
        assert reply["result"] == "success"
        version = reply["arguments"]["version"].split()[0]  # "3.00 (bb6b5a062e)"
        assert self.daemon is not None
        assert f"{self.daemon.label}-".startswith(f"transmission-{version}-"), (version, self.daemon.label)


def target_ids() -> list[str]:
    return [f"transmission-{native_version()}", *container_labels("transmission")]


@contextlib.contextmanager
def targets(workdir: Path) -> Iterator[dict[str, Target]]:
    def make_daemon(path: Path, runner: NativeRunner) -> TransmissionDaemon:
        daemon = TransmissionDaemon(path, runner)
        daemon.label = f"transmission-{native_version()}"  # containers get theirs from the image
        return daemon

    with native_and_container_targets(
        "transmission", workdir, make_daemon, lambda daemon: [TransmissionTarget(daemon.label, daemon)]
    ) as found:
        yield found
