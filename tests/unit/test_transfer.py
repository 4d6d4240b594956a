"""transfer() between two in-memory clients, and the path mapping it uses.

The memory adapter checks data by the files' sizes at the torrent's
location, so a wrong path shows as missing data, as on a real client. The
real daemons' pairs are in tests/integration/test_transfer.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers

import aiobtclientapi
from aiobtclientapi import APIBase, TransferProgress
from aiobtclientapi.adapters.memory import MemoryAdapter
from aiobtclientapi.container import container
from aiobtclientapi.domain import errors
from aiobtclientapi.domain.paths import map_path, parse_path_map
from aiobtclientapi.domain.torrent import TorrentState
from aiobtclientapi.testing._torrents import TestTorrent, make_torrent


@pytest.mark.parametrize(
    ("path", "path_map", "expected"),
    [
        ("/data/tv/show", {"/data": "/srv"}, "/srv/tv/show"),
        ("/data", {"/data": "/srv"}, "/srv"),
        ("/database/x", {"/data": "/srv"}, "/database/x"),  # whole folder names only
        ("/data/tv/show", {"/data": "/srv", "/data/tv": "/media/tv"}, "/media/tv/show"),  # longest first
        ("/data/tv/", {"/data/": "/srv/"}, "/srv/tv"),
        ("/data/tv", {"/data": "D:\\torrents"}, "D:\\torrents\\tv"),
        ("C:\\data\\tv", {"C:\\data": "/srv"}, "/srv/tv"),
        ("/other", {}, "/other"),
    ],
)
def test_map_path(path: str, path_map: dict[str, str], expected: str) -> None:
    assert map_path(path, parse_path_map(path_map)) == expected


@pytest.mark.parametrize("path_map", [{"data": "/srv"}, {"/data": "srv"}, {"/data": ""}])
def test_path_map_sides_must_be_absolute(path_map: dict[str, str]) -> None:
    with pytest.raises(errors.ValueError, match="both sides must be absolute"):
        parse_path_map(path_map)


def _api(client: str, host: str, **kwargs: object) -> APIBase:
    with container.port.override(providers.Singleton(MemoryAdapter, **kwargs)):
        return aiobtclientapi.api(client, host)


@pytest.fixture
def apis() -> Iterator[tuple[APIBase, APIBase]]:
    yield _api("qbittorrent", "source.local", verify_seconds=0.05), _api("deluge", "target.local", verify_seconds=0.05)


async def _seeded(api: APIBase, tmp_path: Path) -> tuple[TestTorrent, TestTorrent]:
    """A started multi-file torrent labeled "tv" and a stopped single-file one, complete."""
    data = tmp_path / "data"
    multi = make_torrent(data, tmp_path / "torrents", files=3)
    single = make_torrent(data, tmp_path / "torrents")
    assert (await api.add(str(multi.torrent_path), location=str(data), label="tv")).success
    assert (await api.add(str(single.torrent_path), location=str(data), stopped=True)).success
    async for _ in api.verify_wait(multi.infohash, single.infohash, interval=0.01):
        pass
    return multi, single


async def _states(api: APIBase, *infohashes: str) -> dict[str, tuple[TorrentState, float, str | None, str]]:
    torrents = await api.get_torrents(*infohashes, attributes=["state", "progress", "label", "save_path"])
    return {t.infohash: (t.state, t.progress, t.label, t.save_path) for t in torrents}  # type: ignore[misc]


async def test_moves_state_label_and_path(apis: tuple[APIBase, APIBase], tmp_path: Path) -> None:
    source, target = apis
    multi, single = await _seeded(source, tmp_path)
    steps: list[TransferProgress] = []

    response = await aiobtclientapi.transfer(source, target, multi.infohash, single.infohash, on_progress=steps.append)

    assert (response.errors, response.warnings) == ([], [])
    assert response.transferred == [multi.infohash, single.infohash]
    data = str(tmp_path / "data")
    assert await _states(target, multi.infohash, single.infohash) == {
        multi.infohash: (TorrentState.seeding, 1.0, "tv", data),
        single.infohash: (TorrentState.stopped, 1.0, None, data),
    }
    # Kept, stopped: never two clients seeding the same files.
    assert {t.infohash: t.state for t in await source.get_torrents(attributes=["state"])} == {
        multi.infohash: TorrentState.stopped,
        single.infohash: TorrentState.stopped,
    }
    assert [(s.step, s.done, s.total) for s in steps if s.done == s.total] == [
        ("reading", 2, 2),
        ("adding", 2, 2),
        ("verifying", 2, 2),
        ("labeling", 1, 1),
        ("stopping", 1, 1),
        ("starting", 1, 1),
    ]

    again = await aiobtclientapi.transfer(source, target, multi.infohash, single.infohash)
    assert (again.errors, again.transferred) == ([], [])
    assert again.already_transferred == [multi.infohash, single.infohash]
    assert again.warnings == [
        errors.TorrentAlreadyTransferred(multi.infohash, multi.name),
        errors.TorrentAlreadyTransferred(single.infohash, single.name),
    ]


async def test_remove_source_and_a_run_after_it(apis: tuple[APIBase, APIBase], tmp_path: Path) -> None:
    source, target = apis
    multi, single = await _seeded(source, tmp_path)

    response = await aiobtclientapi.transfer(source, target, multi.infohash, single.infohash, remove_source=True)

    assert response.errors == [] and response.transferred == [multi.infohash, single.infohash]
    assert await source.get_infohashes() == []
    assert (tmp_path / "data" / multi.name).is_dir() and (tmp_path / "data" / single.name).is_file()
    again = await aiobtclientapi.transfer(source, target, multi.infohash, single.infohash, remove_source=True)
    assert (again.errors, again.already_transferred) == ([], [multi.infohash, single.infohash])


async def test_path_map_points_the_target_at_its_view_of_the_disk(
    apis: tuple[APIBase, APIBase], tmp_path: Path
) -> None:
    source, target = apis
    multi, _ = await _seeded(source, tmp_path)
    (tmp_path / "data").rename(tmp_path / "moved")

    wrong = await aiobtclientapi.transfer(source, target, multi.infohash)
    right = await aiobtclientapi.transfer(
        source, target, multi.infohash, path_map={str(tmp_path / "data"): str(tmp_path / "moved")}
    )

    assert wrong.errors == [
        errors.TransferTorrentError(
            f"{multi.name}: The target found 0.0 % of its data at {tmp_path / 'data' / multi.name}, "
            "the source has 100.0 %"
        )
    ]
    assert right.errors == [] and right.transferred == [multi.infohash]
    assert (await _states(target, multi.infohash))[multi.infohash][3] == str(tmp_path / "moved")


async def test_a_failed_torrent_is_left_as_it_was(apis: tuple[APIBase, APIBase], tmp_path: Path) -> None:
    source, target = apis
    multi, single = await _seeded(source, tmp_path)
    for path in (tmp_path / "data" / multi.name).iterdir():
        path.write_bytes(b"short")  # the source's word stands until it checks again

    response = await aiobtclientapi.transfer(source, target, multi.infohash, single.infohash)

    assert [str(e).split(":")[0] for e in response.errors] == [multi.name]
    assert response.transferred == [single.infohash]
    assert await target.get_infohashes() == [single.infohash]  # added, then removed again
    assert (await _states(source, multi.infohash))[multi.infohash][:3] == (TorrentState.seeding, 1.0, "tv")


async def test_the_target_has_it_elsewhere(apis: tuple[APIBase, APIBase], tmp_path: Path) -> None:
    source, target = apis
    multi, _ = await _seeded(source, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert (await target.add(str(multi.torrent_path), location=str(elsewhere), stopped=True)).success

    response = await aiobtclientapi.transfer(source, target, multi.infohash)

    assert response.errors == [
        errors.TransferTorrentError(
            f"{multi.name}: The target has it already, with its content at {elsewhere / multi.name}, "
            f"not {tmp_path / 'data' / multi.name}"
        )
    ]
    assert (await _states(source, multi.infohash))[multi.infohash][0] is TorrentState.seeding


async def test_arguments_that_name_nothing_to_do(apis: tuple[APIBase, APIBase]) -> None:
    source, target = apis
    unknown = "a" * 40
    response = await aiobtclientapi.transfer(source, target, "not-a-hash", unknown, path_map={"/a": "/b"})
    assert response.errors == [
        errors.ValueError("Invalid infohash: 'not-a-hash'"),
        errors.NoSuchTorrentError(unknown),
    ]
    assert (await aiobtclientapi.transfer(source, source, unknown)).errors == [
        errors.ValueError(f"Source and target are the same client: {source.url}")
    ]
    assert (await aiobtclientapi.transfer(source, target, unknown, path_map={"a": "/b"})).errors == [
        errors.ValueError("Invalid path map 'a'='/b': both sides must be absolute paths")
    ]
    assert (await aiobtclientapi.transfer(source, target)).transferred == []
    not_an_api: Any = "transmission://localhost"
    assert (await aiobtclientapi.transfer(not_an_api, target, unknown)).errors == [
        errors.ValueError("The source is not an API object: str")
    ]


async def test_an_unreachable_target_leaves_the_source_alone(tmp_path: Path) -> None:
    source = _api("qbittorrent", "source.local", verify_seconds=0.01)
    target = _api("deluge", "target.local", reachable=False)
    multi, single = await _seeded(source, tmp_path)

    response = await aiobtclientapi.transfer(source, target, multi.infohash, single.infohash, remove_source=True)

    assert response.transferred == [] and len(response.errors) == 1
    assert isinstance(response.errors[0], errors.ConnectionError)
    assert (await _states(source, multi.infohash))[multi.infohash][0] is TorrentState.seeding
    assert sorted(await source.get_infohashes()) == sorted([multi.infohash, single.infohash])
