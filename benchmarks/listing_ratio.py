"""Quick check of get_torrents() against the raw floor on one target (what make bench checks at 10,000).

PYTHONPATH=. venv/bin/python -m benchmarks.listing_ratio TARGET_ID [COUNT]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiobtclientapi.testing._pool import TargetPool
from aiobtclientapi.testing._torrents import make_torrent
from benchmarks.listing import LISTING_FIELDS, RAW_LISTINGS


async def best(call: Callable[[], Awaitable[Any]], rounds: int = 7) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return min(times)


async def main(target_id: str, count: int) -> None:
    pool = TargetPool()
    try:
        target = pool.get(target_id)
        workdir = Path(tempfile.mkdtemp(prefix="btc-ratio-"))
        torrents = [
            make_torrent(target.download_dir, workdir, size=16 * 1024, keep_content=False) for _ in range(count)
        ]
        async with target.make_api(timeout=120) as api:
            for start in range(0, count, 1000):
                batch = torrents[start : start + 1000]
                response = await api.add(
                    *(str(t.torrent_path) for t in batch), location=str(target.download_dir), stopped=True
                )
                assert response.success, response.errors[:3]
            method, args, kwargs = RAW_LISTINGS[target.client]
            for _ in range(3):
                raw = await best(lambda: api.call(method, *args, **kwargs))
                ours = await best(lambda: api.get_torrents(attributes=LISTING_FIELDS))
                print(f"{target_id}: raw {raw:.4f} s, get_torrents {ours:.4f} s, ratio {ours / raw:.2f}", flush=True)
    finally:
        pool.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10_000))
