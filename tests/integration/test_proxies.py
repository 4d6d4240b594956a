"""Each client through a proxy that fails: the error names the proxy, never a password.

The contract suite runs through each working proxy (``-via-...`` targets).
Here the proxies are real ones set up to fail (microsocks and tinyproxy with
a password we get wrong, tinyproxy allowing CONNECT to port 443 only), a
port where no proxy listens, and two proxies written here: one that never
answers and one that answers garbage. Each case runs once per client: the
three ways connections open (aiohttp for the HTTP clients, Deluge's TLS
socket, rTorrent's SCGI) each get every failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import aiobtclientapi
from aiobtclientapi import APIBase
from aiobtclientapi._registry import parse_url
from aiobtclientapi.testing._containers import is_container_target
from aiobtclientapi.testing._daemon import free_port
from aiobtclientapi.testing._pool import TargetPool, all_target_ids, one_transport_per_daemon
from aiobtclientapi.testing._proxies import Dante, Microsocks, ProxyDaemon, Tinyproxy, closed_port_url
from aiobtclientapi.testing._targets import Target
from aiobtclientapi.testing._torrents import make_torrent
from tests.cli.test_btclient import btclient
from tests.peers import serving_streams

#: One target per native daemon: rTorrent's is its SCGI one (python-socks; its HTTP goes as qBittorrent's does).
DAEMON_IDS = [i for i in one_transport_per_daemon(all_target_ids(include_memory=False)) if not is_container_target(i)]

UNKNOWN = "0123456789abcdef0123456789abcdef01234567"
TIMEOUT = 3.0


@pytest.fixture(scope="module", params=DAEMON_IDS)
def client(request: pytest.FixtureRequest, target_pool: TargetPool) -> Target:
    return target_pool.get(request.param)


@pytest.fixture(scope="module")
def proxies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ProxyDaemon]]:
    workdir = tmp_path_factory.mktemp("proxies")
    running: dict[str, ProxyDaemon] = {
        "socks5": Microsocks(workdir / "socks5", with_password=True),
        "http": Tinyproxy(workdir / "http", with_password=True),
        "http-443-only": Tinyproxy(workdir / "http-443-only", connect_ports=[443]),
        "socks4": Dante(workdir / "socks4"),
    }
    try:
        for proxy in running.values():
            proxy.start(timeout=15)
        yield running
    finally:
        for proxy in running.values():
            proxy.stop()


def _through(client: Target, proxy_url: str) -> APIBase:
    return client.make_api(proxy=proxy_url, timeout=TIMEOUT)


async def _fails(api: APIBase, error: type[aiobtclientapi.Error], proxy_shown: str) -> str:
    """The message of `error`, raised by a call and reported in a Response, naming the proxy."""
    started = time.monotonic()
    with pytest.raises(error) as info:
        await api.get_infohashes()
    assert time.monotonic() - started < TIMEOUT + 2
    message = str(info.value)
    assert message.startswith(f"Proxy {proxy_shown}: "), message
    response = await api.stop(UNKNOWN)
    assert not response.success
    assert isinstance(response.errors[0], error)
    assert str(response.errors[0]) == message
    await api.disconnect()
    return message


def _names_no_client(message: str, client: Target) -> None:
    # The proxy failed, not the client: its URL isn't what the message is about.
    assert str(parse_url(client.client, client.url)) not in message


@pytest.mark.parametrize("scheme", ["socks5", "http"])
async def test_no_proxy_listening(client: Target, scheme: str) -> None:
    port = free_port()
    api = _through(client, f"{scheme}://someone:proxy-secret@127.0.0.1:{port}")
    message = await _fails(api, aiobtclientapi.ConnectionError, f"{scheme}://someone:***@127.0.0.1:{port}")
    assert "can't connect to the proxy" in message
    assert "proxy-secret" not in message and "proxy-secret" not in repr(api)
    _names_no_client(message, client)


@pytest.mark.parametrize("kind", ["socks5", "http"])
async def test_wrong_proxy_password(client: Target, proxies: dict[str, ProxyDaemon], kind: str) -> None:
    proxy = proxies[kind]
    api = _through(client, proxy.url_with_password("wrong-proxy-secret"))
    shown = f"{proxy.scheme}://{proxy.username}:***@127.0.0.1:{proxy.port}"
    message = await _fails(api, aiobtclientapi.AuthenticationError, shown)
    assert "wrong username or password" in message
    assert "wrong-proxy-secret" not in message and "wrong-proxy-secret" not in repr(api)
    _names_no_client(message, client)


@pytest.mark.parametrize("kind", ["socks5", "http"])
async def test_no_credentials_for_a_proxy_that_wants_them(
    client: Target, proxies: dict[str, ProxyDaemon], kind: str
) -> None:
    proxy = proxies[kind]
    shown = f"{proxy.scheme}://127.0.0.1:{proxy.port}"
    message = await _fails(_through(client, shown), aiobtclientapi.AuthenticationError, shown)
    assert "no credentials" in message


async def test_proxy_refuses_the_client(client: Target, proxies: dict[str, ProxyDaemon]) -> None:
    proxy = proxies["http-443-only"]
    message = await _fails(_through(client, proxy.url), aiobtclientapi.ConnectionError, proxy.url)
    assert "refused to connect to 127.0.0.1:" in message and "(HTTP 403)" in message


async def test_socks_proxy_cannot_reach_the_client(client: Target, proxies: dict[str, ProxyDaemon]) -> None:
    proxy = proxies["socks5"]
    address = closed_port_url(client.client, client.url)
    port = parse_url(client.client, address).port
    api = aiobtclientapi.api(client.client, address, proxy=proxy.url, timeout=TIMEOUT)
    shown = f"socks5://{proxy.username}:***@127.0.0.1:{proxy.port}"
    message = await _fails(api, aiobtclientapi.ConnectionError, shown)
    assert message.endswith(f"can't reach 127.0.0.1:{port}: connection refused"), message


async def test_proxy_that_never_answers(client: Target) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up

    async def times_out(scheme: str) -> None:
        async with serving_streams(silent) as port:
            shown = f"{scheme}://127.0.0.1:{port}"
            message = await _fails(_through(client, shown), aiobtclientapi.TimeoutError, shown)
            assert message.startswith(f"Proxy {shown}: timed out connecting to 127.0.0.1:"), message

    # Both at once: each waits out its timeouts.
    await asyncio.gather(times_out("socks5"), times_out("http"))


async def test_proxy_that_answers_garbage(client: Target) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.write(b"\x17\x03\x03 not a proxy at all\r\n\r\n")
        await writer.drain()
        await reader.read()

    for scheme in ("socks5", "http"):
        async with serving_streams(garbage) as port:
            shown = f"{scheme}://127.0.0.1:{port}"
            message = await _fails(_through(client, shown), aiobtclientapi.ConnectionError, shown)
            assert "invalid reply" in message, message


def test_a_unix_socket_is_not_reached_through_a_proxy(tmp_path: Path) -> None:
    with pytest.raises(aiobtclientapi.ValueError, match="unix socket can't be reached through a proxy"):
        aiobtclientapi.api("rtorrent", str(tmp_path / "rtorrent.socket"), proxy="socks5://127.0.0.1:1080")


async def test_btclient_through_a_proxy(client: Target, proxies: dict[str, ProxyDaemon]) -> None:
    proxy = proxies["socks5"]
    result = await btclient(
        "--debug", "--proxy", proxy.url, *client.cli_options, client.client, client.url, "get_session"
    )
    assert result.returncode == 0, result.stderr
    assert proxy.password not in result.stdout + result.stderr
    wrong = await btclient(
        "--proxy", proxy.url_with_password("wrong-proxy-secret"), *client.cli_options, client.client, client.url,
        "get_session",
    )  # fmt: skip
    shown = f"socks5://{proxy.username}:***@127.0.0.1:{proxy.port}"
    assert wrong.returncode != 0
    assert f"Proxy {shown}: authentication failed (wrong username or password)" in wrong.stdout + wrong.stderr
    assert "wrong-proxy-secret" not in wrong.stdout + wrong.stderr


async def test_through_a_socks4_proxy(client: Target, proxies: dict[str, ProxyDaemon], tmp_path: Path) -> None:
    # The contract suite runs through SOCKS5 and HTTP; SOCKS4(a) differs in the handshake only.
    torrent = make_torrent(client.download_dir, tmp_path)
    async with _through(client, proxies["socks4"].url) as api:
        response = await api.add(str(torrent.torrent_path), location=str(torrent.location), stopped=True)
        assert response.added == [torrent.infohash], response
        assert torrent.infohash in await api.get_infohashes()
        assert torrent.infohash in await client.raw_infohashes(api)
        await client.raw_remove(api, [torrent.infohash])
    proxy = proxies["socks4"]
    assert isinstance(proxy, Dante) and proxy.connected_to(parse_url(client.client, client.url).port or 0)
