"""The bulk operations side by side with their raw floor, in the same run.

For each target and count, ``runs`` rounds; in each round the library and
the floor (``benchmarks.floors``) each take a fresh set of torrents through
add (stopped), get_infohashes, start, stop and verify, alternating which
goes first. The library's Responses are checked (every torrent in the right
list, no error); a floor confirms by polling. Between ops both wait for the
checks the client runs to end, untimed, so no op pays for the one before
(not after the last, verify: qBittorrent 4.5 checks stopped torrents one a
second, so only rTorrent, which may hang otherwise, is waited for there).
A last, untimed round of the library under tracemalloc gives each op's peak
memory, and with ``--profile DIR`` one more runs under pyinstrument. After
each round its torrents are removed (untimed).
"""

from __future__ import annotations

import asyncio
import importlib
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec

from aiobtclientapi import APIBase
from aiobtclientapi.testing._targets import Target
from aiobtclientapi.testing._torrents import TestTorrent, make_torrent

OPS = ("add", "get_infohashes", "start", "stop", "verify")
#: How long the untimed wait between two ops may take.
SETTLE_WITHIN = 300.0


class OpTimes(msgspec.Struct, kw_only=True):
    """One op on one target at one count: seconds of each round, peak memory."""

    target: str
    client: str
    count: int
    op: str
    ours: list[float] = []
    floor: list[float] = []
    peak_mib: float | None = None


def floor_of(client: str) -> ModuleType:
    return importlib.import_module(f"benchmarks.floors.{client}")


async def prepare_daemon(target: Target, api: APIBase) -> None:
    """The daemon settings every benchmark runs with (its floor's ``prepare()``, if any)."""
    prepare = getattr(floor_of(target.client), "prepare", None)
    if prepare is not None:
        await prepare(api)


async def _settle(api: APIBase, infohashes: Sequence[str]) -> None:
    """Wait until no torrent is checking and every one shows whether it runs (untimed).

    qBittorrent loads torrents for a while after adding or starting them
    (checkingResumeData, which says neither running nor stopped); an op sent
    meanwhile is answered at once, one sent later waits for the state refresh:
    the op after must not depend on which of the two it hits.
    """
    async for _ in api.verify_wait(*infohashes, interval=(0.1, 1.0)):
        pass
    delay, deadline = 0.05, time.monotonic() + SETTLE_WITHIN
    while True:
        statuses = await api.port.snapshot(infohashes)
        if all(status.stopped is not None and not status.is_verifying for status in statuses.values()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"torrents still loading or checking {SETTLE_WITHIN} s later")
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 1.0)


def _check(op: str, response: Any, field: str, count: int) -> None:
    done = getattr(response, field)
    if response.errors or len(done) != count:
        lists = {name: len(getattr(response, name)) for name in response.lists}
        raise AssertionError(f"{op}: {len(done)} of {count} {field}; {lists}; errors: {response.errors[:3]}")


async def _ours(
    api: APIBase, torrents: Sequence[TestTorrent], location: str
) -> dict[str, Callable[[], Awaitable[None]]]:
    hashes = [t.infohash for t in torrents]
    paths = [str(t.torrent_path) for t in torrents]

    async def add() -> None:
        _check("add", await api.add(*paths, location=location, stopped=True), "added", len(hashes))

    async def get_infohashes() -> None:
        listed = set(await api.get_infohashes())
        assert listed >= set(hashes), "get_infohashes: torrents missing"

    async def start() -> None:
        _check("start", await api.start(*hashes), "started", len(hashes))

    async def stop() -> None:
        _check("stop", await api.stop(*hashes), "stopped", len(hashes))

    async def verify() -> None:
        _check("verify", await api.verify(*hashes), "verifying", len(hashes))

    return {"add": add, "get_infohashes": get_infohashes, "start": start, "stop": stop, "verify": verify}


async def _floor(
    api: APIBase, client: str, torrents: Sequence[TestTorrent], location: str
) -> dict[str, Callable[[], Awaitable[None]]]:
    floor = floor_of(client)
    hashes = [t.infohash for t in torrents]

    async def get_infohashes() -> None:
        assert set(await floor.infohashes(api)) >= set(hashes), "floor get_infohashes: torrents missing"

    return {
        "add": lambda: floor.add_stopped(api, torrents, location),
        "get_infohashes": get_infohashes,
        "start": lambda: floor.start(api, hashes),
        "stop": lambda: floor.stop(api, hashes),
        "verify": lambda: floor.verify(api, hashes),
    }


async def _round(
    api: APIBase,
    steps: dict[str, Callable[[], Awaitable[None]]],
    hashes: Sequence[str],
    *,
    traced: bool = False,
    profiles: Path | None = None,
) -> dict[str, float]:
    """Each op's seconds (or peak MiB when `traced`), settling after each.

    With `profiles`, each op runs under pyinstrument (wall clock, await-aware)
    and its profile is written there as text, named after the op.
    """
    values: dict[str, float] = {}
    for op in OPS:
        if traced:
            tracemalloc.start()
        profiler = _profiler() if profiles is not None else None
        started = time.perf_counter()
        await steps[op]()
        elapsed = time.perf_counter() - started
        if profiler is not None and profiles is not None:
            profiler.stop()
            profiles.mkdir(parents=True, exist_ok=True)
            (profiles / f"{op}.txt").write_text(profiler.output_text(unicode=True, show_all=False))
        if traced:
            values[op] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        else:
            values[op] = elapsed
        if op != OPS[-1]:
            await _settle(api, hashes)
    return values


def _profiler() -> Any:
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005, async_mode="enabled")
    profiler.start()
    return profiler


async def bench_ops(
    target: Target, count: int, runs: int, workdir: Path, *, memory: bool = True, profiles: Path | None = None
) -> list[OpTimes]:
    """Ours and the floor, `runs` rounds each, at `count` torrents.

    With `profiles`, one more untimed round of ours runs under pyinstrument,
    its profiles written to ``profiles/TARGET-COUNT/OP.txt``.
    """
    client = target.client
    results = {op: OpTimes(target=target.id, client=client, count=count, op=op) for op in OPS}
    location = str(target.download_dir)

    def fresh() -> list[TestTorrent]:
        return [make_torrent(target.download_dir, workdir / target.id, size=16 * 1024) for _ in range(count)]

    async with target.make_api(timeout=120) as api:
        await prepare_daemon(target, api)
        for index in range(runs):
            order = ("ours", "floor") if index % 2 == 0 else ("floor", "ours")
            for side in order:
                torrents = fresh()
                hashes = [t.infohash for t in torrents]
                if side == "ours":
                    steps = await _ours(api, torrents, location)
                else:
                    steps = await _floor(api, client, torrents, location)
                try:
                    for op, seconds in (await _round(api, steps, hashes)).items():
                        getattr(results[op], side).append(seconds)
                finally:
                    await _clean(target, api, torrents)
        if memory:
            torrents = fresh()
            hashes = [t.infohash for t in torrents]
            try:
                peaks = await _round(api, await _ours(api, torrents, location), hashes, traced=True)
            finally:
                await _clean(target, api, torrents)
            for op, peak in peaks.items():
                results[op].peak_mib = peak
        if profiles is not None:
            torrents = fresh()
            steps = await _ours(api, torrents, location)
            try:
                await _round(api, steps, [t.infohash for t in torrents], profiles=profiles / f"{target.id}-{count}")
            finally:
                await _clean(target, api, torrents)
    return list(results.values())


async def _clean(target: Target, api: APIBase, torrents: Sequence[TestTorrent]) -> None:
    """Remove the round's torrents and their content (untimed)."""
    listed = set(await api.get_infohashes())
    present = [t.infohash for t in torrents if t.infohash in listed]
    if present and target.client == "rtorrent":
        # rTorrent 0.9.8 can hang for good when torrents queued for a check are
        # removed; the others are not waited for (see the module's docstring).
        await _settle(api, present)
    if present:
        await target.raw_remove(api, present)
        # Some clients remove in the background: the next round must not pay for it.
        delay, deadline = 0.05, time.monotonic() + 120
        while set(present) & set(await api.get_infohashes()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{target.id}: torrents still listed 120 s after their removal")
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 1.0)
    for torrent in torrents:
        torrent.delete_content()
        torrent.torrent_path.unlink(missing_ok=True)
