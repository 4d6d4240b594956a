"""qBittorrent (qbittorrent-nox, Web API v2) as a test daemon and contract-suite target."""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import os
import re
import ssl
import subprocess
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

#: Raw qBittorrent states (4.x spells paused*, 5.x stopped*), read without the adapter's table.
_RAW_STOPPED = {"pausedUP", "pausedDL", "stoppedUP", "stoppedDL", "error", "missingFiles"}
_RAW_VERIFYING = {"checkingUP", "checkingDL", "checkingResumeData"}


def pbkdf2_config_value(password: str) -> str:
    """The ``WebUI\\Password_PBKDF2`` value qBittorrent expects for `password`."""
    salt = os.urandom(16)
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 100000, 64)
    return f'"@ByteArray({base64.b64encode(salt).decode()}:{base64.b64encode(key).decode()})"'


def parse_version(output: str) -> str:
    """The version in qbittorrent-nox --version output: "qBittorrent v4.5.2" → "4.5.2"."""
    match = re.search(r"v(\d+\.\d+\.\d+\S*)", output)
    if not match:
        raise RuntimeError(f"Can't read the qBittorrent version from: {output!r}")
    return match.group(1)


class QbittorrentDaemon(Daemon):
    """qbittorrent-nox with its own profile, web UI on a free loopback port.

    ``https=True`` serves the web UI over TLS with a self-signed certificate
    for 127.0.0.1, written to :attr:`cert_path` (the CA file a client trusts).
    After ``max_auth_failures`` failed logins the daemon bans 127.0.0.1 (for an hour).
    """

    client = "qbittorrent"

    def __init__(
        self,
        workdir: Path,
        runner: NativeRunner | None = None,
        *,
        https: bool = False,
        max_auth_failures: int = 1000,
    ) -> None:
        super().__init__(workdir, runner)
        self.https = https
        self.max_auth_failures = max_auth_failures
        self.profile = workdir / "profile"
        self.port = free_port()
        self.peer_port = free_port()
        self.cert_path = workdir / "cert.pem"
        self.key_path = workdir / "key.pem"
        self.executable = self.runner.executable("qbittorrent-nox")
        self.version = parse_version(self.runner.output([self.executable, "--version"]))
        self.label = f"qbittorrent-{self.version}"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def scheme(self) -> str:
        return "https" if self.https else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.username}:{self.password}@127.0.0.1:{self.port}"

    def url_with(self, *, password: str | None = None, port: int | None = None) -> str:
        password = self.password if password is None else password
        return f"{self.scheme}://{self.username}:{password}@127.0.0.1:{port or self.port}"

    def prepare(self) -> None:
        config_dir = self.profile / "qBittorrent" / "config"
        config_dir.mkdir(parents=True, exist_ok=True)
        lines = [
            "[LegalNotice]",
            "Accepted=true",
            "",
            "[BitTorrent]",
            f"Session\\DefaultSavePath={self.download_dir}",
            f"Session\\Port={self.peer_port}",
            "Session\\DHTEnabled=false",
            "Session\\LSDEnabled=false",
            "Session\\PeXEnabled=false",
            # Queueing would park most of the suite's many torrents as queued*.
            "Session\\QueueingSystemEnabled=false",
            "",
            "[Network]",
            "PortForwardingEnabled=false",
            "",
            "[Preferences]",
            "WebUI\\Address=127.0.0.1",
            f"WebUI\\Port={self.port}",
            f"WebUI\\Username={self.username}",
            f"WebUI\\Password_PBKDF2={pbkdf2_config_value(self.password)}",
            "WebUI\\LocalHostAuth=true",
            # The suites log in with wrong passwords on purpose; don't ban 127.0.0.1 (by default).
            f"WebUI\\MaxAuthenticationFailCount={self.max_auth_failures}",
        ]
        if self.https:
            self._make_certificate()
            lines += [
                "WebUI\\HTTPS\\Enabled=true",
                f"WebUI\\HTTPS\\CertificatePath={self.cert_path}",
                f"WebUI\\HTTPS\\KeyPath={self.key_path}",
            ]
        (config_dir / "qBittorrent.conf").write_text("\n".join(lines) + "\n")

    def _make_certificate(self) -> None:
        openssl = self.runner.executable("openssl")
        subprocess.run(
            [
                openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                "-keyout", str(self.key_path), "-out", str(self.cert_path),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip

    def clear_leftovers(self) -> None:
        # A killed qBittorrent leaves its instance lock (holding its PID) behind. In a
        # container the next one gets the same PID, takes the lock for a live
        # instance's and exits, after failing to hand over to it.
        config_dir = self.profile / "qBittorrent" / "config"
        for name in ("lockfile", "ipc-socket"):
            (config_dir / name).unlink(missing_ok=True)

    def command(self) -> Sequence[str]:
        argv = [self.executable, f"--profile={self.profile}", f"--webui-port={self.port}"]
        if self.major >= 5:
            argv.append("--confirm-legal-notice")
        return argv

    def is_ready(self) -> bool:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        url = f"{self.scheme}://127.0.0.1:{self.port}/api/v2/app/version"
        try:
            with urllib.request.urlopen(url, timeout=1, context=context if self.https else None):
                return True
        except urllib.error.HTTPError as exc:
            return exc.code == 403  # up, but wants a login
        except OSError:
            return False


@functools.cache
def _version() -> str:
    runner = NativeRunner()
    return parse_version(runner.output([runner.executable("qbittorrent-nox"), "--version"]))


def target_ids() -> list[str]:
    # Containers (newer Debian: qBittorrent 5.x) only with BTC_CONTAINERS=1.
    return [f"qbittorrent-{_version()}", *container_labels("qbittorrent")]


def raw_state(state: str) -> RawState:
    """The raw qBittorrent state string as the contract suite's RawState."""
    if state in _RAW_VERIFYING:
        return "verifying"
    if state in _RAW_STOPPED:
        return "stopped"
    return "active"


class QbittorrentTarget(Target):
    client = "qbittorrent"

    daemon: QbittorrentDaemon

    def __init__(self, daemon: QbittorrentDaemon) -> None:
        self.daemon = daemon
        self.id = daemon.label
        self.download_dir = daemon.download_dir
        self.url = daemon.url
        if daemon.https:
            self.cli_options = ("--tls-ca-file", str(daemon.cert_path))

    def make_api(self, **kwargs: Any) -> APIBase:
        if self.daemon.https:
            kwargs.setdefault("tls_ca_file", str(self.daemon.cert_path))
        return aiobtclientapi.api("qbittorrent", self.daemon.url, **kwargs)

    def make_api_wrong_password(self) -> APIBase:
        return aiobtclientapi.api("qbittorrent", self.daemon.url_with(password="wrong"))

    def make_api_closed_port(self) -> APIBase:
        return aiobtclientapi.api("qbittorrent", self.daemon.url_with(port=free_port()))

    async def _rows(self, api: APIBase, infohashes: list[str] | None = None) -> list[dict[str, Any]]:
        if infohashes is None:
            rows = await api.call("torrents/info")
        else:
            rows = await api.call("torrents/info", hashes="|".join(infohashes))
        assert isinstance(rows, list), rows
        return rows

    async def raw_states(self, api: APIBase, infohashes: list[str]) -> dict[str, RawState]:
        if not infohashes:
            return {}
        return {row["hash"]: raw_state(row["state"]) for row in await self._rows(api, infohashes)}

    async def raw_infohash_list(self, api: APIBase) -> list[str]:
        return [row["hash"] for row in await self._rows(api)]

    async def raw_remove(self, api: APIBase, infohashes: list[str]) -> None:
        if infohashes:
            await api.call("torrents/delete", hashes="|".join(infohashes), deleteFiles=False)

    raw_call = ("app/version", ())

    def check_raw_call_reply(self, reply: Any) -> None:
        assert isinstance(reply, str), reply
        assert reply.startswith("v"), reply


@contextlib.contextmanager
def targets(workdir: Path) -> Iterator[dict[str, Target]]:
    with native_and_container_targets(
        "qbittorrent", workdir, QbittorrentDaemon, lambda daemon: [QbittorrentTarget(daemon)]
    ) as found:
        yield found
