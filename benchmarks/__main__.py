"""make bench: time add/start/stop/listing of thousands of torrents on real daemons.

For each client this starts the same daemons the tests use, generates
``--count`` small torrents with their content, and times each operation
through the public API. Every operation is checked for success; the time is
compared with the floor measured with raw batched calls on the same kind of
machine (``FLOORS``, seconds for 1,000 torrents, scaled by count), and the
run fails when an operation takes more than ``--slack`` times its floor plus
one second. Peak Python memory during add() is reported too.

For Deluge it also times decoding a listing of 10,000 torrents (the daemon's
real rows, repeated) through the bounded frame decoder, against inflating and
decoding the same frame with rencode's decoder alone; the bounds may cost at
most half again (``DECODE_SLACK``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from aiobtclientapi import APIBase
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


#: How much slower than rencode's own decoder a Deluge listing may decode.
DECODE_SLACK = 1.5


async def bench_deluge_decoding(api: APIBase, torrents: int = 10_000) -> tuple[float, float]:
    """Seconds to decode a listing of `torrents` torrents: (ours, rencode alone), best of 7."""
    import hashlib
    import zlib

    import rencode

    from aiobtclientapi.adapters.deluge._transport import FrameDecoder, encode_frame
    from aiobtclientapi.adapters.deluge._wire import STATUS_KEYS, decode_rows

    real = await api.call("core.get_torrents_status", {}, STATUS_KEYS)
    template = list(real.values())
    rows = {}
    for index in range(torrents):
        infohash = hashlib.sha1(str(index).encode()).hexdigest()
        rows[infohash] = {**template[index % len(template)], "hash": infohash}
    frame = encode_frame((1, 1, rows))

    def ours() -> None:
        [message] = FrameDecoder("bench").feed(frame)
        assert len(decode_rows(message[2], "bench")) == torrents

    def rencode_alone() -> None:
        message = rencode.loads(zlib.decompress(frame[5:]), decode_utf8=True)
        assert len(decode_rows(message[2], "bench")) == torrents

    def best(decode: Callable[[], None]) -> float:
        times = []
        for _ in range(7):
            started = time.perf_counter()
            decode()
            times.append(time.perf_counter() - started)
        return min(times)

    return best(ours), best(rencode_alone)


#: (operation, seconds, limit or None for the floor's, note)
Result = tuple[str, float, "float | None", str]


async def bench_target(pool: TargetPool, target_id: str, count: int, workdir: Path) -> list[Result]:
    target = pool.get(target_id)
    torrents = [make_torrent(target.download_dir, workdir / target_id, size=16 * 1024) for _ in range(count)]
    paths = [str(t.torrent_path) for t in torrents]
    hashes = [t.infohash for t in torrents]
    results: list[Result] = []
    async with target.make_api(timeout=60) as api:
        tracemalloc.start()
        started = time.perf_counter()
        response = await api.add(*paths, location=str(target.download_dir), stopped=True)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert response.success and len(response.added) == count, (response.errors[:3], len(response.added))
        results.append(("add", elapsed, None, f"peak {peak / 2**20:.1f} MiB"))

        # Let the client finish checking the new torrents' data first.
        async for _ in api.verify_wait(*hashes, interval=(0.2, 1.0)):
            pass

        started = time.perf_counter()
        listed = await api.get_infohashes()
        results.append(("list", time.perf_counter() - started, None, f"{len(listed)} torrents"))
        assert set(hashes) <= set(listed)

        for name, method, field in (("start", api.start, "started"), ("stop", api.stop, "stopped")):
            started = time.perf_counter()
            changed = await method(*hashes)
            elapsed = time.perf_counter() - started
            done = getattr(changed, field)
            assert changed.success and len(done) == count, (name, changed.errors[:3], len(done))
            results.append((name, elapsed, None, ""))
            # Starting makes rTorrent check the data; stopping torrents queued for
            # that check can hang rTorrent 0.9.8 for good, so let the checks end.
            async for _ in api.verify_wait(*hashes, interval=(0.2, 1.0)):
                pass
        if target.client == "deluge":
            ours, alone = await bench_deluge_decoding(api)
            note = f"a listing of 10,000 torrents; rencode alone {alone:.3f} s"
            results.append(("decode", ours, alone * DECODE_SLACK, note))
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
                for op, seconds, limit, note in await bench_target(pool, target_id, options.count, Path(tmp)):
                    if limit is None:
                        limit = FLOORS[client][op] * options.count / 1000 * options.slack + 1.0
                    verdict = "" if seconds <= limit else "  TOO SLOW"
                    failures += bool(verdict)
                    print(f"{target_id:<28} {op:<6} {seconds:>8.3f} {limit:>8.3f}  {note}{verdict}", flush=True)
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
