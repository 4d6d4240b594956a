"""Service semantics, driven through the memory adapter swapped in by the container."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from dependency_injector import providers

import aiobtclientapi
from aiobtclientapi import APIBase, PollPolicy
from aiobtclientapi.adapters.memory import MemoryAdapter
from aiobtclientapi.container import container
from aiobtclientapi.testing._torrents import make_torrent


@pytest.fixture
def memory() -> Iterator[MemoryAdapter]:
    adapter = MemoryAdapter(verify_seconds=0.3)
    with container.port.override(providers.Object(adapter)):
        yield adapter


@pytest.fixture
async def api(memory: MemoryAdapter) -> AsyncIterator[APIBase]:
    api = aiobtclientapi.api("qbittorrent", "localhost", policy=PollPolicy(timeout=2, ambiguous_grace=0.1))
    async with api:
        yield api


async def test_container_override_gives_memory_adapter(memory: MemoryAdapter, api: APIBase) -> None:
    assert await api.get_infohashes() == []
    assert api.url is memory.url
    assert isinstance(api, aiobtclientapi.QbittorrentAPI)


async def test_duplicates_within_one_call(api: APIBase, tmp_path: Path) -> None:
    torrent = make_torrent(tmp_path / "data", tmp_path)
    response = await api.add(str(torrent.torrent_path), torrent.magnet, location=str(torrent.location))
    assert response.added == [torrent.infohash]
    assert response.already_added == [torrent.infohash]
    assert response.success


async def test_adapter_failures_are_per_torrent(api: APIBase, memory: MemoryAdapter, tmp_path: Path) -> None:
    good = make_torrent(tmp_path / "data", tmp_path)
    await api.add(str(good.torrent_path), location=str(good.location))
    async for _ in api.verify_wait(good.infohash, interval=0.01):
        pass
    magnet = make_torrent(tmp_path / "data", tmp_path, keep_content=False)
    await api.add(magnet.magnet)
    # The memory client can't verify a torrent without metadata: that one fails alone.
    response = await api.verify(good.infohash, magnet.infohash)
    assert response.verifying == [good.infohash]
    assert [type(e) for e in response.errors] == [aiobtclientapi.VerifyTorrentError]
    assert str(response.errors[0]) == f"{magnet.name}: Torrent has no metadata yet"


async def test_start_while_verifying_after_stopped_add(api: APIBase, memory: MemoryAdapter, tmp_path: Path) -> None:
    torrent = make_torrent(tmp_path / "data", tmp_path)
    response = await api.add(str(torrent.torrent_path), location=str(torrent.location), stopped=True)
    assert response.added == [torrent.infohash]
    assert memory.store[torrent.infohash].stopped
    started = await api.start(torrent.infohash)
    assert started.started == [torrent.infohash]
    assert not memory.store[torrent.infohash].stopped


async def test_verify_wait_interval_validation(api: APIBase) -> None:
    with pytest.raises(aiobtclientapi.ValueError):
        async for _ in api.verify_wait("0" * 40, interval=(2, 1)):
            pass


async def test_verify_wait_reports_progress_then_final(api: APIBase, tmp_path: Path) -> None:
    torrent = make_torrent(tmp_path / "data", tmp_path)
    await api.add(str(torrent.torrent_path), location=str(torrent.location), stopped=True)
    async for _ in api.verify_wait(torrent.infohash, interval=0.01):
        pass
    torrent.delete_content()
    await api.verify(torrent.infohash)
    values = [v async for _, v in api.verify_wait(torrent.infohash, interval=(0.01, 0.05))]
    assert len(values) >= 2
    assert values[-1] == 0.0  # content gone: nothing verified


async def test_not_connected_client_reports_errors_not_raises(tmp_path: Path) -> None:
    with container.port.override(providers.Factory(MemoryAdapter, reachable=False)):
        api = aiobtclientapi.api("deluge", "localhost")
    for method in (api.start, api.stop, api.verify):
        response = await method("0" * 40)
        assert not response.success
        assert isinstance(response.errors[0], aiobtclientapi.ConnectionError)
    values = [v async for _, v in api.verify_wait("0" * 40)]
    assert isinstance(values[0], aiobtclientapi.ConnectionError)
    with pytest.raises(aiobtclientapi.ConnectionError):
        await api.call("version")


def test_client_names_and_classes() -> None:
    assert aiobtclientapi.client_names() == ("deluge", "qbittorrent", "rtorrent", "transmission")
    assert aiobtclientapi.api_class("rtorrent") is aiobtclientapi.RtorrentAPI
    with pytest.raises(aiobtclientapi.ValueError, match="Unknown client"):
        aiobtclientapi.api_class("utorrent")
    api = aiobtclientapi.api("transmission", url="localhost:1234", username="a", password="b")
    assert isinstance(api, aiobtclientapi.TransmissionAPI)
    assert str(api.url) == "http://a:***@localhost:1234/transmission/rpc"
    assert aiobtclientapi.TransmissionAPI("a:b@localhost:1234").url.port == 1234


async def test_factory_override_gives_each_api_object_its_own_adapter() -> None:
    # The README's example: two API objects at once, each with its own fake.
    with container.port.override(providers.Factory(MemoryAdapter)):
        first = aiobtclientapi.api("qbittorrent", "localhost:1234")
        second = aiobtclientapi.api("deluge", "otherhost")
    assert first.port is not second.port
    assert (first.url.client, first.url.host, first.url.port) == ("qbittorrent", "localhost", 1234)
    assert (second.url.client, second.url.host) == ("deluge", "otherhost")
    seen_first: list[aiobtclientapi.ConnectionStatus] = []
    seen_second: list[aiobtclientapi.ConnectionStatus] = []
    first.on_status_change(seen_first.append)
    second.on_status_change(seen_second.append)
    await first.connect()
    assert seen_first == [aiobtclientapi.ConnectionStatus.connecting, aiobtclientapi.ConnectionStatus.connected]
    assert seen_second == []


async def test_only_regular_files_are_read_and_never_more_than_the_limit(api: APIBase, tmp_path: Path) -> None:
    from aiobtclientapi.application._sources import MAX_TORRENT_SIZE

    fifo = tmp_path / "fifo.torrent"
    os.mkfifo(fifo)
    sparse = tmp_path / "huge.torrent"
    with sparse.open("wb") as file:
        file.truncate(4 * MAX_TORRENT_SIZE)  # claims 128 MiB, takes no disk
    started = time.monotonic()
    response = await api.add(str(fifo), "/dev/zero", str(tmp_path), str(sparse))
    assert time.monotonic() - started < 5  # the fifo has no writer: opening must not wait for one
    assert [str(e) for e in response.errors] == [
        f"{fifo}: Not a regular file",
        "/dev/zero: Not a regular file",
        f"{tmp_path}: Is a directory",
        f"{sparse}: File too large (over {MAX_TORRENT_SIZE} bytes)",
    ]
    assert all(isinstance(e, aiobtclientapi.ReadError) for e in response.errors)
