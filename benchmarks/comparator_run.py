"""Run by the comparator's own interpreter (aiobtclientapi 1.1.4 in a throwaway venv).

Reads one JSON object from stdin: client, url, location, torrents (paths),
infohashes. Times add (stopped), start, stop and verify of them all through
1.1.4's API, one call per op, and prints one JSON object: for each op its
seconds and what its Response said, that it gave no answer within
OP_TIMEOUT seconds, or the exception it raised. It imports nothing of this project: the
benchmark judges the Responses.
"""

import asyncio
import json
import sys
import time
from typing import Any

import aiobtclientapi

#: An op that has not answered after this many seconds is reported as hung.
OP_TIMEOUT = 120.0

_LISTS: tuple[str, ...] = ("added", "already_added", "started", "already_started", "stopped", "already_stopped")
_LISTS += ("verifying", "already_verifying")


def _said(response: Any) -> dict[str, Any]:
    said = {name: [str(h).lower() for h in getattr(response, name)] for name in _LISTS if hasattr(response, name)}
    said["success"] = response.success
    said["errors"] = [str(e) for e in response.errors]
    said["warnings"] = [str(w) for w in response.warnings]
    return said


async def _settle(api: Any, hashes: list[str]) -> None:
    async for _ in api.verify_wait(*hashes, interval=(0.1, 1.0)):
        pass


async def main(job: dict[str, Any]) -> dict[str, Any]:
    api: Any = aiobtclientapi.api(job["client"], url=job["url"])
    hashes = job["infohashes"]
    calls: tuple[tuple[str, Any], ...] = (
        ("add", lambda: api.add(*job["torrents"], location=job["location"], stopped=True)),
        ("start", lambda: api.start(*hashes)),
        ("stop", lambda: api.stop(*hashes)),
        ("verify", lambda: api.verify(*hashes)),
    )
    report: dict[str, Any] = {}
    try:
        for op, call in calls:
            print(op, file=sys.stderr, flush=True)  # where it was, should it hang
            started = time.perf_counter()
            try:
                response = await asyncio.wait_for(call(), OP_TIMEOUT)
            except TimeoutError:
                report[op] = {"seconds": time.perf_counter() - started, "hung": True}
                continue
            except Exception as exc:  # its own bug (1.1.4 on rTorrent): a verdict, not the end of the run
                report[op] = {"seconds": time.perf_counter() - started, "raised": f"{type(exc).__name__}: {exc}"}
                continue
            report[op] = {"seconds": time.perf_counter() - started, **_said(response)}
            if op != "verify":
                # As the benchmark does for ours: let the checks the client runs end first.
                try:
                    await asyncio.wait_for(_settle(api, hashes), OP_TIMEOUT)
                except TimeoutError:
                    report[op]["settled"] = False
    finally:
        await api.disconnect()
    return report


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(json.load(sys.stdin)))))
