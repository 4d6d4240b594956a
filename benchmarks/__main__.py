"""make bench: time add/start/stop/listing of thousands of torrents on real daemons.

For each client this starts the same daemons the tests use, generates
``--count`` small torrents with their content, and times each operation
through the public API. Every operation is checked for success; the time is
compared with the floor measured with raw batched calls on the same kind of
machine (``FLOORS``, seconds for 1,000 torrents, scaled by count), and the
run fails when an operation takes more than ``--slack`` times its floor plus
one second. Peak Python memory during add() is reported too.

Then it adds torrents up to 10,000 and times get_torrents() of all of them
with ten common fields against the raw floor measured in the same run (the
one batched raw call a bare script would send for those fields, decoded into
plain values): at most 1.3 times as long, and at most 50 MiB allocated at
peak. A quiet interval of watch() must cost fewer bytes on the wire than a
full listing of the same fields.

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
from typing import Any

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


#: The ten common fields get_torrents() is timed with.
LISTING_FIELDS = (
    "name",
    "state",
    "progress",
    "size_total",
    "size_done",
    "rate_down",
    "rate_up",
    "ratio",
    "save_path",
    "added_at",
)
#: Seconds after the last change for a poll of the change feed to be quiet.
QUIET_AFTER = {"transmission": 61.0}
#: Torrents in the listing benchmark.
LISTING_COUNT = 10_000
#: How much slower than the raw floor get_torrents() may be, and how much it may allocate.
LISTING_SLACK = 1.3
LISTING_MEMORY = 50 * 2**20

#: The raw floor for those fields: the one batched call a bare script sends, replies
#: decoded into plain Python values (no mapping, no model).
RAW_LISTINGS: dict[str, tuple[str, tuple[Any, ...], dict[str, Any]]] = {
    "transmission": (
        "torrent-get",
        (),
        {
            "fields": [
                "hashString",
                "name",
                "status",
                "percentDone",
                "totalSize",
                "haveValid",
                "rateDownload",
                "rateUpload",
                "uploadRatio",
                "downloadDir",
                "addedDate",
                "error",
                "metadataPercentComplete",
            ]
        },
    ),
    "qbittorrent": ("torrents/info", (), {}),
    "deluge": (
        "core.get_torrents_status",
        (
            {},
            [
                "name",
                "state",
                "progress",
                "total_size",
                "total_done",
                "download_payload_rate",
                "upload_payload_rate",
                "ratio",
                "save_path",
                "time_added",
                "paused",
            ],
        ),
        {},
    ),
    "rtorrent": (
        "d.multicall2",
        (
            "",
            "main",
            "d.hash=",
            "d.name=",
            "d.state=",
            "d.is_active=",
            "d.hashing=",
            "d.complete=",
            "d.completed_bytes=",
            "d.size_bytes=",
            "d.down.rate=",
            "d.up.rate=",
            "d.ratio=",
            "d.directory=",
            "d.is_multi_file=",
            "d.load_date=",
            "d.message=",
        ),
        {},
    ),
}


async def bench_listing(api: APIBase, client: str) -> list[Result]:
    """get_torrents() of every torrent with the ten common fields, against the raw floor
    measured in the same rounds, and the memory it takes."""
    raw = RAW_LISTINGS.get(client)
    times: list[float] = []
    floors: list[float] = []
    for _ in range(5):
        if raw is not None:
            method, args, kwargs = raw
            started = time.perf_counter()
            await api.call(method, *args, **kwargs)
            floors.append(time.perf_counter() - started)
        started = time.perf_counter()
        torrents = await api.get_torrents(attributes=LISTING_FIELDS)
        times.append(time.perf_counter() - started)
        assert len(torrents) >= LISTING_COUNT, len(torrents)
        del torrents
    # Memory in a round of its own: tracing allocations slows them down.
    tracemalloc.start()
    await api.get_torrents(attributes=LISTING_FIELDS)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    results: list[Result] = []
    if floors:
        floor = min(floors)
        note = f"{LISTING_COUNT} torrents, ten fields; raw floor {floor:.3f} s"
        results.append(("get_torrents", min(times), floor * LISTING_SLACK, note))
    results.append(("list_mem", peak / 2**20, LISTING_MEMORY / 2**20, "MiB at peak in get_torrents()"))
    return results


async def bench_watch(api: APIBase, client: str, last_change: float) -> list[Result]:
    """Bytes a quiet watch interval costs, against a full listing of the same fields."""
    feed = api.port.change_feed(frozenset(LISTING_FIELDS))
    try:
        await feed.poll()  # the first poll lists everything
        # Transmission reports what was active in the last minute: let the adds age.
        quiet_after = last_change + QUIET_AFTER.get(client, 0.0) - time.monotonic()
        if quiet_after > 0:
            await asyncio.sleep(quiet_after)
        await feed.poll()
        before = api.port.bytes_received
        changes = await feed.poll()
        quiet = api.port.bytes_received - before
    finally:
        await feed.close()
    before = api.port.bytes_received
    await api.get_torrents(attributes=LISTING_FIELDS)
    full = api.port.bytes_received - before
    note = f"bytes per quiet interval ({len(changes.changed)} changed) vs a full listing's"
    return [("watch", quiet, full, note)]


#: (operation, seconds, limit or None for the floor's, note)
Result = tuple[str, float, "float | None", str]


async def bench_target(pool: TargetPool, target_id: str, count: int, workdir: Path, listing: bool) -> list[Result]:
    target = pool.get(target_id)
    client = target_id.split("-", 1)[0]  # "memory" for the memory client, whatever API it stands in for
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
        if listing:
            # More torrents, without content so the clients have nothing to check.
            extra = [
                make_torrent(target.download_dir, workdir / target_id, size=16 * 1024, keep_content=False)
                for _ in range(max(LISTING_COUNT - count, 0))
            ]
            for start in range(0, len(extra), 1000):
                batch = extra[start : start + 1000]
                more = await api.add(
                    *(str(t.torrent_path) for t in batch), location=str(target.download_dir), stopped=True
                )
                assert more.success, more.errors[:3]
            last_change = time.monotonic()
            results.extend(await bench_listing(api, client))
            results.extend(await bench_watch(api, client, last_change))
        if target.client == "deluge":
            ours, alone = await bench_deluge_decoding(api)
            note = f"a listing of 10,000 torrents; rencode alone {alone:.3f} s"
            results.append(("decode", ours, alone * DECODE_SLACK, note))
    return results


async def main() -> int:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--slack", type=float, default=3.0)
    parser.add_argument(
        "--no-listing", action="store_true", help=f"skip get_torrents() and watch() over {LISTING_COUNT} torrents"
    )
    parser.add_argument("targets", nargs="*", help="target ids (default: one per client)")
    options = parser.parse_args()
    ids = options.targets or _one_per_client(all_target_ids())
    failures = 0
    pool = TargetPool()
    try:
        with tempfile.TemporaryDirectory(prefix="btc-bench-") as tmp:
            print(f"{'target':<28} {'op':<12} {'value':>10} {'limit':>10}  note (values in seconds unless noted)")
            for target_id in ids:
                client = target_id.split("-", 1)[0]
                for op, seconds, limit, note in await bench_target(
                    pool, target_id, options.count, Path(tmp), not options.no_listing
                ):
                    if limit is None:
                        limit = FLOORS[client][op] * options.count / 1000 * options.slack + 1.0
                    verdict = "" if seconds <= limit else "  TOO SLOW"
                    failures += bool(verdict)
                    print(f"{target_id:<28} {op:<12} {seconds:>10.3f} {limit:>10.3f}  {note}{verdict}", flush=True)
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
