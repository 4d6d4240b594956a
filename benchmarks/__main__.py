"""make bench: time add/start/stop/listing of thousands of torrents on real daemons.

For each client this starts the same daemons the tests use, generates
``--count`` small torrents with their content, and times each operation
through the public API. Every operation is checked for success; the time is
compared with the floor measured with raw batched calls on the same kind of
machine (``FLOORS``, seconds for 1,000 torrents, scaled by count), and the
run fails when an operation takes more than ``--slack`` times its floor plus
one second. Peak Python memory during add() is reported too.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from aiobtclientapi.testing._pool import TargetPool, all_target_ids
from aiobtclientapi.testing._torrents import make_torrent

#: Raw batched-call floors for 1,000 torrents on Debian 12 daemons.
FLOORS: dict[str, dict[str, float]] = {
    "transmission": {"add": 2.3, "start": 0.04, "stop": 0.8, "list": 0.2},
    "qbittorrent": {"add": 0.5, "start": 1.5, "stop": 1.4, "list": 0.2},
    "deluge": {"add": 3.5, "start": 0.9, "stop": 0.3, "list": 0.2},
    "rtorrent": {"add": 1.0, "start": 4.3, "stop": 0.3, "list": 0.2},
    "memory": {"add": 0.1, "start": 0.1, "stop": 0.1, "list": 0.1},
}


async def bench_target(pool: TargetPool, target_id: str, count: int, workdir: Path) -> list[tuple[str, float, str]]:
    target = pool.get(target_id)
    torrents = [make_torrent(target.download_dir, workdir / target_id, size=16 * 1024) for _ in range(count)]
    paths = [str(t.torrent_path) for t in torrents]
    hashes = [t.infohash for t in torrents]
    results: list[tuple[str, float, str]] = []
    async with target.make_api(timeout=60) as api:
        tracemalloc.start()
        started = time.perf_counter()
        response = await api.add(*paths, location=str(target.download_dir), stopped=True)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert response.success and len(response.added) == count, (response.errors[:3], len(response.added))
        results.append(("add", elapsed, f"peak {peak / 2**20:.1f} MiB"))

        # Let the client finish checking the new torrents' data first.
        async for _ in api.verify_wait(*hashes, interval=(0.2, 1.0)):
            pass

        started = time.perf_counter()
        listed = await api.get_infohashes()
        results.append(("list", time.perf_counter() - started, f"{len(listed)} torrents"))
        assert set(hashes) <= set(listed)

        for name, method, field in (("start", api.start, "started"), ("stop", api.stop, "stopped")):
            started = time.perf_counter()
            response = await method(*hashes)
            elapsed = time.perf_counter() - started
            done = getattr(response, field)
            assert response.success and len(done) == count, (name, response.errors[:3], len(done))
            results.append((name, elapsed, ""))
            # Starting makes rTorrent check the data; stopping torrents queued for
            # that check can hang rTorrent 0.9.8 for good, so let the checks end.
            async for _ in api.verify_wait(*hashes, interval=(0.2, 1.0)):
                pass
    return results


async def main() -> int:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--slack", type=float, default=3.0)
    parser.add_argument("targets", nargs="*", help="target ids (default: one per client)")
    options = parser.parse_args()
    ids = options.targets or _one_per_client(all_target_ids())
    failures = 0
    pool = TargetPool()
    try:
        with tempfile.TemporaryDirectory(prefix="btc-bench-") as tmp:
            print(f"{'target':<28} {'op':<6} {'seconds':>8} {'limit':>8}  note")
            for target_id in ids:
                client = target_id.split("-", 1)[0]
                for op, seconds, note in await bench_target(pool, target_id, options.count, Path(tmp)):
                    floor = FLOORS[client][op] * options.count / 1000
                    limit = floor * options.slack + 1.0
                    verdict = "" if seconds <= limit else "  TOO SLOW"
                    failures += bool(verdict)
                    print(f"{target_id:<28} {op:<6} {seconds:>8.2f} {limit:>8.2f}  {note}{verdict}", flush=True)
    finally:
        pool.close()
    return 1 if failures else 0


def _one_per_client(ids: list[str]) -> list[str]:
    chosen: dict[str, str] = {}
    for target_id in ids:
        chosen.setdefault(target_id.split("-", 1)[0], target_id)
    return list(chosen.values())


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
