"""One event loop driving many API objects at once.

``PER_CLIENT`` API objects per client, each adding (stopped), starting and
stopping ``TORRENTS`` torrents of its own (letting them settle between two
ops where the client needs it, see ``_settle_after``), every Response checked. First each
client's objects alone, then all clients' together: the event loop and the
library must not be what limits, so all together may take at most ``SLACK``
times the slowest client alone.

Each phase also reports the CPU seconds this process and each daemon used:
on a machine whose cores the daemons alone keep busy, all together cannot
take less than their CPU time shared out over the cores, whatever the
library does.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from pathlib import Path

import msgspec

from aiobtclientapi import APIBase
from aiobtclientapi.testing._targets import Target
from aiobtclientapi.testing._torrents import TestTorrent, make_torrent

from .ops import _check, _clean, _settle, prepare_daemon

PER_CLIENT = 25
TORRENTS = 20
SLACK = 1.5


#: The name under which the CPU time of the benchmark's own process is reported.
OURS = "aiobtclientapi"


class ManyAPIs(msgspec.Struct, kw_only=True):
    """Seconds for each client's objects alone and for all of them at once, and the
    CPU seconds each process used meanwhile (by phase: a target id, or "together")."""

    alone: dict[str, float]
    together: float
    objects: int
    torrents_each: int
    cpu: dict[str, dict[str, float]] = {}
    #: The cores this process may run on (the daemons share the machine's).
    cores: int = 0

    def cpu_bound(self, phase: str) -> float:
        """The least wall time the CPU seconds of `phase` fit in, shared out over the cores."""
        return sum(self.cpu.get(phase, {}).values()) / max(self.cores, 1)


def cpu_summary(many: ManyAPIs, phase: str) -> str:
    """The CPU seconds of `phase` in words, e.g. "CPU: aiobtclientapi 0.25 s, deluge-2.0.3 1.31 s"."""
    used = many.cpu.get(phase)
    if not used:
        return ""
    each = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in used.items())
    return (
        f"CPU: {each}; {sum(used.values()):.2f} s in all, at least {many.cpu_bound(phase):.2f} s on {many.cores} cores"
    )


def _cpu_seconds(targets: Sequence[Target]) -> dict[str, float]:
    """CPU seconds used so far by this process and by each target's daemon."""
    used = {OURS: time.process_time()}
    for target in targets:
        if target.daemon is not None:
            used[target.id] = target.daemon.cpu_seconds()
    return used


async def _one_object(api: APIBase, torrents: Sequence[TestTorrent], location: str, settle_after: str | None) -> None:
    hashes = [t.infohash for t in torrents]
    paths = [str(t.torrent_path) for t in torrents]
    async with api:
        _check("add", await api.add(*paths, location=location, stopped=True), "added", len(hashes))
        if settle_after == "add":
            await _settle(api, hashes)
        _check("start", await api.start(*hashes), "started", len(hashes))
        if settle_after == "start":
            await _settle(api, hashes)
        _check("stop", await api.stop(*hashes), "stopped", len(hashes))


def _settle_after(target: Target) -> str | None:
    """The op after which the torrents settle (checks and loading over) before the next.

    - rTorrent, "start": 0.9.8 can hang for good when torrents queued for a
      check are stopped (README, "Client bugs worth knowing").
    - qBittorrent, "add": it shows a torrent it is still loading
      (checkingResumeData) neither running nor stopped, and a start sent
      meanwhile is answered at once; one sent after the load waits for its
      next state refresh (every 1.5 s). Alone, its objects' starts come within
      the load; together, where the adds take longer, mostly after it. Without
      the settle the two phases would time different work (the ops benchmark
      settles between ops for the same reason).

    The other clients stop a checking torrent, and waiting for their checks
    would time the checks (Transmission's, about ten a second), not the event
    loop.
    """
    return {"rtorrent": "start", "qbittorrent": "add"}.get(target.client)


async def _drive(
    targets: Sequence[Target], per_client: int, torrents: int, workdir: Path
) -> tuple[float, dict[str, float]]:
    """Seconds for `per_client` objects on each target, all at once, and the CPU seconds
    each process used meanwhile; their torrents removed afterwards."""
    work: list[tuple[Target, APIBase, list[TestTorrent]]] = []
    for target in targets:
        async with target.make_api(timeout=120) as api:
            await prepare_daemon(target, api)
        for _ in range(per_client):
            batch = [make_torrent(target.download_dir, workdir / target.id, size=16 * 1024) for _ in range(torrents)]
            work.append((target, target.make_api(timeout=120), batch))
    cpu_before = _cpu_seconds(targets)
    started = time.perf_counter()
    try:
        await asyncio.gather(
            *(_one_object(api, batch, str(target.download_dir), _settle_after(target)) for target, api, batch in work)
        )
        seconds = time.perf_counter() - started
        cpu_after = _cpu_seconds(targets)
        return seconds, {name: cpu_after[name] - cpu_before[name] for name in cpu_after}
    finally:
        for target in targets:
            async with target.make_api(timeout=120) as api:
                await _clean(target, api, [t for owner, _, batch in work if owner is target for t in batch])


async def bench_many(
    targets: Sequence[Target], workdir: Path, per_client: int = PER_CLIENT, torrents: int = TORRENTS
) -> ManyAPIs:
    alone: dict[str, float] = {}
    cpu: dict[str, dict[str, float]] = {}
    for target in targets:
        alone[target.id], cpu[target.id] = await _drive([target], per_client, torrents, workdir)
    together, cpu["together"] = await _drive(targets, per_client, torrents, workdir)
    return ManyAPIs(
        alone=alone,
        together=together,
        objects=per_client * len(targets),
        torrents_each=torrents,
        cpu=cpu,
        cores=len(os.sched_getaffinity(0)),
    )
