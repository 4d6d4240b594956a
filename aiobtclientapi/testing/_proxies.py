"""Real proxies for tests: microsocks (SOCKS5), tinyproxy (HTTP CONNECT), danted (SOCKS4) from Debian's packages.

Each runs on a free loopback port in a temporary directory, like the client
daemons. :class:`ProxiedTarget` is another target's adapter reaching its
daemon through one of them: the contract suite runs once through each proxy
for every client (target ids ending in ``-via-socks5``,
``-via-socks5-password`` and ``-via-http-proxy``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import aiobtclientapi
from aiobtclientapi import APIBase
from aiobtclientapi._registry import CLIENTS, parse_url
from aiobtclientapi.testing._daemon import Daemon, free_port, port_open, require_binary
from aiobtclientapi.testing._targets import RawState, Target


class ProxyDaemon(Daemon):
    """A proxy process on a free loopback port; :attr:`url` is its proxy URL, credentials and all."""

    scheme = ""
    username = ""
    password = ""

    def __init__(self, workdir: Path, *, with_password: bool = False) -> None:
        super().__init__(workdir)
        self.port = free_port()
        self.with_password = with_password
        if with_password:
            self.username, self.password = "proxy-user", "proxy-Pa55word"

    def is_ready(self) -> bool:
        return port_open(self.port)

    @property
    def url(self) -> str:
        credentials = f"{self.username}:{self.password}@" if self.with_password else ""
        return f"{self.scheme}://{credentials}127.0.0.1:{self.port}"

    def url_with_password(self, password: str) -> str:
        return f"{self.scheme}://{self.username or 'someone'}:{password}@127.0.0.1:{self.port}"


class Microsocks(ProxyDaemon):
    """microsocks: SOCKS5, with or without a username and password."""

    client = "microsocks"
    scheme = "socks5"

    def command(self) -> Sequence[str]:
        argv = [require_binary("microsocks"), "-i", "127.0.0.1", "-p", str(self.port)]
        if self.with_password:
            argv += ["-u", self.username, "-P", self.password]
        return argv


class Tinyproxy(ProxyDaemon):
    """tinyproxy: HTTP CONNECT to any port, or (`connect_ports`) to these only."""

    client = "tinyproxy"
    scheme = "http"

    def __init__(self, workdir: Path, *, with_password: bool = False, connect_ports: Sequence[int] = ()) -> None:
        super().__init__(workdir, with_password=with_password)
        self.connect_ports = tuple(connect_ports)

    def prepare(self) -> None:
        lines = [
            f"Port {self.port}",
            "Listen 127.0.0.1",
            "Timeout 600",
            "MaxClients 200",
            "LogLevel Info",
            "Allow 127.0.0.1",
            "DisableViaHeader Yes",
            *(f"ConnectPort {port}" for port in self.connect_ports),  # none: every port
        ]
        if self.with_password:
            lines.append(f"BasicAuth {self.username} {self.password}")
        (self.workdir / "tinyproxy.conf").write_text("\n".join(lines) + "\n")

    def command(self) -> Sequence[str]:
        return [require_binary("tinyproxy"), "-d", "-c", str(self.workdir / "tinyproxy.conf")]


class Dante(ProxyDaemon):
    """Dante's danted: SOCKS4 (and 4a) without a user ID check."""

    client = "danted"
    scheme = "socks4"

    def prepare(self) -> None:
        (self.workdir / "danted.conf").write_text(
            f"""logoutput: {self.workdir / "danted.log"}
internal: 127.0.0.1 port = {self.port}
external: 127.0.0.1
clientmethod: none
socksmethod: none
user.unprivileged: nobody
client pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 }}
socks pass {{
    from: 127.0.0.0/8 to: 0.0.0.0/0
    command: connect
    log: connect
}}
"""
        )

    def connected_to(self, port: int) -> bool:
        """Whether the proxy has opened a connection to 127.0.0.1:`port` (its log says so)."""
        log = self.workdir / "danted.log"
        lines = log.read_text(errors="replace").splitlines() if log.exists() else []
        return any("tcp/connect [" in line and line.endswith(f" 127.0.0.1.{port}") for line in lines)

    def command(self) -> Sequence[str]:
        conf, pid = self.workdir / "danted.conf", self.workdir / "danted.pid"
        return [require_binary("danted"), "-f", str(conf), "-p", str(pid), "-N", "1"]


#: The proxies the contract suite runs through: target id suffix → how to make the proxy.
PROXY_KINDS: dict[str, Any] = {
    "via-socks5": lambda workdir: Microsocks(workdir),
    "via-socks5-password": lambda workdir: Microsocks(workdir, with_password=True),
    "via-http-proxy": lambda workdir: Tinyproxy(workdir, with_password=True),
}


def proxied_ids(ids: Sequence[str]) -> list[str]:
    """Ids of the native daemons' targets among `ids` (one per daemon), once through each proxy kind.

    rTorrent's is its SCGI target: its HTTP goes through aiohttp-socks as the
    other HTTP clients' does, and a unix socket through no proxy.
    """
    from aiobtclientapi.testing._containers import is_container_target
    from aiobtclientapi.testing._pool import one_transport_per_daemon

    daemons = one_transport_per_daemon([i for i in ids if i != "memory" and not is_container_target(i)])
    return [f"{target_id}-{kind}" for target_id in daemons for kind in PROXY_KINDS]


def split_proxied_id(target_id: str) -> tuple[str, str] | None:
    """(the target's own id, the proxy kind) of a proxied target's id; None for another id."""
    for kind in PROXY_KINDS:
        if target_id.endswith(f"-{kind}"):
            return target_id.removesuffix(f"-{kind}"), kind
    return None


@contextlib.contextmanager
def started_proxy(kind: str, workdir: Path) -> Iterator[ProxyDaemon]:
    """A proxy of `kind` (a key of :data:`PROXY_KINDS`), running until the block ends."""
    workdir.mkdir(parents=True, exist_ok=True)
    proxy: ProxyDaemon = PROXY_KINDS[kind](workdir)
    try:
        proxy.start(timeout=15)
        yield proxy
    finally:
        proxy.stop()


def closed_port_url(client: str, url: str) -> str:
    """`url` (in `client`'s format) moved to a loopback port where nothing listens."""
    parsed = parse_url(client, url)
    port = free_port()
    if not CLIENTS[client].rules.scheme_prefix:
        return f"127.0.0.1:{port}"
    return f"{parsed.scheme}://127.0.0.1:{port}{parsed.path}"


class ProxiedTarget(Target):
    """`base`'s daemon, reached through `proxy`: API objects and btclient get ``proxy=``."""

    def __init__(self, base: Target, kind: str, proxy: ProxyDaemon) -> None:
        self.base = base
        self.proxy = proxy
        self.id = f"{base.id}-{kind}"
        self.client = base.client
        self.download_dir = base.download_dir
        self.url = base.url
        self.cli_options = (*base.cli_options, "--proxy", proxy.url)
        self.daemon = base.daemon
        self.raw_call = base.raw_call

    def __getattr__(self, name: str) -> Any:
        # What a client's own target adds (rTorrent's transport, ...).
        return getattr(self.base, name)

    def make_api(self, **kwargs: Any) -> APIBase:
        return self.base.make_api(proxy=self.proxy.url, **kwargs)

    def make_api_wrong_password(self) -> APIBase:
        scheme = parse_url(self.client, self.url).scheme
        if not CLIENTS[self.client].rules.schemes[scheme].auth:
            pytest.skip(f"{scheme.upper()} has no authentication: nothing checks a password")
        return self.base.make_api(password="wrong-password", proxy=self.proxy.url)

    def make_api_closed_port(self) -> APIBase:
        return aiobtclientapi.api(self.client, closed_port_url(self.client, self.url), proxy=self.proxy.url, timeout=5)

    async def raw_states(self, api: APIBase, infohashes: list[str]) -> dict[str, RawState]:
        return await self.base.raw_states(api, infohashes)

    async def raw_infohash_list(self, api: APIBase) -> list[str]:
        return await self.base.raw_infohash_list(api)

    async def raw_remove(self, api: APIBase, infohashes: list[str]) -> None:
        await self.base.raw_remove(api, infohashes)

    def check_raw_call_reply(self, reply: Any) -> None:
        self.base.check_raw_call_reply(reply)
