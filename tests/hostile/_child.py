"""The calls of a case that may crash or exhaust the process, run in a process of their own.

``python -m tests.hostile._child CLIENT URL TIMEOUT MEMORY_CAP`` caps its
address space at MEMORY_CAP bytes, makes an API object for CLIENT at URL,
calls get_infohashes() and stop(), each measured like the in-process cases,
and prints one JSON line: for each call its label, seconds, peak RSS growth,
and the error it raised or the errors its Response holds (each as the names
of its classes from aiobtclientapi, most specific first, and its message).
A crash shows as the process's return code instead.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
from typing import Any

import aiobtclientapi

from .conftest import INFOHASH, measure


def describe(error: BaseException) -> dict[str, Any]:
    classes = [c.__name__ for c in type(error).__mro__ if c.__module__.startswith("aiobtclientapi")]
    return {"classes": classes, "type": f"{type(error).__module__}.{type(error).__qualname__}", "message": str(error)}


async def run(client: str, url: str, timeout: float) -> list[dict[str, Any]]:
    api = aiobtclientapi.api(client, url, timeout=timeout)
    results: list[dict[str, Any]] = []
    try:
        for label, call in (("get_infohashes", api.get_infohashes), ("stop", lambda: api.stop(INFOHASH))):
            m = await measure(call)
            result: dict[str, Any] = {"label": label, "seconds": m.seconds, "growth": m.growth}
            if m.error is not None:
                result["error"] = describe(m.error)
            elif isinstance(m.result, aiobtclientapi.Response):
                result["response_errors"] = [describe(e) for e in m.result.errors]
                result["success"] = m.result.success
            else:
                result["returned"] = repr(m.result)[:300]
            results.append(result)
    finally:
        await api.disconnect()
    return results


def main(argv: list[str]) -> None:
    client, url, timeout, cap = argv[0], argv[1], float(argv[2]), int(argv[3])
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    print(json.dumps(asyncio.run(run(client, url, timeout))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
