"""make bench: the bulk operations on real daemons, side by side with the raw floor.

    venv/bin/python -m benchmarks [--counts 100,1000] [--runs 5] [--per-client 25]
        [--many-torrents 20] [--comparator-count 20] [--transfer-count 500] [--no-ops] [--no-listing]
        [--no-comparator] [--no-many] [--no-transfer] [--no-judge] [--json FILE] [--profile DIR] [TARGET ...]

For one native daemon per client (or the targets named), in one run:

- ``benchmarks.ops``: add (stopped), get_infohashes, start, stop and verify
  at each count, ``--runs`` rounds of the library and of the raw floor
  (``benchmarks.floors``) alternating; median, min and max of each, and each
  op's peak memory. An op passes when its median is at most ``SLACK`` times
  the floor's median plus ``ALLOWANCE`` seconds.
- ``benchmarks.comparator``: aiobtclientapi 1.1.4 at 20 torrents, its
  Responses checked; an op it reports wrongly shows what it said instead of a time.
- ``benchmarks.listing``: get_torrents() of 10,000 torrents against its
  floor, its memory, a quiet watch interval's bytes, Deluge's decoding.
- ``benchmarks.many``: 25 API objects per client in one event loop.
- ``benchmarks.transfer``: 500 torrents from qBittorrent to Deluge in one
  ``transfer()`` call, with the time each step ended.

The figures go to ``--json`` (default ``benchmarks/results/latest.json``),
from which ``python -m benchmarks.chart`` draws the chart of docs/benchmarks.md.
With ``--no-judge`` (CI, at a small count) nothing is judged: the run only
proves that every part still works.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import msgspec

from aiobtclientapi.testing._pool import TargetPool, all_target_ids
from aiobtclientapi.testing._targets import Target
from aiobtclientapi.testing._torrents import make_torrent

from .cold_start import COMPARATOR, make_venv
from .comparator import COUNT as COMPARATOR_COUNT
from .comparator import Comparison, compare
from .listing import DECODE_SLACK, LISTING_COUNT, bench_deluge_decoding, bench_listing, bench_watch
from .many import PER_CLIENT, ManyAPIs, bench_many, cpu_summary
from .many import SLACK as MANY_SLACK
from .many import TORRENTS as MANY_TORRENTS
from .ops import OpTimes, _clean, bench_ops
from .transfer import COUNT as TRANSFER_COUNT
from .transfer import TransferRun, bench_transfer

#: An op may take this many times its floor's median, plus ALLOWANCE seconds.
SLACK = 1.5
ALLOWANCE = 0.3
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


class Judged(msgspec.Struct, kw_only=True):
    """A figure with its limit (listing, memory, watch bytes, decoding)."""

    target: str
    what: str
    value: float
    limit: float
    note: str


class Results(msgspec.Struct, kw_only=True):
    machine: str
    command: str
    started: str
    ops: list[OpTimes] = []
    comparisons: list[Comparison] = []
    judged: list[Judged] = []
    many: ManyAPIs | None = None
    transfer: TransferRun | None = None


def op_limit(times: OpTimes) -> float:
    return SLACK * statistics.median(times.floor) + ALLOWANCE


def machine() -> str:
    cores = len(os.sched_getaffinity(0))
    memory = Path("/proc/meminfo").read_text().split()[1]
    debian = Path("/etc/debian_version").read_text().strip() if Path("/etc/debian_version").exists() else "?"
    python = platform.python_version()
    return f"{platform.machine()}, {cores} cores, {int(memory) // 2**20} GiB, Debian {debian}, Python {python}"


def _print_ops(times: OpTimes, judge: bool) -> bool:
    ours, floor = times.ours, times.floor
    limit = op_limit(times)
    within = statistics.median(ours) <= limit
    verdict = "" if within or not judge else "  TOO SLOW"
    peak = f"{times.peak_mib:7.1f}" if times.peak_mib is not None else "      -"
    print(
        f"{times.target:<22} {times.op:<15} {times.count:>6}"
        f" {statistics.median(ours):>8.3f} {min(ours):>7.3f} {max(ours):>7.3f}"
        f" {statistics.median(floor):>8.3f} {min(floor):>7.3f} {max(floor):>7.3f}"
        f" {statistics.median(ours) / statistics.median(floor):>7.2f} {limit:>7.3f} {peak}{verdict}",
        flush=True,
    )
    return within or not judge


async def _listing(target: Target, workdir: Path) -> list[Judged]:
    """Listing, watch and decoding over LISTING_COUNT torrents without content."""
    extra = [
        make_torrent(target.download_dir, workdir / target.id, size=16 * 1024, keep_content=False)
        for _ in range(LISTING_COUNT)
    ]
    results: list[Judged] = []
    async with target.make_api(timeout=120) as api:
        try:
            for first in range(0, len(extra), 1000):
                batch = extra[first : first + 1000]
                more = await api.add(
                    *(str(t.torrent_path) for t in batch), location=str(target.download_dir), stopped=True
                )
                assert more.success, more.errors[:3]
            last_change = time.monotonic()
            figures = [*await bench_listing(api, target.client), *await bench_watch(api, target.client, last_change)]
            if target.client == "deluge":
                ours, alone = await bench_deluge_decoding(api)
                figures.append(("decode", ours, alone * DECODE_SLACK, f"10,000 rows; rencode alone {alone:.3f} s"))
            results.extend(Judged(target=target.id, what=w, value=v, limit=lim, note=n) for w, v, lim, n in figures)
        finally:
            await _clean(target, api, extra)
    return results


def _comparator_python() -> Path:
    venvs = Path(tempfile.gettempdir()) / "btc-bench-venvs"
    return make_venv(venvs / "comparator", COMPARATOR) / "python"


async def run(options: argparse.Namespace) -> int:
    ids = options.targets or _native_one_per_client()
    results = Results(machine=machine(), command=" ".join(["python -m benchmarks", *sys.argv[1:]]), started=_now())
    ok = True
    pool = TargetPool()
    try:
        with tempfile.TemporaryDirectory(prefix="btc-bench-") as tmp:
            workdir = Path(tmp)
            targets = [pool.get(target_id) for target_id in ids]
            if options.ops:
                print("Bulk operations: ours against the raw floor, seconds (median, min, max of the runs)")
                print(
                    f"{'target':<22} {'op':<15} {'count':>6} {'ours':>8} {'min':>7} {'max':>7}"
                    f" {'floor':>8} {'min':>7} {'max':>7} {'ratio':>7} {'limit':>7} {'MiB':>7}"
                )
            for target in targets if options.ops else ():
                for count in options.counts:
                    for times in await bench_ops(target, count, options.runs, workdir, profiles=options.profile):
                        results.ops.append(times)
                        ok &= _print_ops(times, options.judge)
            if options.comparator:
                python = _comparator_python()
                count = options.comparator_count
                print(f"\naiobtclientapi 1.1.4 at {count} torrents (its Responses checked), seconds")
                for target in targets:
                    for comparison in await compare(target, python, workdir, count):
                        results.comparisons.append(comparison)
                        theirs = f"{comparison.theirs:>8.3f}" if comparison.theirs is not None else "   wrong"
                        said = f"  it said: {comparison.wrong}" if comparison.wrong else ""
                        line = f"{comparison.target:<22} {comparison.op:<8} ours {comparison.ours:>7.3f}"
                        print(f"{line}  1.1.4 {theirs}{said}")
            if options.listing:
                print(f"\nListing and watching {LISTING_COUNT} torrents")
                for target in targets:
                    for figure in await _listing(target, workdir):
                        results.judged.append(figure)
                        within = figure.value <= figure.limit
                        ok &= within or not options.judge
                        verdict = "" if within or not options.judge else "  TOO SLOW"
                        print(
                            f"{figure.target:<22} {figure.what:<14} {figure.value:>10.3f} {figure.limit:>10.3f}"
                            f"  {figure.note}{verdict}"
                        )
            if options.many:
                many = await bench_many(targets, workdir, options.per_client, options.many_torrents)
                results.many = many
                slowest = max(many.alone.values())
                within = many.together <= MANY_SLACK * slowest
                ok &= within or not options.judge
                print(f"\n{many.objects} API objects in one event loop, {many.torrents_each} torrents each")
                for target_id, seconds in many.alone.items():
                    print(f"  {target_id:<22} alone    {seconds:>7.3f} s  {cpu_summary(many, target_id)}")
                verdict = "" if within or not options.judge else "  TOO SLOW"
                print(f"  all together             {many.together:>7.3f} s (limit {MANY_SLACK * slowest:.3f}){verdict}")
                print(f"  {cpu_summary(many, 'together')}")
            ends = {t.client: t for t in targets}
            if options.transfer and {"qbittorrent", "deluge"} <= set(ends):
                count = options.transfer_count
                print(f"\ntransfer() of {count} torrents from qBittorrent to Deluge, remove_source=True")
                run = await bench_transfer(ends["qbittorrent"], ends["deluge"], workdir, count)
                results.transfer = run
                steps = ", ".join(f"{step} {at:.2f}" for step, at in run.steps.items())
                print(f"  {run.seconds:.3f} s; each step ended at (s): {steps}")
    finally:
        pool.close()
        options.json.parent.mkdir(parents=True, exist_ok=True)
        options.json.write_bytes(msgspec.json.format(msgspec.json.encode(results)))
    return 0 if ok else 1


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def _native_one_per_client() -> list[str]:
    """The first (native) target of each daemon client; rTorrent over SCGI."""
    chosen: dict[str, str] = {}
    for target_id in all_target_ids():
        client = target_id.split("-", 1)[0]
        if client != "memory":
            chosen.setdefault(client, target_id)
    return list(chosen.values())


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--counts", type=lambda v: [int(c) for c in v.split(",")], default=[100, 1000])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--per-client", type=int, default=PER_CLIENT, help="API objects per client in one event loop")
    parser.add_argument("--many-torrents", type=int, default=MANY_TORRENTS, help="torrents of each of those objects")
    parser.add_argument("--comparator-count", type=int, default=COMPARATOR_COUNT, help="torrents for 1.1.4 and ours")
    parser.add_argument("--transfer-count", type=int, default=TRANSFER_COUNT, help="torrents moved by transfer()")
    parser.add_argument("--no-ops", dest="ops", action="store_false")
    parser.add_argument("--no-listing", dest="listing", action="store_false")
    parser.add_argument("--no-comparator", dest="comparator", action="store_false")
    parser.add_argument("--no-many", dest="many", action="store_false")
    parser.add_argument("--no-transfer", dest="transfer", action="store_false")
    parser.add_argument("--no-judge", dest="judge", action="store_false", help="report only (CI at a small count)")
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument("--profile", type=Path, help="write a pyinstrument profile of each of our ops here")
    parser.add_argument("targets", nargs="*", help="target ids (default: one native daemon per client)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parse(argv)))


if __name__ == "__main__":
    sys.exit(main())
