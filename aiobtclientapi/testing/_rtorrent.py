"""rTorrent daemons (SCGI on TCP and on a unix socket) and nginx in front of
the TCP one (HTTP and HTTPS with basic auth), as contract-suite targets.

rTorrent opens a single SCGI listener, so two daemons run: one with
``network.scgi.open_port`` and one with ``network.scgi.open_local``. The
native ones are Debian 12's 0.9.8; with ``BTC_CONTAINERS=1`` the same pair
(and a native nginx in front of the TCP one) runs in each client image too,
e.g. "rtorrent-0.16.17-forky-scgi".
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import socket
import subprocess
import warnings
import xmlrpc.client
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import aiobtclientapi
from aiobtclientapi import APIBase
from aiobtclientapi.testing._containers import ContainerRunner, container_labels, container_targets
from aiobtclientapi.testing._daemon import Daemon, NativeRunner, free_port, port_open, require_binary
from aiobtclientapi.testing._targets import RawState, Target

#: Transports of the targets on each daemon pair, in target_ids() order.
TRANSPORTS = ("scgi", "socket", "http", "https")

#: rTorrent 0.9.8's default network.xmlrpc.size_limit: users' daemons keep it, so
#: the tests do too (the adapter must chunk its multicalls under it).
XMLRPC_SIZE_LIMIT = 524288


def scgi_call(address: str | tuple[str, int], method: str, *params: Any, timeout: float = 5.0) -> Any:
    """A tiny blocking XML-RPC-over-SCGI client for readiness probes (trusted peer)."""
    body = xmlrpc.client.dumps(params, method).encode()
    headers = b"CONTENT_LENGTH\0%d\0SCGI\x001\0" % len(body)
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(address)
        sock.sendall(b"%d:%s,%s" % (len(headers), headers, body))
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    _, _, xml = reply.partition(b"\r\n\r\n")
    return xmlrpc.client.loads(xml)[0][0]


@functools.cache
def rtorrent_version() -> str:
    """Version from the first line of ``rtorrent -h`` (cheap: no daemon)."""
    result = subprocess.run([require_binary("rtorrent"), "-h"], capture_output=True, text=True, timeout=30, check=False)
    match = re.search(r"version (\d+(?:\.\d+)+)", result.stdout + result.stderr)
    return match.group(1) if match else "unknown"


#: What rTorrent says, and exits, when its peer port is in use.
_PEER_PORT_TAKEN = "Could not open/bind port for listening"


class RtorrentDaemon(Daemon):
    """rTorrent listening for SCGI on a loopback TCP port or on a unix socket."""

    client = "rtorrent"

    def __init__(self, workdir: Path, runner: NativeRunner | None = None, *, socket_file: bool) -> None:
        super().__init__(workdir, runner)
        self.socket_file = socket_file
        self.session_dir = workdir / "session"
        self.rc_path = workdir / "rtorrent.rc"
        self.socket_path = workdir / "rpc.socket"
        self.scgi_port = 0 if socket_file else free_port()
        self.peer_port = free_port()
        self.dht_port = free_port()
        #: The daemon's own version, as system.client_version answers.
        self.version = runner.client_version("rtorrent") if isinstance(runner, ContainerRunner) else rtorrent_version()
        self.label = f"rtorrent-{self.version}"

    @property
    def address(self) -> str | tuple[str, int]:
        return str(self.socket_path) if self.socket_file else ("127.0.0.1", self.scgi_port)

    @property
    def url(self) -> str:
        return str(self.socket_path) if self.socket_file else f"scgi://127.0.0.1:{self.scgi_port}"

    def prepare(self) -> None:
        self.session_dir.mkdir(parents=True, exist_ok=True)
        listener = (
            f"network.scgi.open_local = {self.socket_path}"
            if self.socket_file
            else f"network.scgi.open_port = 127.0.0.1:{self.scgi_port}"
        )
        # DHT runs, bound to loopback with no nodes to bootstrap from: rTorrent
        # 0.9.8 refuses a trackerless magnet ("Could not find any trackers")
        # unless DHT is running, and users add bare infohashes.
        self.rc_path.write_text(
            "\n".join(
                [
                    f"session.path.set = {self.session_dir}",
                    f"directory.default.set = {self.download_dir}",
                    listener,
                    "system.daemon.set = true",
                    "network.bind_address.set = 127.0.0.1",
                    f"network.port_range.set = {self.peer_port}-{self.peer_port}",
                    "network.port_random.set = no",
                    "dht.mode.set = on",
                    f"dht.port.set = {self.dht_port}",
                    "protocol.pex.set = no",
                    "trackers.use_udp.set = no",
                    f"network.xmlrpc.size_limit.set = {XMLRPC_SIZE_LIMIT}",
                    f'log.open_file = "main", "{self.workdir / "rtorrent-events.log"}"',
                    'log.add_output = "info", "main"',
                    "",
                ]
            )
        )

    def start(self, timeout: float = 60.0) -> None:
        """Start rTorrent; on another peer port if the one chosen was taken meanwhile.

        The peer port was free when chosen, but until rTorrent binds it any
        program's outgoing connection may get it as its local port (seen once
        after a benchmark's thousands of loopback connections). Nothing reads
        the peer port from outside, so rTorrent is started again on new ones,
        with a warning.
        """
        try:
            super().start(timeout)
        except RuntimeError as exc:
            if _PEER_PORT_TAKEN not in str(exc):
                raise
            taken = self.peer_port
            self.peer_port, self.dht_port = free_port(), free_port()
            warnings.warn(
                f"{self.label}: peer port {taken} was taken before it started; started again on {self.peer_port}",
                stacklevel=2,
            )
            self.prepare()
            super().start(timeout)

    def clear_leftovers(self) -> None:
        # A killed rTorrent leaves its session lock ("host:+PID") behind. In a
        # container the next one gets the same PID and takes it for a live one's.
        (self.session_dir / "rtorrent.lock").unlink(missing_ok=True)

    def command(self) -> Sequence[str]:
        return [self.runner.executable("rtorrent"), "-n", "-o", f"import={self.rc_path}"]

    def is_ready(self) -> bool:
        try:
            return bool(scgi_call(self.address, "system.client_version", timeout=1.0))
        except (OSError, xmlrpc.client.Error, IndexError):
            return False


class NginxDaemon(Daemon):
    """nginx passing /RPC2 to an rTorrent's SCGI port, over HTTP and HTTPS, with basic auth."""

    client = "nginx"

    def __init__(self, workdir: Path, scgi_port: int) -> None:
        super().__init__(workdir)
        self.scgi_port = scgi_port
        self.http_port = free_port()
        self.https_port = free_port()
        self.conf_path = workdir / "nginx.conf"
        self.htpasswd_path = workdir / "htpasswd"
        self.cert_path = workdir / "cert.pem"
        self.key_path = workdir / "key.pem"

    def url_for(self, scheme: str, password: str | None = None) -> str:
        port = self.https_port if scheme == "https" else self.http_port
        return f"{scheme}://{self.username}:{password or self.password}@127.0.0.1:{port}/RPC2"

    @property
    def url(self) -> str:
        return self.url_for("http")

    def prepare(self) -> None:
        openssl = self.runner.executable("openssl")
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-keyout", str(self.key_path), "-out", str(self.cert_path),
             "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        hashed = subprocess.run(
            [openssl, "passwd", "-apr1", self.password], check=True, capture_output=True, text=True, timeout=30
        ).stdout.strip()
        self.htpasswd_path.write_text(f"{self.username}:{hashed}\n")
        temp = self.workdir / "temp"
        temp.mkdir(exist_ok=True)
        location = f"""
            location /RPC2 {{
                auth_basic "rtorrent";
                auth_basic_user_file {self.htpasswd_path};
                include /etc/nginx/scgi_params;
                scgi_pass 127.0.0.1:{self.scgi_port};
            }}"""
        # Run as the current user (a root master would hand workers to "nobody",
        # who can't read the temp dir); bodies and replies stay in memory.
        user = "user root root;" if os.geteuid() == 0 else ""
        self.conf_path.write_text(
            f"""
{user}
worker_processes 1;
pid {self.workdir / "nginx.pid"};
error_log {self.workdir / "nginx-error.log"} info;
events {{ worker_connections 256; }}
http {{
    access_log {self.workdir / "nginx-access.log"};
    client_body_temp_path {temp / "body"};
    proxy_temp_path {temp / "proxy"};
    fastcgi_temp_path {temp / "fastcgi"};
    uwsgi_temp_path {temp / "uwsgi"};
    scgi_temp_path {temp / "scgi"};
    client_max_body_size 16m;
    client_body_buffer_size 16m;
    scgi_read_timeout 60s;
    server {{
        listen 127.0.0.1:{self.http_port};
        {location}
    }}
    server {{
        listen 127.0.0.1:{self.https_port} ssl;
        ssl_certificate {self.cert_path};
        ssl_certificate_key {self.key_path};
        {location}
    }}
}}
"""
        )

    def command(self) -> Sequence[str]:
        return [
            self.runner.executable("nginx"),
            "-c", str(self.conf_path),
            "-p", str(self.workdir),
            "-e", str(self.workdir / "nginx-error.log"),
            "-g", "daemon off;",
        ]  # fmt: skip

    def is_ready(self) -> bool:
        return port_open(self.http_port) and port_open(self.https_port)


def daemon_labels() -> list[str]:
    """The native daemons' label, then each container image's ("rtorrent-0.16.17-forky")."""
    return [f"rtorrent-{rtorrent_version()}", *container_labels("rtorrent")]


#: The transports of a container's rTorrent: its own listeners. Its HTTP(S) targets
#: would put the host's nginx before the same SCGI listener: what they add over SCGI
#: (nginx, our HTTP layer) is not the rTorrent version's, and the native daemon covers it.
CONTAINER_TRANSPORTS = ("scgi", "socket")


def target_ids() -> list[str]:
    native, *containers = daemon_labels()
    return [f"{native}-{transport}" for transport in TRANSPORTS] + [
        f"{label}-{transport}" for label in containers for transport in CONTAINER_TRANSPORTS
    ]


class RtorrentTarget(Target):
    client = "rtorrent"

    daemon: RtorrentDaemon

    def __init__(
        self,
        transport: str,
        daemon: RtorrentDaemon,
        nginx: NginxDaemon | None = None,
    ) -> None:
        self.transport = transport
        self.daemon = daemon
        self.nginx = nginx
        self.id = f"{daemon.label}-{transport}"
        self.download_dir = daemon.download_dir
        self.url = nginx.url_for(transport) if nginx is not None else daemon.url
        if transport == "https" and nginx is not None:
            self.cli_options = ("--tls-ca-file", str(nginx.cert_path))

    def _api(self, url: str, **kwargs: Any) -> APIBase:
        if self.transport == "https" and self.nginx is not None:
            kwargs.setdefault("tls_ca_file", str(self.nginx.cert_path))
        return aiobtclientapi.api("rtorrent", url, **kwargs)

    def make_api(self, **kwargs: Any) -> APIBase:
        return self._api(self.url, **kwargs)

    def make_api_wrong_password(self) -> APIBase:
        if self.nginx is None:
            pytest.skip("SCGI has no authentication: nothing checks a password")
        return self._api(self.nginx.url_for(self.transport, password="wrong"))

    def make_api_closed_port(self) -> APIBase:
        if self.transport == "socket":
            return self._api(str(self.daemon.workdir / "no-such.socket"))
        if self.transport == "scgi":
            return self._api(f"scgi://127.0.0.1:{free_port()}")
        return self._api(f"{self.transport}://tester:pw@127.0.0.1:{free_port()}/RPC2")

    async def raw_rows(self, api: APIBase) -> list[list[Any]]:
        rows: list[list[Any]] = await api.call(
            "d.multicall2", "", "main", "d.hash=", "d.is_open=", "d.is_active=", "d.hashing=", "d.state="
        )
        return rows

    async def raw_states(self, api: APIBase, infohashes: list[str]) -> dict[str, RawState]:
        wanted = set(infohashes)
        states: dict[str, RawState] = {}
        for infohash, is_open, is_active, hashing, _ in await self.raw_rows(api):
            infohash = infohash.lower()
            if infohash not in wanted:
                continue
            # hashing is non-zero while checked and while queued for a check.
            if hashing:
                states[infohash] = "verifying"
            elif is_open and is_active:
                states[infohash] = "active"
            else:
                states[infohash] = "stopped"
        return states

    async def raw_infohash_list(self, api: APIBase) -> list[str]:
        return [row[0].lower() for row in await self.raw_rows(api)]

    async def raw_remove(self, api: APIBase, infohashes: list[str]) -> None:
        # d.erase keeps the data; an unknown infohash faults for its item only.
        for start in range(0, len(infohashes), 200):
            calls = [{"methodName": "d.erase", "params": [h.upper()]} for h in infohashes[start : start + 200]]
            await api.call("system.multicall", calls)

    raw_call = ("system.client_version", ())

    def check_raw_call_reply(self, reply: Any) -> None:
        assert reply == self.daemon.version


def _pair_targets(
    stack: contextlib.ExitStack, tcp: RtorrentDaemon, unix: RtorrentDaemon, nginx_dir: Path
) -> list[RtorrentTarget]:
    """The four targets on a TCP and a unix-socket daemon; starts a (native) nginx for HTTP(S)."""
    nginx = NginxDaemon(nginx_dir, scgi_port=tcp.scgi_port)
    stack.callback(nginx.stop)
    nginx.start()
    return [
        RtorrentTarget("scgi", tcp),
        RtorrentTarget("socket", unix),
        RtorrentTarget("http", tcp, nginx),
        RtorrentTarget("https", tcp, nginx),
    ]


@contextlib.contextmanager
def targets(workdir: Path) -> Iterator[dict[str, Target]]:
    tcp = RtorrentDaemon(workdir / "tcp", socket_file=False)
    unix = RtorrentDaemon(workdir / "socket", socket_file=True)
    with contextlib.ExitStack() as stack:
        for daemon in (tcp, unix):
            stack.callback(daemon.stop)
            daemon.start()
        found: list[Target] = list(_pair_targets(stack, tcp, unix, workdir / "nginx"))
        # rTorrent opens one SCGI listener: a TCP daemon and a socket daemon per image.
        tcp_targets = stack.enter_context(
            container_targets(
                "rtorrent",
                workdir / "containers-tcp",
                lambda path, runner: RtorrentDaemon(path, runner, socket_file=False),
                lambda daemon: [RtorrentTarget("scgi", daemon)],
            )
        )
        unix_targets = stack.enter_context(
            container_targets(
                "rtorrent",
                workdir / "containers-socket",
                lambda path, runner: RtorrentDaemon(path, runner, socket_file=True),
                lambda daemon: [RtorrentTarget("socket", daemon)],
            )
        )
        found += [*tcp_targets.values(), *unix_targets.values()]
        yield {target.id: target for target in found}
