"""aiobtclientapi 1.1.4, the library users would otherwise pick, on the same daemons.

It runs in a throwaway virtual environment of its own (``cold_start.make_venv``;
none of its code enters the project), through ``comparator_run.py`` under its
interpreter, at ``COUNT`` torrents: it sends one request per torrent and is
too slow for more. Each of its Responses is checked like ours; an op it
reports wrongly (e.g. ``already_started`` for torrents it has just added
stopped) gets a verdict instead of a speed. The library does the same ops on
another fresh set right after, for a time at the same count.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import msgspec

from aiobtclientapi.testing._targets import Target
from aiobtclientapi.testing._torrents import make_torrent

from .ops import OPS, _clean, _ours, _settle

COUNT = 20
RUNNER = Path(__file__).resolve().parent / "comparator_run.py"
#: The Response list each op must put every torrent in.
_EXPECTED = {"add": "added", "start": "started", "stop": "stopped", "verify": "verifying"}


class Comparison(msgspec.Struct, kw_only=True):
    """One op at a few torrents (COUNT by default): ours and the comparator's seconds, or what it got wrong."""

    target: str
    client: str
    op: str
    ours: float
    theirs: float | None
    wrong: str | None = None
    count: int = COUNT


def _verdict(op: str, said: dict[str, object], count: int) -> str | None:
    """None if the comparator's Response is right, else what is wrong with it."""
    if said.get("hung"):
        return f"no answer within {said['seconds']:.0f} s"
    if said.get("raised"):
        return f"raised {said['raised']}"
    expected = _EXPECTED[op]
    got = said.get(expected)
    if isinstance(got, list) and len(got) == count and not said.get("errors"):
        return None
    others = {k: len(v) for k, v in said.items() if isinstance(v, list) and v and k not in ("errors", "warnings")}
    lists = ", ".join(f"{k} {n}" for k, n in others.items())
    errors = said.get("errors") or []
    first = f"; {errors[0]}" if isinstance(errors, list) and errors else ""
    return f"{lists or 'nothing'} of {count}{first}"


async def compare(target: Target, python: Path, workdir: Path, count: int = COUNT) -> list[Comparison]:
    """The comparator's add/start/stop/verify of `count` torrents, then ours."""
    location = str(target.download_dir)
    theirs_torrents = [make_torrent(target.download_dir, workdir / target.id, size=16 * 1024) for _ in range(count)]
    job = {
        "client": target.client,
        "url": target.url,
        "location": location,
        "torrents": [str(t.torrent_path) for t in theirs_torrents],
        "infohashes": [t.infohash for t in theirs_torrents],
    }
    done = subprocess.run(
        [str(python), str(RUNNER)], input=json.dumps(job), capture_output=True, text=True, check=False, timeout=1800
    )
    if done.returncode != 0:
        raise RuntimeError(f"comparator on {target.id} failed: {done.stderr[-2000:]}")
    report: dict[str, dict[str, object]] = json.loads(done.stdout)
    results: list[Comparison] = []
    async with target.make_api(timeout=120) as api:
        await _clean(target, api, theirs_torrents)
        torrents = [make_torrent(target.download_dir, workdir / target.id, size=16 * 1024) for _ in range(count)]
        hashes = [t.infohash for t in torrents]
        steps = await _ours(api, torrents, location)
        try:
            for op in OPS:
                if op == "get_infohashes":
                    continue  # the comparator's one call is the same as ours
                started = time.perf_counter()
                await steps[op]()
                ours = time.perf_counter() - started
                if op != OPS[-1]:
                    await _settle(api, hashes)
                said = report[op]
                wrong = _verdict(op, said, count)
                seconds = said["seconds"]
                assert isinstance(seconds, float)
                results.append(
                    Comparison(
                        target=target.id,
                        client=target.client,
                        op=op,
                        ours=ours,
                        theirs=None if wrong else seconds,
                        wrong=wrong,
                        count=count,
                    )
                )
        finally:
            await _clean(target, api, torrents)
    return results
