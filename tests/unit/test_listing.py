"""get_torrents() and watch() semantics against the scripted fake port."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator
from datetime import UTC

import msgspec
import pytest

from aiobtclientapi import APIBase, PollPolicy
from aiobtclientapi.application.ports import TorrentChanges
from aiobtclientapi.domain import errors
from aiobtclientapi.domain.events import TorrentAdded, TorrentChanged, TorrentEvent, TorrentRemoved, changes_between
from aiobtclientapi.domain.torrent import (
    ATTRIBUTES,
    COLLECTION_ATTRIBUTES,
    DEFAULT_ATTRIBUTES,
    Torrent,
    TorrentState,
    parse_attributes,
    ratio_of,
    timestamp,
)
from tests.unit.fake_port import FakePort

A, B, C = "a" * 40, "b" * 40, "c" * 40


def torrent(infohash: str, state: TorrentState = TorrentState.stopped, progress: float = 0.0) -> Torrent:
    return Torrent(infohash=infohash, name=f"name-{infohash[0]}", state=state, progress=progress)


def api_on(port: FakePort) -> APIBase:
    return APIBase(port, policy=PollPolicy(timeout=1))


async def events_of(api: APIBase, count: int, interval: float = 0.01) -> list[TorrentEvent]:
    events: list[TorrentEvent] = []
    async for event in api.watch(interval=interval):
        events.append(event)
        if len(events) == count:
            break
    return events


# --- the model --------------------------------------------------------------------------
def test_attributes_default_to_every_scalar_field() -> None:
    assert parse_attributes(None) == DEFAULT_ATTRIBUTES
    assert not DEFAULT_ATTRIBUTES & COLLECTION_ATTRIBUTES
    assert set(ATTRIBUTES) == DEFAULT_ATTRIBUTES | COLLECTION_ATTRIBUTES
    assert "infohash" not in ATTRIBUTES


def test_attributes_from_a_comma_separated_string() -> None:
    assert parse_attributes("name, progress,files") == {"name", "progress", "files"}


def test_unknown_attribute_is_named() -> None:
    with pytest.raises(errors.ValueError, match="Unknown torrent attribute: colour, sise"):
        parse_attributes(["name", "sise", "colour"])


def test_unset_dates_are_none_and_dates_are_utc() -> None:
    assert timestamp(0) is None
    assert timestamp(-1) is None
    assert timestamp(None) is None
    moment = timestamp(1_700_000_000)
    assert moment is not None and moment.tzinfo is UTC and moment.year == 2023


def test_ratio() -> None:
    assert ratio_of(10, 0) == math.inf
    assert ratio_of(0, 0) == 0.0
    assert ratio_of(5, 10) == 0.5


def test_fields_not_asked_for_are_unset_and_left_out_of_json() -> None:
    value = Torrent(infohash=A, name="x")
    assert value.progress is msgspec.UNSET
    assert msgspec.json.decode(msgspec.json.encode(value)) == {"infohash": A, "name": "x"}


def test_changes_name_only_what_differs() -> None:
    old = torrent(A, TorrentState.downloading, 0.5)
    new = torrent(A, TorrentState.seeding, 0.5)
    assert changes_between(old, new) == {"state": TorrentState.seeding}
    assert changes_between(new, new) == {}


# --- get_torrents -----------------------------------------------------------------------
async def test_get_torrents_leaves_out_unknown_and_asks_once() -> None:
    port = FakePort()
    port.put(A)
    port.put(B)
    result = await api_on(port).get_torrents(B, C, B.upper(), attributes=("name",))
    assert [t.infohash for t in result] == [B]
    assert result[0].name == "name-bbbbbbbb"
    assert result[0].state is msgspec.UNSET
    assert port.requests("torrents") == [(B, C)]


async def test_get_torrents_without_infohashes_lists_every_torrent() -> None:
    port = FakePort()
    port.put(A)
    port.put(B)
    result = await api_on(port).get_torrents()
    assert {t.infohash for t in result} == {A, B}
    assert port.requests("torrents") == [()]


async def test_get_torrents_refuses_bad_infohash_and_attribute_before_asking() -> None:
    port = FakePort()
    api = api_on(port)
    with pytest.raises(errors.ValueError, match="Invalid infohash"):
        await api.get_torrents("nope")
    with pytest.raises(errors.ValueError, match="Unknown torrent attribute: speed"):
        await api.get_torrents(attributes=["speed"])
    assert "torrents" not in port.methods()


# --- watch --------------------------------------------------------------------------------
async def test_watch_reports_every_torrent_then_what_changed() -> None:
    port = FakePort()
    port.feed_script = [
        TorrentChanges(changed=[torrent(A), torrent(B)], present=frozenset({A, B})),
        TorrentChanges(changed=[torrent(A), torrent(B, TorrentState.downloading)]),  # A repeated unchanged
        TorrentChanges(changed=[torrent(C)], present=frozenset({B, C})),  # A gone
        TorrentChanges(changed=[], removed=[B]),
    ]
    events = await events_of(api_on(port), 6)
    assert events == [
        TorrentAdded(torrent=torrent(A)),
        TorrentAdded(torrent=torrent(B)),
        TorrentChanged(infohash=B, changes={"state": TorrentState.downloading}),
        TorrentRemoved(infohash=A),
        TorrentAdded(torrent=torrent(C)),
        TorrentRemoved(infohash=B),
    ]


async def test_watch_ignores_removal_of_torrents_it_never_saw() -> None:
    port = FakePort()
    port.feed_script = [
        TorrentChanges(changed=[torrent(A)], present=frozenset({A})),
        TorrentChanges(changed=[], removed=[C]),
        TorrentChanges(changed=[], removed=[A]),
    ]
    assert await events_of(api_on(port), 2) == [TorrentAdded(torrent=torrent(A)), TorrentRemoved(infohash=A)]


async def test_watch_rides_out_a_lost_connection_and_reports_what_changed_meanwhile() -> None:
    port = FakePort()
    lost = errors.ConnectionError("localhost:9: Connection refused")
    port.feed_script = [
        TorrentChanges(changed=[torrent(A), torrent(B)], present=frozenset({A, B})),
        lost,
    ]
    api = api_on(port)
    events: list[TorrentEvent] = []

    async def consume() -> None:
        async for event in api.watch(interval=0.01):
            events.append(event)
            if len(events) == 4:
                return

    task = asyncio.create_task(consume())
    while port.methods().count("feed.poll") < 4:  # the first, then three failed
        await asyncio.sleep(0.01)
    # Back with B removed and A changed while we were away.
    port.feed_script = [
        *port.feed_script[: port.feeds[0].polls],
        TorrentChanges(changed=[torrent(A, TorrentState.seeding, 1.0)], present=frozenset({A})),
    ]
    await asyncio.wait_for(task, 10)
    assert events[2:] == [
        TorrentRemoved(infohash=B),
        TorrentChanged(infohash=A, changes={"state": TorrentState.seeding, "progress": 1.0}),
    ]


async def test_watch_raises_when_the_client_cannot_be_reached_at_first() -> None:
    port = FakePort()
    port.feed_script = [errors.ConnectionError("localhost:9: Connection refused")]
    with pytest.raises(errors.ConnectionError):
        await events_of(api_on(port), 1)
    assert port.feeds[0].closed


async def test_watch_ends_on_authentication_failure() -> None:
    port = FakePort()
    port.feed_script = [
        TorrentChanges(changed=[torrent(A)], present=frozenset({A})),
        errors.AuthenticationError("localhost:9: Authentication failed"),
    ]
    seen: list[TorrentEvent] = []
    with pytest.raises(errors.AuthenticationError):
        async for event in api_on(port).watch(interval=0.01):
            seen.append(event)
    assert seen == [TorrentAdded(torrent=torrent(A))]
    assert port.feeds[0].closed


async def test_breaking_out_closes_the_feed() -> None:
    port = FakePort()
    port.feed_script = [TorrentChanges(changed=[torrent(A)], present=frozenset({A}))]
    stream: AsyncIterator[TorrentEvent] = api_on(port).watch(interval=0.01)
    async for _ in stream:
        break
    await stream.aclose()  # type: ignore[attr-defined]
    assert port.feeds[0].closed


async def test_news_from_the_client_cuts_the_interval_short() -> None:
    port = FakePort()
    port.feed_script = [
        TorrentChanges(changed=[torrent(A)], present=frozenset({A})),
        TorrentChanges(changed=[torrent(A, TorrentState.seeding)]),
    ]
    api = api_on(port)
    stream = api.watch(interval=60)
    assert isinstance(await anext(stream), TorrentAdded)
    started = time.monotonic()
    waiting = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0.05)
    news = port.feeds[0].news
    assert news is not None
    news.set()
    event = await asyncio.wait_for(waiting, 5)
    assert event == TorrentChanged(infohash=A, changes={"state": TorrentState.seeding})
    assert time.monotonic() - started < 5
    await stream.aclose()


@pytest.mark.parametrize("attributes", [("name", "files"), ("peers",), ("trackers", "state")])
async def test_watch_refuses_collections(attributes: tuple[str, ...]) -> None:
    port = FakePort()
    with pytest.raises(errors.ValueError, match="watch\\(\\) can't follow"):
        async for _ in api_on(port).watch(attributes=attributes):
            pass
    assert not port.feeds


async def test_watch_refuses_a_bad_interval() -> None:
    with pytest.raises(errors.ValueError, match="Invalid interval"):
        async for _ in api_on(FakePort()).watch(interval=0):
            pass


async def test_a_torrent_missing_after_a_reconnect_is_removed_only_if_it_stays_missing() -> None:
    port = FakePort()
    port.put(A, "name-a", stopped=True)  # the client has A (it loads it late after a restart); B is gone
    port.feed_script = [TorrentChanges(changed=[torrent(A), torrent(B)], present=frozenset({A, B}))]
    api = APIBase(port, policy=PollPolicy(timeout=0.3))
    events: list[TorrentEvent] = []
    started = time.monotonic()
    # Just what torrent() sets: the fake's other fields would read as changes.
    async with contextlib.aclosing(api.watch(("name", "state", "progress"), interval=0.02)) as stream:
        async for event in stream:
            events.append(event)
            if len(events) == 2:
                # After a break (a reconnect, a restart), a daemon that lists nothing yet.
                port.feed_script = [TorrentChanges(changed=[], present=frozenset(), resumed=True)]
            if isinstance(event, TorrentRemoved):
                break
    assert events[2:] == [TorrentRemoved(infohash=B)]  # A was never reported removed
    assert time.monotonic() - started >= 0.3
    assert port.requests("torrents") == [(A, B)]  # asked directly once their time was up
