"""Small servers on loopback that tests write themselves: hostile or broken peers, proxies."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator

from aiohttp import web


@contextlib.asynccontextmanager
async def serving(app: web.Application, *, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """Serve `app` on a free loopback port until the block ends; yields the port."""
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()
