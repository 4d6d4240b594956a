"""make bench: a btclient call's wall time from a cold start, side by side with aiobtclientapi 1.1.4's.

Both packages are installed with pip in throwaway virtual environments of
their own (bytecode compiled, as users get them): this project from its
working tree, and aiobtclientapi 1.1.4 from PyPI as the comparator (none of
its code enters the project). Against the native daemons the tests use,
``btclient CLIENT URL get_infohashes`` runs alternately with each package
(``--runs`` times, at least 7), every run checked for success; then
``btclient --help``, ``import aiobtclientapi`` and the HTTP library each
one loads (asyncio with aiohttp, the way btclient loads it, against asyncio
with httpx): the floor under an HTTP client's call. A call must take at most
``LIMIT`` times the comparator's median; the other lines are not judged.

    venv/bin/python -m benchmarks.cold_start [--runs N] [--venvs DIR]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from aiobtclientapi.testing._pool import TargetPool, all_target_ids

#: A call may take this share of the comparator's time at most.
LIMIT = 0.8
COMPARATOR = "aiobtclientapi==1.1.4"
PROJECT = Path(__file__).resolve().parent.parent


def make_venv(path: Path, requirement: str, *, fresh: bool = False) -> Path:
    """A virtual environment at `path` with `requirement` installed.

    One that is there is reused; with `fresh`, the requirement itself (not its
    dependencies) is installed again, so the working tree's latest code is measured.
    """
    python = path / "bin" / "python"
    if not (path / "bin" / "btclient").exists():
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", requirement], check=True)
    elif fresh:
        again = ["install", "--quiet", "--force-reinstall", "--no-deps", requirement]
        subprocess.run([str(python), "-m", "pip", *again], check=True)
    return path / "bin"


def wall_times(commands: Sequence[Sequence[str]], runs: int) -> list[list[float]]:
    """Seconds of each run of each command, the commands alternating; each run must succeed."""
    times: list[list[float]] = [[] for _ in commands]
    for _ in range(runs):
        for index, command in enumerate(commands):
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            times[index].append(time.perf_counter() - started)
            if done.returncode != 0 or "ERROR" in done.stdout:
                raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stdout}{done.stderr}")
    return times


def report(what: str, ours: list[float], theirs: list[float], judged: bool) -> bool:
    """Print one line; whether it is within the limit (always, when not judged)."""
    ratio = statistics.median(ours) / statistics.median(theirs)
    within = not judged or ratio <= LIMIT
    verdict = "" if within else f"  OVER {LIMIT}x"
    print(
        f"{what:<34} {statistics.median(ours):>7.3f} {min(ours):>7.3f}"
        f" {statistics.median(theirs):>9.3f} {min(theirs):>7.3f} {ratio:>7.2f}{verdict}",
        flush=True,
    )
    return within


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cold_start")
    parser.add_argument("--runs", type=int, default=9, help="runs of each command (at least 7)")
    parser.add_argument("--venvs", type=Path, help="keep the two virtual environments here (default: a temp dir)")
    options = parser.parse_args(argv)
    runs = max(options.runs, 7)
    with tempfile.TemporaryDirectory(prefix="btc-cold-") as tmp:
        venvs = options.venvs or Path(tmp)
        ours = make_venv(venvs / "ours", str(PROJECT), fresh=True)
        theirs = make_venv(venvs / "comparator", COMPARATOR)
        print(f"btclient cold start, {runs} alternating runs: median and min in seconds, ratio of the medians")
        print(f"{'command':<34} {'ours':>7} {'min':>7} {'1.1.4':>9} {'min':>7} {'ratio':>7}")
        within = True
        pool = TargetPool()
        try:
            for target_id in _native_one_per_client():
                target = pool.get(target_id)
                args = [target.client, target.url, "get_infohashes"]
                mine, comparator = wall_times(
                    [[str(ours / "btclient"), *args], [str(theirs / "btclient"), *args]], runs
                )
                within &= report(f"{target_id} get_infohashes", mine, comparator, judged=True)
        finally:
            pool.close()
        mine, comparator = wall_times([[str(ours / "btclient"), "--help"], [str(theirs / "btclient"), "--help"]], runs)
        report("btclient --help", mine, comparator, judged=False)
        importing = ["-c", "import aiobtclientapi"]
        mine, comparator = wall_times([[str(ours / "python"), *importing], [str(theirs / "python"), *importing]], runs)
        report("import aiobtclientapi", mine, comparator, judged=False)
        # The floor of an HTTP client's call: the HTTP library each btclient loads, loaded as it does.
        aiohttp = ["-c", "from aiobtclientapi.cli.main import _import_aiohttp; _import_aiohttp()"]
        httpx = ["-c", "import asyncio, httpx"]
        mine, comparator = wall_times([[str(ours / "python"), *aiohttp], [str(theirs / "python"), *httpx]], runs)
        report("HTTP library: aiohttp / httpx", mine, comparator, judged=False)
    return 0 if within else 1


def _native_one_per_client() -> list[str]:
    """The first target of each daemon client (the native one; rTorrent over SCGI)."""
    chosen: dict[str, str] = {}
    for target_id in all_target_ids():
        client = target_id.split("-", 1)[0]
        if client != "memory":
            chosen.setdefault(client, target_id)
    return list(chosen.values())


if __name__ == "__main__":
    sys.exit(main())
