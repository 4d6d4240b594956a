"""A real Deluge 2.x daemon (deluged) for tests, and its contract-suite target."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import aiobtclientapi
from aiobtclientapi import APIBase
from aiobtclientapi.testing._containers import container_labels, native_and_container_targets
from aiobtclientapi.testing._daemon import Daemon, NativeRunner, free_port
from aiobtclientapi.testing._targets import RawState, Target


def _version_of(output: str) -> str:
    match = re.search(r"deluged\s+(\d+(?:\.\d+)+)", output)
    return match.group(1) if match else "unknown"


def scrypt_password_hash(password: str) -> str:
    """`password` as Deluge 2.2.1+ stores it in its auth file: "$scrypt$n$r$p$salt$hexdigest".

    The daemon's own format (deluge/security.py, from Werkzeug): the salt is
    used as text, scrypt n=2**15, r=8, p=1, 64-byte key.
    """
    salt = secrets.token_hex(8)
    n, r, p = 2**15, 8, 1
    digest = hashlib.scrypt(password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p).hex()
    return f"$scrypt${n}${r}${p}${salt}${digest}"


#: Runs deluged with some plugins left out of what its plugin manager finds
#: (argv[1]: their names, comma-separated), the installation untouched. Every
#: version scans its plugin folders in PluginManagerBase.scan_for_plugins into
#: available_plugins, and enable_plugin refuses a name not in that list
#: (deluge/pluginmanagerbase.py, 2.0.3 to 2.2.1).
_WITHOUT_PLUGINS = """\
import sys

import deluge.pluginmanagerbase

hidden = set(sys.argv.pop(1).split(","))
base = deluge.pluginmanagerbase.PluginManagerBase
scan = base.scan_for_plugins


def scan_for_plugins(self):
    scan(self)
    self.available_plugins = [name for name in self.available_plugins if name not in hidden]


base.scan_for_plugins = scan_for_plugins

from deluge.core.daemon_entry import start_daemon

sys.exit(start_daemon())
"""


class DelugeDaemon(Daemon):
    """deluged on a free loopback port with a config dir of its own.

    Runs natively or, given a ContainerRunner, in a container on the host's
    network with the workdir mounted at the same path (2.0.3, 2.2.0 and
    2.2.1.dev0 take the same flags and config files). `hidden_plugins`: plugins
    (e.g. "Label") the daemon must not find, as if they were not installed.
    """

    client = "deluge"

    def __init__(
        self, workdir: Path, runner: NativeRunner | None = None, *, hidden_plugins: Sequence[str] = ()
    ) -> None:
        super().__init__(workdir, runner)
        self.hidden_plugins = tuple(hidden_plugins)
        self.config_dir = workdir / "config"
        self.port = free_port()
        self.peer_port = free_port()
        self.version = _version_of(self.runner.output([self.runner.executable("deluged"), "--version"]))
        self.label = f"deluge-{self.version}"

    @property
    def version_tuple(self) -> tuple[int, ...]:
        return tuple(int(part) for part in self.version.split(".")) if self.version != "unknown" else ()

    @property
    def hashes_passwords(self) -> bool:
        """Whether the daemon stores (and checks) scrypt hashes in its auth file: 2.2.1+."""
        return self.version_tuple >= (2, 2, 1)

    def saving_state(self) -> bool:
        # deluged saves torrents.state after each add or remove and on a
        # graceful stop, each time in a thread, and skips a save while one is
        # still being written: a stop then keeps the state of that earlier
        # save, without what was added since. The file being written:
        return (self.config_dir / "state" / "torrents.state.tmp").exists()

    @property
    def cert_path(self) -> Path:
        """The self-signed certificate the daemon makes on first start."""
        return self.config_dir / "ssl" / "daemon.cert"

    def prepare(self) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        # Numeric auth level: 10 = admin. 2.2.1+ stores hashes (a plaintext
        # password still works there, but the daemon logs it as an invalid hash).
        password = scrypt_password_hash(self.password) if self.hashes_passwords else self.password
        (self.config_dir / "auth").write_text(f"{self.username}:{password}:10\n")
        # Deluge's config format: a version object, then the settings; the
        # daemon merges them over its defaults. No DHT/UPnP/NAT-PMP/LSD: a
        # test daemon must not talk to the network.
        settings = {
            "download_location": str(self.download_dir),
            "torrentfiles_location": str(self.download_dir),
            "listen_ports": [self.peer_port, self.peer_port],
            "random_port": False,
            "listen_interface": "127.0.0.1",
            "dht": False,
            "upnp": False,
            "natpmp": False,
            "lsd": False,
            "utpex": False,
            "new_release_check": False,
            "send_info": False,
        }
        (self.config_dir / "core.conf").write_text(
            json.dumps({"file": 1, "format": 1}, indent=2) + json.dumps(settings, indent=2)
        )
        if self.hidden_plugins:
            self._launcher.write_text(_WITHOUT_PLUGINS)

    @property
    def _launcher(self) -> Path:
        # In the workdir: a container sees it at the same path.
        return self.workdir / "deluged_without_plugins.py"

    def _deluged(self) -> list[str]:
        """The command that starts deluged (through the launcher when plugins are hidden)."""
        deluged = self.runner.executable("deluged")
        if not self.hidden_plugins:
            return [deluged]
        # deluged's own interpreter (the one with the deluge package): its
        # shebang natively; Debian's python3 in a container image.
        python = "/usr/bin/python3"
        if Path(deluged).is_absolute():
            with contextlib.suppress(OSError), Path(deluged).open("rb") as script:
                first = script.readline().decode(errors="replace")
                if first.startswith("#!"):
                    python = first[2:].split()[0]
        return [python, str(self._launcher), ",".join(self.hidden_plugins)]

    def command(self) -> Sequence[str]:
        # -L none: Debian 12's 2.0.3 crashes in its own log calls on Python
        # 3.11 at every level; 2.2 logs fine, and its warnings help diagnose.
        level = "none" if self.version_tuple < (2, 1) else "warning"
        # -u: the RPC port on loopback only (it listens on every interface
        # otherwise, and containers share the host's network); -i: the same
        # for BitTorrent connections.
        return [
            *self._deluged(),
            "-d",
            "-c", str(self.config_dir),
            "-p", str(self.port),
            "-u", "127.0.0.1",
            "-i", "127.0.0.1",
            "-L", level,
        ]  # fmt: skip

    def is_ready(self) -> bool:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            with (
                socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock,
                context.wrap_socket(sock),
            ):
                return True
        except OSError:
            return False

    @property
    def url(self) -> str:
        return f"{self.username}:{self.password}@127.0.0.1:{self.port}"


def _native_version() -> str:
    exe = shutil.which("deluged")
    if exe is None:
        return "unknown"
    try:
        result = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return _version_of(result.stdout + result.stderr)


def target_ids() -> list[str]:
    return [f"deluge-{_native_version()}", *container_labels("deluge")]


class DelugeTarget(Target):
    client = "deluge"

    daemon: DelugeDaemon

    def __init__(self, daemon: DelugeDaemon) -> None:
        self.daemon = daemon
        self.id = daemon.label
        self.download_dir = daemon.download_dir
        self.url = daemon.url  # for btclient

    def make_api(self, **kwargs: Any) -> APIBase:
        return aiobtclientapi.api("deluge", self.daemon.url, **kwargs)

    def make_api_wrong_password(self) -> APIBase:
        return aiobtclientapi.api("deluge", f"{self.daemon.username}:wrong@127.0.0.1:{self.daemon.port}")

    def make_api_closed_port(self) -> APIBase:
        return aiobtclientapi.api("deluge", f"{self.daemon.username}:{self.daemon.password}@127.0.0.1:{free_port()}")

    async def raw_states(self, api: APIBase, infohashes: list[str]) -> dict[str, RawState]:
        if not infohashes:
            return {}
        rows = await api.call("core.get_torrents_status", {"id": list(infohashes)}, ["state", "paused"])
        states: dict[str, RawState] = {}
        for infohash, row in rows.items():
            if not row:  # an id the daemon doesn't know
                continue
            # Deluge's own `state` decides: `paused` lags it by ~0.5 s and is
            # True while Checking and while Queued, whatever follows.
            if row["state"] in ("Checking", "Allocating"):
                states[infohash] = "verifying"
            elif row["state"] == "Paused" or (row["state"] == "Error" and row["paused"]):
                states[infohash] = "stopped"
            else:
                states[infohash] = "active"
        return states

    async def raw_infohash_list(self, api: APIBase) -> list[str]:
        return list(await api.call("core.get_session_state"))

    async def raw_remove(self, api: APIBase, infohashes: list[str]) -> None:
        if not infohashes:
            return
        # remove_data=False: keep the content. The reply lists (id, error) for
        # each torrent that failed; an unknown id is not worth failing over.
        await api.call("core.remove_torrents", list(infohashes), False)

    raw_call = ("daemon.info", ())

    def check_raw_call_reply(self, reply: Any) -> None:
        assert isinstance(reply, str)
        assert re.fullmatch(r"\d+\.\d+\.\d+\S*", reply), reply


@contextlib.contextmanager
def targets(workdir: Path) -> Iterator[dict[str, Target]]:
    with native_and_container_targets("deluge", workdir, DelugeDaemon, lambda daemon: [DelugeTarget(daemon)]) as found:
        yield found
