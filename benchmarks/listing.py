"""get_torrents() of 10,000 torrents, a quiet watch interval and Deluge's decoding.

get_torrents() with ten common fields is timed against the raw floor measured
in the same rounds (the one batched raw call a bare script would send for
those fields, decoded into plain values): at most ``LISTING_SLACK`` times as
long, and at most ``LISTING_MEMORY`` allocated at peak. A quiet interval of
watch() must cost fewer bytes on the wire than a full listing of the same
fields. Deluge's bounded frame decoder may cost at most ``DECODE_SLACK``
times rencode's decoder alone on a listing of 10,000 torrents.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from aiobtclientapi import APIBase

#: (what, value, limit, note): seconds unless the note says otherwise.
Result = tuple[str, float, float, str]


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
