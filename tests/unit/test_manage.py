"""Remove, move, reannounce, labels, limits, session and torrent files: the services'
semantics against a scripted fake daemon.

Each test asserts the whole Response and, where it matters, the port's round trips.
"""

from __future__ import annotations

import hashlib

import pytest

from aiobtclientapi.application.ports import ClientTiming
from aiobtclientapi.application.services import expected_limit, is_absolute
from aiobtclientapi.domain import errors
from aiobtclientapi.domain.response import (
    LabelResponse,
    LimitResponse,
    MoveResponse,
    ReannounceResponse,
    RemoveResponse,
)
from aiobtclientapi.domain.session import RateLimits
from aiobtclientapi.domain.torrent import TorrentState
from tests.unit.fake_port import NEVER, FakePort, Lag, Script
from tests.unit.test_confirmation import expect, infohash, service

A, B, C = infohash(1), infohash(2), infohash(3)
UNKNOWN = infohash(99)


def named(port: FakePort, number: int) -> str:
    return port.store[infohash(number)].name


# --- remove -------------------------------------------------------------------------------------
async def test_remove_confirms_each_torrent_is_gone_and_reports_unknown_ones() -> None:
    port = FakePort()
    port.put(A, script=Script(effect_lag=Lag(polls=2)))
    port.put(B)
    response = await service(port).remove([A, B, UNKNOWN, "nonsense"], delete_data=True)
    assert response == expect(
        RemoveResponse,
        removed=[A, B],
        errors=[errors.ValueError("Invalid infohash: 'nonsense'"), errors.NoSuchTorrentError(UNKNOWN)],
    )
    assert A not in port.store or port.store[A].removed
    assert port.requests("remove") == [(A, B)]
    assert [c.args for c in port.calls if c.method == "remove"] == [(True,)]


async def test_remove_reports_the_daemons_refusal_and_a_torrent_that_stays() -> None:
    port = FakePort()
    port.put(A, script=Script(fail={"remove": "Permission denied"}))
    port.put(B, script=Script(effect_lag=NEVER))
    response = await service(port).remove([A, B], delete_data=False)
    assert response == expect(
        RemoveResponse,
        errors=[
            errors.RemoveTorrentError(f"{named(port, 1)}: Permission denied"),
            errors.RemoveTorrentError(f"{named(port, 2)}: Torrent was not removed"),
        ],
    )
    # The one that stayed was asked again, alone.
    assert port.requests("remove")[0] == (A, B)
    assert set(port.requests("remove")[1:]) == {(B,)}


# --- move ---------------------------------------------------------------------------------------
async def test_move_waits_for_the_moving_state_to_end() -> None:
    port = FakePort()
    port.put(A, script=Script(effect_lag=Lag(polls=1), moving_for=Lag(polls=3)))
    port.put(B).save_path = "/new/"
    response = await service(port).move([A, B], "/new")
    assert response == expect(
        MoveResponse,
        moved=[A],
        already_moved=[B],
        warnings=[errors.TorrentAlreadyMoved(B, named(port, 2))],
    )
    assert port.store[A].save_path == "/new"
    assert port.requests("move") == [(A,)]


async def test_a_move_that_never_shows_fails_after_the_clients_grace() -> None:
    port = FakePort(timing=ClientTiming(move_shows_within=0.05))
    port.put(A, script=Script(move_lost=True))
    response = await service(port, timeout=5).move([A], "/new")
    assert response == expect(
        MoveResponse, errors=[errors.MoveTorrentError(f"{named(port, 1)}: Torrent was not moved")]
    )


async def test_a_client_that_shows_nothing_until_done_gets_the_whole_deadline() -> None:
    port = FakePort(timing=ClientTiming(move_shows_within=None))
    port.put(A, script=Script(effect_lag=Lag(seconds=0.1)))
    response = await service(port, timeout=2).move([A], "/new")
    assert response == expect(MoveResponse, moved=[A])


async def test_a_move_still_running_at_the_deadline_says_so() -> None:
    port = FakePort()
    port.put(A, script=Script(moving_for=NEVER))
    response = await service(port, timeout=0.1).move([A], "/new")
    assert response == expect(
        MoveResponse, errors=[errors.MoveTorrentError(f"{named(port, 1)}: Still moving after 0.1 seconds")]
    )


@pytest.mark.parametrize("location", ["relative/dir", "", "./x"])
async def test_move_needs_an_absolute_location(location: str) -> None:
    port = FakePort()
    port.put(A)
    response = await service(port).move([A], location)
    assert response == expect(MoveResponse, errors=[errors.ValueError(f"Not an absolute path: {location!r}")])
    assert port.methods() == []


def test_absolute_paths_of_posix_and_windows_daemons() -> None:
    assert is_absolute("/data") and is_absolute("C:\\data") and is_absolute("d:/data")
    assert not is_absolute("data") and not is_absolute("C:data") and not is_absolute("")


# --- reannounce ---------------------------------------------------------------------------------
async def test_reannounce_refuses_stopped_torrents() -> None:
    port = FakePort()
    port.put(A)
    port.put(B, stopped=True)
    port.put(C, script=Script(fail={"reannounce": "No trackers"}))
    response = await service(port).reannounce([A, B, C])
    assert response == expect(
        ReannounceResponse,
        reannounced=[A],
        errors=[
            errors.ReannounceTorrentError(f"{named(port, 2)}: Torrent is stopped"),
            errors.ReannounceTorrentError(f"{named(port, 3)}: No trackers"),
        ],
    )
    assert port.requests("reannounce") == [(A, C)]


# --- labels -------------------------------------------------------------------------------------
async def test_set_label_confirms_what_the_listing_shows() -> None:
    port = FakePort()
    port.put(A, script=Script(effect_lag=Lag(polls=2)))
    port.put(B).label = "tv"
    port.put(C, script=Script(fail={"set_label": "Labels can't contain a comma"}))
    response = await service(port).set_label([A, B, C, UNKNOWN], "tv")
    assert response == expect(
        LabelResponse,
        labeled=[A],
        already_labeled=[B],
        warnings=[errors.TorrentAlreadyLabeled(B, named(port, 2))],
        errors=[
            errors.NoSuchTorrentError(UNKNOWN),
            errors.LabelTorrentError(f"{named(port, 3)}: Labels can't contain a comma"),
        ],
    )
    assert port.requests("set_label") == [(A, C)]


async def test_an_empty_label_clears_like_none() -> None:
    port = FakePort()
    port.put(A).label = "tv"
    port.put(B)
    response = await service(port).set_label([A, B], "")
    assert response == expect(
        LabelResponse,
        labeled=[A],
        already_labeled=[B],
        warnings=[errors.TorrentAlreadyLabeled(B, named(port, 2))],
    )
    assert port.store[A].label is None


async def test_a_label_the_client_ignores_is_an_error_at_the_deadline() -> None:
    port = FakePort()
    port.put(A, script=Script(effect_lag=NEVER))
    response = await service(port).set_label([A], "tv")
    assert response == expect(
        LabelResponse, errors=[errors.LabelTorrentError(f"{named(port, 1)}: The client did not take it")]
    )


# --- limits -------------------------------------------------------------------------------------
def test_expected_limits_round_to_the_clients_unit() -> None:
    assert expected_limit(None, 1024) is None
    assert expected_limit(1000, 1) == 1000
    assert expected_limit(1500, 1024) == 1024
    assert expected_limit(1600, 1024) == 2048
    assert expected_limit(10, 1000) == 1000  # never rounded down to 0 (which would stop it)


async def test_set_limits_sets_only_the_given_direction_and_rounds_to_the_unit() -> None:
    port = FakePort(limit_unit=1024)
    port.put(A).limits.update(up=2048)
    port.put(B).limits.update(down=1024)
    response = await service(port).set_limits([A, B], RateLimits(down=1000))
    assert response == expect(
        LimitResponse,
        limited=[A],
        already_limited=[B],
        warnings=[errors.TorrentAlreadyLimited(B, named(port, 2))],
    )
    assert port.store[A].limits == {"down": 1024, "up": 2048}


async def test_unlimited_is_none() -> None:
    port = FakePort()
    port.put(A).limits.update(down=5000, up=5000)
    response = await service(port).set_limits([A], RateLimits(down=None, up=None))
    assert response == expect(LimitResponse, limited=[A])
    assert port.store[A].limits == {"down": None, "up": None}


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "10"])
async def test_invalid_limits_are_refused_before_asking(value: object) -> None:
    port = FakePort()
    port.put(A)
    response = await service(port).set_limits([A], RateLimits(down=value))  # type: ignore[arg-type]
    assert response == expect(
        LimitResponse,
        errors=[errors.ValueError(f"Invalid down limit: {value!r} (bytes/s > 0, or None for unlimited)")],
    )
    assert port.methods() == []


# --- session ------------------------------------------------------------------------------------
async def test_session_counts_torrents_by_state() -> None:
    port = FakePort()
    port.put(A)
    port.put(B, stopped=True)
    port.put(C, stopped=True)
    session = await service(port).get_session()
    assert session.torrents == {TorrentState.downloading: 1, TorrentState.stopped: 2}
    assert session.client == "fake"
    assert list(session.torrents) == [TorrentState.downloading, TorrentState.stopped]


async def test_session_limits_are_confirmed() -> None:
    port = FakePort(limit_unit=1000)
    await service(port).set_session_limits(RateLimits(down=1499, up=None))
    assert port.session_limits == {"down": 1000, "up": None}


async def test_session_limits_the_client_ignores_raise() -> None:
    port = FakePort()
    port.session_limits_ignored = True
    with pytest.raises(errors.SessionError, match="did not take the limits: down=None"):
        await service(port).set_session_limits(RateLimits(down=1000))


async def test_session_limits_are_validated() -> None:
    port = FakePort()
    with pytest.raises(errors.ValueError):
        await service(port).set_session_limits(RateLimits(up=0))
    assert port.methods() == []


# --- torrent files ------------------------------------------------------------------------------
def metainfo(name: bytes) -> tuple[bytes, str]:
    info = (
        b"d6:lengthi1e4:name"
        + str(len(name)).encode()
        + b":"
        + name
        + b"12:piece lengthi16384e6:pieces20:"
        + b"x" * 20
        + b"e"
    )
    return b"d4:info" + info + b"e", hashlib.sha1(info).hexdigest()


async def test_torrent_file_is_checked_against_the_infohash() -> None:
    data, infohash_of_data = metainfo(b"a")
    other, _ = metainfo(b"b")
    port = FakePort()
    port.put(infohash_of_data)
    port.torrent_files[infohash_of_data] = data
    assert await service(port).get_torrent_file(infohash_of_data.upper()) == data
    port.torrent_files[infohash_of_data] = other
    with pytest.raises(errors.ResponseError, match="is of another torrent"):
        await service(port).get_torrent_file(infohash_of_data)
    port.torrent_files[infohash_of_data] = b"garbage"
    with pytest.raises(errors.ResponseError, match="not a valid torrent"):
        await service(port).get_torrent_file(infohash_of_data)
    with pytest.raises(errors.NoSuchTorrentError):
        await service(port).get_torrent_file(UNKNOWN)
