"""TorrentService against a scripted fake daemon: confirmation, resend and deadline.

Every test drives the services through FakePort with millisecond timings and
asserts the whole Response and, where it matters, the port's round trips.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import pytest

from aiobtclientapi.application import _poller
from aiobtclientapi.application._poller import PollPolicy
from aiobtclientapi.application.ports import AddOptions, AddStatus, ClientTiming
from aiobtclientapi.application.services import TorrentService
from aiobtclientapi.domain import errors
from aiobtclientapi.domain.response import AddResponse, Response, StartResponse, StopResponse, VerifyResponse
from aiobtclientapi.domain.source import source_from_metainfo
from tests.unit.fake_port import NEVER, Call, FakePort, Lag, Script

#: Fast enough that a test running into the deadline costs 0.2 s.
POLICY = PollPolicy(
    first_delay=0.001,
    max_delay=0.01,
    timeout=0.2,
    resend_after=0.05,
    ambiguous_grace=0.05,
    verify_start_grace=0.05,
)
#: verify_wait() intervals: poll often.
FAST = (0.001, 0.01)
CONNECTION_REFUSED = errors.ConnectionError("fake: Connection refused")

R = TypeVar("R", bound=Response)


# --- helpers ---------------------------------------------------------------------------
async def no_downloads(url: str) -> bytes:
    raise errors.ReadError(f"{url}: Not found")


def service(port: FakePort, **policy: Any) -> TorrentService:
    return TorrentService(port, no_downloads, msgspec.structs.replace(POLICY, **policy))


def infohash(number: int) -> str:
    return f"{number:040x}"


def magnet(number: int) -> tuple[str, str]:
    """A magnet URI named torrent-<number> and its infohash."""
    return f"magnet:?xt=urn:btih:{infohash(number)}&dn=torrent-{number}", infohash(number)


def bencode(value: object) -> bytes:
    """Bencoding, keys sorted as BitTorrent wants: enough for a minimal .torrent."""
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, list):
        return b"l" + b"".join(bencode(item) for item in value) + b"e"
    if isinstance(value, dict):
        return b"d" + b"".join(bencode(key) + bencode(item) for key, item in sorted(value.items())) + b"e"
    raise TypeError(value)


def torrent_file(directory: Path, name: str) -> tuple[str, str]:
    """A single-file .torrent written to `directory`: its path and infohash."""
    content = name.encode() * 3
    info = {
        b"length": len(content),
        b"name": name.encode(),
        b"piece length": 16384,
        b"pieces": hashlib.sha1(content).digest(),
    }
    data = bencode({b"info": info})
    path = directory / f"{name}.torrent"
    path.write_bytes(data)
    return str(path), source_from_metainfo(data, str(path)).infohash


def expect(cls: type[R], **fields: Sequence[object]) -> R:
    """A Response with these lists and every other one empty, to compare whole."""
    response = cls()
    for name, values in fields.items():
        assert name in response.fields and name not in ("success", "tasks"), name
        setattr(response, name, list(values))
    return response


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.monotonic()

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.start


# --- start / stop: round trips and sorting ---------------------------------------------------
async def test_stop_of_500_torrents_costs_one_request_and_two_snapshots() -> None:
    port = FakePort()
    hashes = [port.put(infohash(n)).infohash for n in range(1, 501)]
    response = await service(port).stop(hashes)
    assert response == expect(StopResponse, stopped=hashes)
    everything = tuple(hashes)
    assert port.calls == [Call("snapshot", everything), Call("stop", everything), Call("snapshot", everything)]


async def test_stop_sorts_out_invalid_unknown_duplicate_and_already_stopped() -> None:
    port = FakePort()
    started = port.put(infohash(1), "started").infohash
    already = port.put(infohash(2), "already", stopped=True).infohash
    unknown = infohash(3)
    response = await service(port).stop(["nonsense", started.upper(), unknown, already, started])
    assert response == expect(
        StopResponse,
        stopped=[started],
        already_stopped=[already],
        warnings=[errors.TorrentAlreadyStopped(already, "already")],
        errors=[errors.ValueError("Invalid infohash: 'nonsense'"), errors.NoSuchTorrentError(unknown)],
    )
    assert port.calls == [
        Call("snapshot", (started, unknown, already)),
        Call("stop", (started,)),
        Call("snapshot", (started,)),
    ]


async def test_start_with_nothing_to_do_asks_nothing() -> None:
    port = FakePort()
    started = port.put(infohash(1), "started").infohash
    response = await service(port).start([started])
    assert response == expect(
        StartResponse, already_started=[started], warnings=[errors.TorrentAlreadyStarted(started, "started")]
    )
    assert port.calls == [Call("snapshot", (started,))]


async def test_get_infohashes_is_one_call() -> None:
    port = FakePort()
    port.put(infohash(1))
    assert await service(port).get_infohashes() == [infohash(1)]
    assert port.methods() == ["list_infohashes"]


# --- start / stop: lag, ambiguity, resend, deadline -----------------------------------------------
async def test_lagging_torrent_is_polled_until_it_shows_and_alone() -> None:
    port = FakePort()
    quick = port.put(infohash(1)).infohash
    slow = port.put(infohash(2), script=Script(lag=Lag(polls=2))).infohash
    response = await service(port).stop([quick, slow])
    assert response == expect(StopResponse, stopped=[quick, slow])
    # Done torrents drop out of the polls; the slow one shows at its third.
    assert port.calls == [
        Call("snapshot", (quick, slow)),
        Call("stop", (quick, slow)),
        Call("snapshot", (quick, slow)),
        Call("snapshot", (slow,)),
        Call("snapshot", (slow,)),
    ]


async def test_change_shown_seconds_later_is_waited_for() -> None:
    port = FakePort()
    slow = port.put(infohash(1), script=Script(lag=Lag(seconds=0.05))).infohash
    watch = Stopwatch()
    # No resend within the test: the one request must be enough.
    response = await service(port, resend_after=10.0).stop([slow])
    assert response == expect(StopResponse, stopped=[slow])
    assert watch.seconds >= 0.05
    assert port.requests("stop") == [(slow,)]


async def test_ambiguous_state_for_good_counts_as_done_after_the_grace() -> None:
    port = FakePort()
    unsure = port.put(infohash(1), script=Script(ambiguous=NEVER)).infohash
    watch = Stopwatch()
    response = await service(port, resend_after=10.0).stop([unsure])
    assert response == expect(StopResponse, stopped=[unsure])
    assert watch.seconds >= POLICY.ambiguous_grace
    assert port.requests("stop") == [(unsure,)]


@pytest.mark.parametrize("stop", [True, False])
async def test_a_check_that_keeps_the_request_is_no_reason_to_wait(stop: bool) -> None:
    # Transmission: a torrent checking when the start or stop is accepted runs
    # or stays stopped as asked after the check, so the check is the answer.
    port = FakePort(timing=ClientTiming(check_keeps_request=True))
    checking = port.put(infohash(1), stopped=not stop, script=Script(ambiguous=NEVER)).infohash
    svc = service(port, resend_after=10.0)
    response = await (svc.stop([checking]) if stop else svc.start([checking]))
    if stop:
        assert response == expect(StopResponse, stopped=[checking])
    else:
        assert response == expect(StartResponse, started=[checking])
    # The first poll after the request shows the check: done, no grace waited.
    assert port.methods() == ["snapshot", "stop" if stop else "start", "snapshot"]


async def test_ambiguous_state_that_resolves_is_not_waited_out() -> None:
    port = FakePort()
    torrent = port.put(infohash(1), script=Script(ambiguous=Lag(polls=2))).infohash
    response = await service(port).stop([torrent])
    assert response == expect(StopResponse, stopped=[torrent])
    # Two polls show stopped=None, the third stopped: no grace waited.
    assert port.methods() == ["snapshot", "stop", "snapshot", "snapshot", "snapshot"]


async def test_ambiguity_interrupted_by_the_old_state_restarts_the_grace() -> None:
    port = FakePort()
    flappy = port.put(infohash(1), "flappy", script=Script(ambiguous=NEVER, flap=True)).infohash
    watch = Stopwatch()
    response = await service(port).stop([flappy])
    assert response == expect(StopResponse, errors=[errors.StopTorrentError("flappy: Torrent did not stop")])
    assert watch.seconds >= POLICY.timeout


async def test_dropped_request_is_resent_to_that_torrent_only() -> None:
    port = FakePort()
    heard = port.put(infohash(1)).infohash
    deaf_once = port.put(infohash(2), script=Script(drop=1)).infohash
    response = await service(port).stop([heard, deaf_once])
    assert response == expect(StopResponse, stopped=[heard, deaf_once])
    assert port.requests("stop") == [(heard, deaf_once), (deaf_once,)]


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses between polls, in seconds, as the services ask for them (still taken)."""
    asked: list[float] = []
    pause_for = _poller.pause_for

    async def recording(seconds: float, wake: asyncio.Event | None = None) -> None:
        asked.append(seconds)
        await pause_for(seconds, wake)

    monkeypatch.setattr(_poller, "pause_for", recording)
    return asked


async def test_polls_after_a_resend_back_off_from_the_start_again(pauses: list[float]) -> None:
    # A request sent again is waited for like the first: the polls that follow it
    # start close together, not at the pace the backoff had reached.
    port = FakePort()
    deaf_once = port.put(infohash(1), script=Script(drop=1)).infohash
    response = await service(port).stop([deaf_once])
    assert response == expect(StopResponse, stopped=[deaf_once])
    assert port.requests("stop") == [(deaf_once,), (deaf_once,)]
    # Backed off to the ceiling before the resend (after resend_after), from the start after it.
    resent_at = pauses.index(POLICY.max_delay) + 1
    restart = next(i for i in range(resent_at, len(pauses)) if pauses[i] < POLICY.max_delay)
    assert pauses[restart] == POLICY.first_delay


@pytest.mark.parametrize("stop", [True, False])
async def test_a_client_that_refreshes_on_a_timer_is_polled_at_an_even_pace(stop: bool, pauses: list[float]) -> None:
    # 0.04 s between refreshes, polled 4 times per refresh: every 0.01 s, not
    # backing off from 0.001 s. The change shows 0.05 s after the request.
    port = FakePort(timing=ClientTiming(refresh_interval=0.04))
    torrent = port.put(infohash(1), stopped=not stop, script=Script(lag=Lag(seconds=0.05))).infohash
    svc = service(port, first_delay=0.001, max_delay=0.5, refresh_polls=4)
    if stop:
        assert await svc.stop([torrent]) == expect(StopResponse, stopped=[torrent])
    else:
        assert await svc.start([torrent]) == expect(StartResponse, started=[torrent])
    assert len(pauses) >= 4
    assert set(pauses) == {0.01}


async def test_a_client_without_a_refresh_timer_is_polled_with_backoff(pauses: list[float]) -> None:
    port = FakePort()
    torrent = port.put(infohash(1), script=Script(lag=Lag(seconds=0.05))).infohash
    svc = service(port, first_delay=0.001, max_delay=0.5, refresh_polls=4)
    assert await svc.stop([torrent]) == expect(StopResponse, stopped=[torrent])
    assert pauses[:3] == [0.001, 0.001 * POLICY.factor, 0.001 * POLICY.factor**2]


async def test_an_add_shows_without_waiting_for_the_refresh_timer(pauses: list[float]) -> None:
    # A torrent a timer-refreshing client (qBittorrent) adds shows at once,
    # with the state it loads in: the add is polled with backoff.
    port = FakePort(timing=ClientTiming(refresh_interval=0.04))
    uri, torrent = magnet(1)
    port.scripts[torrent] = Script(appear=Lag(polls=3))
    svc = service(port, first_delay=0.001, max_delay=0.5, refresh_polls=4)
    assert await svc.add([uri]) == expect(AddResponse, added=[torrent])
    assert pauses[:2] == [0.001, 0.001 * POLICY.factor]


async def test_request_dropped_every_time_ends_at_the_deadline_for_that_torrent() -> None:
    port = FakePort()
    heard = port.put(infohash(1)).infohash
    deaf = port.put(infohash(2), "deaf", script=Script(drop=10**6)).infohash
    watch = Stopwatch()
    response = await service(port).stop([heard, deaf])
    assert response == expect(
        StopResponse, stopped=[heard], errors=[errors.StopTorrentError("deaf: Torrent did not stop")]
    )
    assert watch.seconds >= POLICY.timeout
    requests = port.requests("stop")
    assert requests[0] == (heard, deaf)
    assert len(requests) >= 3
    assert set(requests[1:]) == {(deaf,)}


async def test_torrent_that_never_starts_ends_at_the_deadline() -> None:
    port = FakePort()
    quick = port.put(infohash(1), stopped=True).infohash
    stuck = port.put(infohash(2), "stuck", stopped=True, script=Script(lag=NEVER)).infohash
    watch = Stopwatch()
    response = await service(port).start([quick, stuck])
    assert response == expect(
        StartResponse, started=[quick], errors=[errors.StartTorrentError("stuck: Torrent did not start")]
    )
    assert watch.seconds >= POLICY.timeout


async def test_no_request_is_sent_after_the_last_poll() -> None:
    port = FakePort()
    deaf = port.put(infohash(1), "deaf", script=Script(drop=10**6)).infohash
    # Resend every round, so the round at the deadline would resend too.
    response = await service(port, resend_after=0.0).stop([deaf])
    assert response == expect(StopResponse, errors=[errors.StopTorrentError("deaf: Torrent did not stop")])
    assert port.methods()[-1] == "snapshot"


async def test_failures_are_per_torrent_and_name_it() -> None:
    port = FakePort()
    fine = port.put(infohash(1)).infohash
    locked = port.put(infohash(2), "locked", script=Script(fail={"stop": "Torrent is locked"})).infohash
    response = await service(port).stop([fine, locked])
    assert response == expect(
        StopResponse, stopped=[fine], errors=[errors.StopTorrentError("locked: Torrent is locked")]
    )
    assert port.calls == [Call("snapshot", (fine, locked)), Call("stop", (fine, locked)), Call("snapshot", (fine,))]


async def test_torrent_gone_after_the_request_is_no_such_torrent_at_once() -> None:
    port = FakePort()
    doomed = port.put(infohash(1), script=Script(hide=NEVER)).infohash
    response = await service(port).stop([doomed])
    assert response == expect(StopResponse, errors=[errors.NoSuchTorrentError(doomed)])
    assert port.methods() == ["snapshot", "stop", "snapshot"]


async def test_torrent_missing_briefly_within_state_latency_is_waited_for() -> None:
    port = FakePort(timing=ClientTiming(state_latency=0.15))
    blinking = port.put(infohash(1), script=Script(hide=Lag(seconds=0.02))).infohash
    response = await service(port).stop([blinking])
    assert response == expect(StopResponse, stopped=[blinking])


async def test_torrent_missing_longer_than_state_latency_is_no_such_torrent() -> None:
    port = FakePort(timing=ClientTiming(state_latency=0.02))
    blinking = port.put(infohash(1), script=Script(hide=Lag(seconds=0.15))).infohash
    watch = Stopwatch()
    response = await service(port).stop([blinking])
    assert response == expect(StopResponse, errors=[errors.NoSuchTorrentError(blinking)])
    assert 0.02 <= watch.seconds < POLICY.timeout


async def test_what_we_last_asked_stands_where_the_client_cant_tell() -> None:
    port = FakePort()
    unsure = port.put(infohash(1), "unsure", stopped=None, script=Script(ambiguous=NEVER)).infohash
    svc = service(port, resend_after=10.0)
    # Never asked: the service acts.
    assert await svc.stop([unsure]) == expect(StopResponse, stopped=[unsure])
    # Asked to stop: still shows stopped=None, counts as stopped.
    assert await svc.stop([unsure]) == expect(
        StopResponse, already_stopped=[unsure], warnings=[errors.TorrentAlreadyStopped(unsure, "unsure")]
    )
    assert await svc.start([unsure]) == expect(StartResponse, started=[unsure])
    assert port.requests("stop") == [(unsure,)]
    assert port.requests("start") == [(unsure,)]


async def test_connection_errors_end_start_and_stop_with_the_error() -> None:
    port = FakePort()
    torrent = port.put(infohash(1), stopped=True).infohash
    port.raises["start"] = CONNECTION_REFUSED
    assert await service(port).start([torrent]) == expect(StartResponse, errors=[CONNECTION_REFUSED])
    port.fail_snapshots(CONNECTION_REFUSED)
    assert await service(port).start([torrent]) == expect(StartResponse, errors=[CONNECTION_REFUSED])
    assert port.methods() == ["snapshot", "start", "snapshot"]


async def test_connection_lost_while_confirming_is_each_torrents_error() -> None:
    port = FakePort()
    first, second = (port.put(infohash(n), f"t{n}").infohash for n in (1, 2))
    port.fail_snapshots(CONNECTION_REFUSED, after=1)
    assert await service(port).stop([first, second]) == expect(
        StopResponse,
        errors=[CONNECTION_REFUSED.with_message(f"{name}: {CONNECTION_REFUSED}") for name in ("t1", "t2")],
    )
    assert port.methods() == ["snapshot", "stop", "snapshot"]


# --- add ------------------------------------------------------------------------------
async def test_add_of_magnets_costs_one_request_and_two_snapshots() -> None:
    port = FakePort()
    uris, hashes = zip(*(magnet(n) for n in (1, 2, 3)), strict=True)
    response = await service(port).add(uris, location="/downloads")
    assert response == expect(AddResponse, added=hashes)
    assert port.calls == [
        Call("snapshot", hashes),
        Call("add", hashes, AddOptions(location="/downloads")),
        Call("snapshot", hashes),
    ]


async def test_add_reads_files_infohashes_and_urls_per_torrent(tmp_path: Path) -> None:
    port = FakePort()
    path, from_file = torrent_file(tmp_path, "file-torrent")
    missing = str(tmp_path / "missing.torrent")
    url = "http://localhost/none.torrent"
    bare = infohash(7)
    response = await service(port).add([path, missing, url, path, bare])
    assert response == expect(
        AddResponse,
        added=[from_file, bare],
        already_added=[from_file],
        warnings=[errors.TorrentAlreadyAdded(from_file, "file-torrent")],
        errors=[
            errors.ReadError(f"{missing}: No such file or directory"),
            errors.ReadError(f"{url}: Not found"),
        ],
    )
    assert port.requests("add") == [(from_file, bare)]


async def test_add_with_nothing_readable_asks_nothing(tmp_path: Path) -> None:
    port = FakePort()
    missing = str(tmp_path / "missing.torrent")
    response = await service(port).add(["", missing])
    assert response == expect(
        AddResponse,
        errors=[errors.ValueError("Invalid torrent: ''"), errors.ReadError(f"{missing}: No such file or directory")],
    )
    assert port.calls == []


async def test_add_of_a_torrent_the_client_has_warns_with_its_name() -> None:
    port = FakePort()
    uri, torrent = magnet(1)
    port.put(torrent, "name in client")
    response = await service(port).add([uri])
    assert response == expect(
        AddResponse, already_added=[torrent], warnings=[errors.TorrentAlreadyAdded(torrent, "name in client")]
    )
    assert port.calls == [Call("snapshot", (torrent,))]


async def test_add_reports_every_outcome_per_torrent() -> None:
    port = FakePort()
    (added_uri, added), (known_uri, known), (private_uri, private), (silent_uri, silent) = map(magnet, (1, 2, 3, 4))
    (lost_uri, lost), (landed_uri, landed), (full_uri, full) = map(magnet, (5, 6, 7))
    timeout = errors.TimeoutError("Request timed out")
    port.scripts.update(
        {
            known: Script(add_status=AddStatus.already_added),
            private: Script(add_status=AddStatus.refused, add_message="Torrent is private"),
            silent: Script(add_status=AddStatus.refused),
            lost: Script(add_status=AddStatus.failed, add_error=timeout),
            landed: Script(add_status=AddStatus.failed, add_error=timeout, present_after=True),
            full: Script(add_status=AddStatus.failed, add_message="Disk full"),
        }
    )
    uris = [added_uri, known_uri, private_uri, silent_uri, lost_uri, landed_uri, full_uri]
    response = await service(port).add(uris)
    assert response == expect(
        AddResponse,
        # A failed request whose torrent shows was added after all.
        added=[added, landed],
        already_added=[known],
        warnings=[errors.TorrentAlreadyAdded(known, "torrent-2")],
        errors=[
            errors.AddTorrentError(f"{private_uri}: Torrent is private"),
            errors.AddTorrentError(f"{silent_uri}: Failed to add"),
            errors.TimeoutError(f"{lost_uri}: Request timed out"),
            errors.AddTorrentError(f"{full_uri}: Disk full"),
        ],
    )
    assert response.errors[2].__cause__ is timeout
    # Refused and failed ones that don't show are given up at the first poll.
    assert port.calls[2:] == [Call("snapshot", (added, private, silent, lost, landed, full))]


async def test_add_refused_but_shown_within_refused_may_show_within_was_already_added() -> None:
    # A client that refuses a duplicate another request is still loading, without saying so.
    port = FakePort(timing=ClientTiming(refused_may_show_within=0.15))
    uri, torrent = magnet(1)
    port.scripts[torrent] = Script(
        add_status=AddStatus.refused,
        add_message="Duplicate torrent",
        present_after=True,
        appear=Lag(seconds=0.03),
        add_lag=NEVER,  # shows started: not ours to stop
    )
    response = await service(port).add([uri], stopped=True)
    assert response == expect(
        AddResponse, already_added=[torrent], warnings=[errors.TorrentAlreadyAdded(torrent, "torrent-1")]
    )
    assert port.requests("stop") == []


async def test_add_refused_and_shown_too_late_is_the_refusal() -> None:
    port = FakePort(timing=ClientTiming(refused_may_show_within=0.02))
    uri, torrent = magnet(1)
    port.scripts[torrent] = Script(
        add_status=AddStatus.refused, add_message="Duplicate torrent", present_after=True, appear=Lag(seconds=0.15)
    )
    watch = Stopwatch()
    response = await service(port).add([uri])
    assert response == expect(AddResponse, errors=[errors.AddTorrentError(f"{uri}: Duplicate torrent")])
    assert 0.02 <= watch.seconds < POLICY.timeout


async def test_add_failed_with_an_error_of_its_own_constructor_keeps_its_class() -> None:
    class ProtocolError(errors.Error):
        def __init__(self, code: int, text: str) -> None:
            super().__init__(f"{code} {text}")
            self.code = code

    port = FakePort()
    uri, torrent = magnet(1)
    port.scripts[torrent] = Script(add_status=AddStatus.failed, add_error=ProtocolError(500, "Internal error"))
    response = await service(port).add([uri])
    [error] = response.errors
    assert (type(error), str(error)) == (ProtocolError, f"{uri}: 500 Internal error")
    assert isinstance(error, ProtocolError) and error.code == 500
    assert response == expect(AddResponse, errors=[error])


async def test_add_shown_late_within_appear_within_is_added() -> None:
    port = FakePort(timing=ClientTiming(appear_within=0.15))
    uri, torrent = magnet(1)
    port.scripts[torrent] = Script(appear=Lag(seconds=0.03))
    response = await service(port).add([uri])
    assert response == expect(AddResponse, added=[torrent])


async def test_add_not_shown_within_appear_within_is_given_up_before_the_deadline() -> None:
    port = FakePort(timing=ClientTiming(appear_within=0.03))
    uri, torrent = magnet(1)
    port.scripts[torrent] = Script(appear=NEVER)
    watch = Stopwatch()
    response = await service(port).add([uri])
    assert response == expect(AddResponse, errors=[errors.AddTorrentError(f"{uri}: Torrent did not appear in fake")])
    assert 0.03 <= watch.seconds < POLICY.timeout


async def test_add_never_shown_without_appear_within_ends_at_the_deadline() -> None:
    port = FakePort()
    uri, torrent = magnet(1)
    shown, _ = magnet(2)
    port.scripts[torrent] = Script(appear=NEVER)
    watch = Stopwatch()
    response = await service(port).add([uri, shown])
    assert response == expect(
        AddResponse,
        added=[infohash(2)],
        errors=[errors.AddTorrentError(f"{uri}: Torrent did not appear in fake")],
    )
    assert watch.seconds >= POLICY.timeout


async def test_add_started_that_shows_stopped_for_a_moment_is_polled_until_started() -> None:
    port = FakePort(timing=ClientTiming(started_shows_stopped=0.15))
    uri, torrent = magnet(1)
    port.scripts[torrent] = Script(add_lag=Lag(polls=2))
    response = await service(port).add([uri])
    assert response == expect(AddResponse, added=[torrent])
    assert port.methods() == ["snapshot", "add", "snapshot", "snapshot", "snapshot"]


async def test_add_started_that_stays_stopped_is_added_after_started_shows_stopped() -> None:
    port = FakePort(timing=ClientTiming(started_shows_stopped=0.05))
    uri, torrent = magnet(1)
    port.scripts[torrent] = Script(add_lag=NEVER)
    watch = Stopwatch()
    response = await service(port).add([uri])
    # After that time the client's word stands: it was added, stopped.
    assert response == expect(AddResponse, added=[torrent])
    assert watch.seconds >= 0.05
    assert port.store[torrent].stopped is True
    assert port.requests("start") == []


async def test_add_started_that_shows_stopped_is_taken_at_its_word_without_started_shows_stopped() -> None:
    port = FakePort()
    uri, torrent = magnet(1)
    port.scripts[torrent] = Script(add_lag=NEVER)
    response = await service(port).add([uri])
    assert response == expect(AddResponse, added=[torrent])
    assert port.methods() == ["snapshot", "add", "snapshot"]


async def test_add_started_still_stopped_at_the_deadline_did_not_start() -> None:
    port = FakePort(timing=ClientTiming(started_shows_stopped=10.0))
    uri, torrent = magnet(1)
    port.scripts[torrent] = Script(add_lag=NEVER)
    response = await service(port).add([uri])
    assert response == expect(
        AddResponse, errors=[errors.AddTorrentError(f"{uri}: Torrent was added but did not start")]
    )


async def test_add_stopped_that_the_client_started_is_stopped_again() -> None:
    port = FakePort(timing=ClientTiming(appear_within=0.08))
    uri, torrent = magnet(1)
    invisible_uri, invisible = magnet(2)
    port.scripts[torrent] = Script(add_lag=NEVER)  # ignores the stopped option
    port.scripts[invisible] = Script(appear=NEVER)
    response = await service(port).add([uri, invisible_uri], stopped=True)
    assert response == expect(
        AddResponse,
        added=[torrent],
        errors=[errors.AddTorrentError(f"{invisible_uri}: Torrent did not appear in fake")],
    )
    # Asked again, but only the torrent it can see.
    assert port.requests("stop") == [(torrent,)]
    assert port.store[torrent].stopped is True


async def test_add_stopped_that_never_stops_is_an_error_at_the_deadline() -> None:
    port = FakePort()
    uri, torrent = magnet(1)
    port.scripts[torrent] = Script(add_lag=NEVER, drop=10**6)
    response = await service(port).add([uri], stopped=True)
    assert response == expect(
        AddResponse, errors=[errors.AddTorrentError(f"{uri}: Torrent was added but did not stop")]
    )
    assert len(port.requests("stop")) >= 2


async def test_add_stopped_that_stays_ambiguous_is_added_after_the_grace() -> None:
    port = FakePort()
    uri, torrent = magnet(1)
    port.scripts[torrent] = Script(add_ambiguous=NEVER)
    svc = service(port, resend_after=10.0)
    watch = Stopwatch()
    response = await svc.add([uri], stopped=True)
    assert response == expect(AddResponse, added=[torrent])
    assert watch.seconds >= POLICY.ambiguous_grace
    assert port.requests("stop") == []
    # Where the client can't tell, the service goes by the stopped it asked for.
    assert await svc.stop([torrent]) == expect(
        StopResponse, already_stopped=[torrent], warnings=[errors.TorrentAlreadyStopped(torrent, "torrent-1")]
    )


async def test_add_stopped_checking_on_a_client_that_keeps_the_request_is_added_at_once() -> None:
    port = FakePort(timing=ClientTiming(check_keeps_request=True))
    uri, torrent = magnet(1)
    port.scripts[torrent] = Script(add_ambiguous=NEVER)
    response = await service(port, resend_after=10.0).add([uri], stopped=True)
    assert response == expect(AddResponse, added=[torrent])
    # The first poll after the add shows the check: done, no grace waited.
    assert port.methods() == ["snapshot", "add", "snapshot"]


async def test_a_torrent_added_stopped_elsewhere_and_still_loading_is_already_stopped() -> None:
    # qBittorrent shows a torrent added stopped as neither running nor stopped
    # (checkingResumeData) for a moment. A program that did not add it (a new
    # btclient process) asks to stop it meanwhile: it waits until the client tells.
    port = FakePort(timing=ClientTiming(check_keeps_request=True))
    uri, torrent = magnet(1)
    port.scripts[torrent] = Script(add_ambiguous=Lag(polls=4))
    assert await service(port, resend_after=10.0).add([uri], stopped=True) == expect(AddResponse, added=[torrent])
    assert await service(port, resend_after=10.0).stop([torrent]) == expect(
        StopResponse, already_stopped=[torrent], warnings=[errors.TorrentAlreadyStopped(torrent, "torrent-1")]
    )
    assert port.requests("stop") == []
    # It shows loading for four polls: the add's last, then the stop's reads until it tells.
    assert port.methods() == ["snapshot", "add", "snapshot", *["snapshot"] * 4]


async def test_the_old_state_shown_when_a_check_that_was_the_answer_ends_is_not_the_answer() -> None:
    # Transmission: a torrent started while it waits for a check reads stopped
    # for a moment when the check ends, then starts. A stop sent by the object
    # that started it must stop it, not call it already stopped.
    port = FakePort(timing=ClientTiming(check_keeps_request=True))
    script = Script(ambiguous=Lag(polls=1), old_after_ambiguous=Lag(polls=1))
    torrent = port.put(infohash(1), stopped=True, script=script).infohash
    svc = service(port, resend_after=10.0)
    assert await svc.start([torrent]) == expect(StartResponse, started=[torrent])
    assert await svc.stop([torrent]) == expect(StopResponse, stopped=[torrent])
    assert port.requests("stop") == [(torrent,)]
    # The start's check, then the stop reads stopped (the check's end), and again until it runs.
    assert port.methods() == ["snapshot", "start", "snapshot", "snapshot", "snapshot", "stop", "snapshot"]


async def test_a_torrent_stopped_elsewhere_after_a_check_that_was_the_answer_is_already_stopped() -> None:
    port = FakePort(timing=ClientTiming(check_keeps_request=True))
    torrent = port.put(infohash(1), "stopped-elsewhere", stopped=True, script=Script(ambiguous=Lag(polls=1))).infohash
    svc = service(port, resend_after=10.0)
    assert await svc.start([torrent]) == expect(StartResponse, started=[torrent])
    await service(port).stop([torrent])  # another program stops it
    watch = Stopwatch()
    assert await svc.stop([torrent]) == expect(
        StopResponse, already_stopped=[torrent], warnings=[errors.TorrentAlreadyStopped(torrent, "stopped-elsewhere")]
    )
    assert watch.seconds >= POLICY.ambiguous_grace  # its word stands after the grace
    assert port.requests("stop") == [(torrent,)]


async def test_a_torrent_that_never_tells_whether_it_runs_is_stopped_after_the_grace() -> None:
    port = FakePort()
    unsure = port.put(infohash(1), "unsure", stopped=None, script=Script(ambiguous=NEVER)).infohash
    watch = Stopwatch()
    assert await service(port, resend_after=10.0).stop([unsure]) == expect(StopResponse, stopped=[unsure])
    assert watch.seconds >= 2 * POLICY.ambiguous_grace  # before the request, and after it
    assert port.requests("stop") == [(unsure,)]


@pytest.mark.parametrize("verify", [True, False])
async def test_add_warns_when_verify_false_cant_be_honoured(verify: bool) -> None:
    port = FakePort(add_limitations=frozenset({"verify"}))
    uri, torrent = magnet(1)
    response = await service(port).add([uri], verify=verify)
    warnings = [] if verify else [errors.Warning("fake can't skip verification: verify=False is ignored")]
    assert response == expect(AddResponse, added=[torrent], warnings=warnings)
    assert port.calls[1] == Call("add", (torrent,), AddOptions(verify=verify))


async def test_add_connection_errors_are_the_error() -> None:
    port = FakePort()
    uri, _ = magnet(1)
    port.fail_snapshots(CONNECTION_REFUSED)
    assert await service(port).add([uri]) == expect(AddResponse, errors=[CONNECTION_REFUSED])
    assert port.methods() == ["snapshot"]


async def test_add_connection_lost_while_confirming_is_each_torrents_error() -> None:
    port = FakePort()
    uris = [magnet(n)[0] for n in (1, 2)]
    port.fail_snapshots(CONNECTION_REFUSED, after=1)
    assert await service(port).add(uris) == expect(
        AddResponse, errors=[CONNECTION_REFUSED.with_message(f"{uri}: {CONNECTION_REFUSED}") for uri in uris]
    )
    assert port.methods() == ["snapshot", "add", "snapshot"]


# --- verify -----------------------------------------------------------------------------
async def test_verify_sorts_and_asks_once() -> None:
    port = FakePort()
    plain = port.put(infohash(1), "plain").infohash
    busy = port.put(infohash(2), "busy", verifying=True).infohash
    broken = port.put(infohash(3), "broken", script=Script(fail={"verify": "No metadata"})).infohash
    unknown = infohash(4)
    response = await service(port).verify(["bogus", plain, busy, broken, unknown])
    assert response == expect(
        VerifyResponse,
        verifying=[plain],
        already_verifying=[busy],
        warnings=[errors.TorrentAlreadyVerifying(busy, "busy")],
        errors=[
            errors.ValueError("Invalid infohash: 'bogus'"),
            errors.NoSuchTorrentError(unknown),
            errors.VerifyTorrentError("broken: No metadata"),
        ],
    )
    assert port.calls == [Call("snapshot", (plain, busy, broken, unknown)), Call("verify", (plain, broken))]


async def test_verify_waits_until_loaded_and_leaves_a_first_check_alone() -> None:
    # qBittorrent 4.5.2 shows a torrent just added as loading (checkingResumeData);
    # one added started with its data then checks it. A recheck asked at either
    # moment never ends: verify() asks only once loaded, and not of one checking.
    port = FakePort()
    checking = port.put(infohash(1), "checking", verifying=True, script=Script(loading=Lag(polls=2))).infohash
    loaded = port.put(infohash(2), "loaded", script=Script(loading=Lag(polls=2))).infohash
    response = await service(port).verify([checking, loaded])
    assert response == expect(
        VerifyResponse,
        verifying=[loaded],
        already_verifying=[checking],
        warnings=[errors.TorrentAlreadyVerifying(checking, "checking")],
    )
    # Two snapshots show both loading, the third neither: then the one request.
    assert port.methods() == ["snapshot", "snapshot", "snapshot", "verify"]
    assert port.requests("verify") == [(loaded,)]


async def test_verify_again_before_the_client_shows_it_is_already_verifying() -> None:
    port = FakePort()
    late = port.put(infohash(1), "late", script=Script(lag=NEVER)).infohash
    svc = service(port)
    assert await svc.verify([late]) == expect(VerifyResponse, verifying=[late])
    assert await svc.verify([late]) == expect(
        VerifyResponse, already_verifying=[late], warnings=[errors.TorrentAlreadyVerifying(late, "late")]
    )
    assert port.requests("verify") == [(late,)]
    # After the grace the client had its chance: ask again.
    await asyncio.sleep(POLICY.verify_start_grace + 0.01)
    assert await svc.verify([late]) == expect(VerifyResponse, verifying=[late])
    assert port.requests("verify") == [(late,), (late,)]


async def test_verify_pending_lasts_the_state_latency_if_longer() -> None:
    port = FakePort(timing=ClientTiming(state_latency=1.0))
    late = port.put(infohash(1), "late", script=Script(lag=NEVER)).infohash
    svc = service(port)
    await svc.verify([late])
    await asyncio.sleep(POLICY.verify_start_grace + 0.01)
    assert await svc.verify([late]) == expect(
        VerifyResponse, already_verifying=[late], warnings=[errors.TorrentAlreadyVerifying(late, "late")]
    )
    assert port.requests("verify") == [(late,)]


async def test_verify_connection_errors_are_the_error() -> None:
    port = FakePort()
    torrent = port.put(infohash(1)).infohash
    port.raises["verify"] = CONNECTION_REFUSED
    assert await service(port).verify([torrent]) == expect(VerifyResponse, errors=[CONNECTION_REFUSED])
    port.fail_snapshots(CONNECTION_REFUSED)
    assert await service(port).verify([torrent]) == expect(VerifyResponse, errors=[CONNECTION_REFUSED])


# --- verify_wait ----------------------------------------------------------------------------
async def test_verify_wait_reports_every_progress_then_the_final_one() -> None:
    port = FakePort()
    torrent = port.put(infohash(1), progress=0.25, script=Script(verify_for=Lag(polls=3))).infohash
    svc = service(port)
    await svc.verify([torrent])
    values = [item async for item in svc.verify_wait([torrent], interval=FAST)]
    assert values == [(torrent, 0.0), (torrent, 33.33), (torrent, 66.67), (torrent, 100.0)]


async def test_verify_wait_reports_unchanged_progress_once() -> None:
    port = FakePort()
    torrent = port.put(infohash(1), script=Script(verify_for=Lag(polls=2, seconds=0.05))).infohash
    svc = service(port)
    await svc.verify([torrent])
    values = [item async for item in svc.verify_wait([torrent], interval=FAST)]
    assert values == [(torrent, 0.0), (torrent, 50.0), (torrent, 100.0)]
    assert port.methods().count("snapshot") > 4  # 50 % was shown several times


async def test_verify_wait_waits_out_a_verification_too_quick_to_see() -> None:
    port = FakePort()
    torrent = port.put(infohash(1), script=Script(verify_for=Lag())).infohash
    svc = service(port)
    await svc.verify([torrent])
    watch = Stopwatch()
    values = [item async for item in svc.verify_wait([torrent], interval=FAST)]
    assert values == [(torrent, 100.0)]
    # The grace runs from verify(), a moment before the stopwatch started.
    assert watch.seconds >= POLICY.verify_start_grace - 0.01


@pytest.mark.parametrize(
    ("state_latency", "expected"),
    [
        # The client shows the verification after the grace: its old progress is final.
        (0.0, [25.0]),
        # A client known to be that slow is waited for.
        (0.3, [0.0, 50.0, 100.0]),
    ],
)
async def test_verify_wait_waits_for_a_late_verification_as_long_as_the_client_may_take(
    state_latency: float, expected: list[float]
) -> None:
    port = FakePort(timing=ClientTiming(state_latency=state_latency))
    torrent = port.put(infohash(1), progress=0.25, script=Script(lag=Lag(seconds=0.1))).infohash
    svc = service(port, verify_start_grace=0.01)
    await svc.verify([torrent])
    values = [item async for item in svc.verify_wait([torrent], interval=FAST)]
    assert values == [(torrent, value) for value in expected]


async def test_verify_wait_yields_the_error_for_each_pending_torrent_when_the_connection_fails() -> None:
    port = FakePort()
    first = port.put(infohash(1), verifying=True, script=Script(verify_for=Lag(polls=5))).infohash
    second = port.put(infohash(2), verifying=True, script=Script(verify_for=Lag(polls=5))).infohash
    idle = port.put(infohash(3), progress=0.5).infohash
    port.fail_snapshots(CONNECTION_REFUSED, after=1)
    values = [item async for item in service(port).verify_wait([first, second, idle], interval=FAST)]
    assert values == [
        (first, 0.0),
        (second, 0.0),
        (idle, 50.0),
        (first, CONNECTION_REFUSED),
        (second, CONNECTION_REFUSED),
    ]


async def test_verify_wait_reports_invalid_unknown_and_duplicates_once() -> None:
    port = FakePort()
    idle = port.put(infohash(1), progress=1.0).infohash
    unknown = infohash(2)
    values = [item async for item in service(port).verify_wait(["bogus", idle, unknown, idle], interval=FAST)]
    assert values == [
        ("bogus", errors.ValueError("Invalid infohash: 'bogus'")),
        (idle, 100.0),
        (unknown, errors.NoSuchTorrentError(unknown)),
    ]
    assert port.calls == [Call("snapshot", (idle, unknown))]


@pytest.mark.parametrize("interval", [0, -1.0, (2.0, 1.0), (0.0, 1.0)])
async def test_verify_wait_refuses_an_invalid_interval(interval: float | tuple[float, float]) -> None:
    with pytest.raises(errors.ValueError, match="Invalid interval"):
        async for _ in service(FakePort()).verify_wait([infohash(1)], interval=interval):
            pass


async def test_a_client_that_skips_requests_gets_them_again_at_its_own_pace() -> None:
    # Deluge: its pause skips torrents its queue starts meanwhile, so a stop
    # goes again to those still running after the client's resend_after, not
    # after the policy's seconds for a dropped request.
    port = FakePort(timing=ClientTiming(resend_after=0.0))
    heard = port.put(infohash(1)).infohash
    skipped = port.put(infohash(2), script=Script(drop=1)).infohash
    watch = Stopwatch()
    response = await service(port, resend_after=10.0).stop([heard, skipped])
    assert response == expect(StopResponse, stopped=[heard, skipped])
    assert watch.seconds < 1.0
    assert port.requests("stop") == [(heard, skipped), (skipped,)]
