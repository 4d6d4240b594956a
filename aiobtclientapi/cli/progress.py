"""verify_wait in a terminal: one rich progress bar per torrent.

Importing this module imports rich; btclient imports it only when stdout is
a terminal, and prints plain lines when rich is not installed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Column
from rich.text import Text

from ..domain import errors

if TYPE_CHECKING:
    from .main import _Context


async def _names(api: Any, infohashes: list[str]) -> dict[str, str]:
    """Torrent names for the bars' labels; none when the client can't say (the bars show infohashes)."""
    try:
        torrents = await api.get_torrents(*infohashes, attributes=["name"])
    except errors.Error:
        return {}
    return {t.infohash: t.name for t in torrents if isinstance(t.name, str)}


async def show_verify_progress(
    api: Any, infohashes: list[str], updates: AsyncIterator[tuple[str, float | errors.Error]], context: _Context
) -> int:
    """Draw a bar per torrent as `updates` (verify_wait's) arrive; 1 if any torrent failed."""
    names = await _names(api, infohashes) if infohashes else {}
    console = Console(file=context.out, highlight=False)
    label = TextColumn("{task.description}", table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1))
    progress = Progress(
        label,
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    tasks: dict[str, TaskID] = {}
    failed = False
    say = context.say

    def above_bars(line: str) -> None:
        progress.console.print(Text(line))

    with progress:
        context.say = above_bars  # connection status lines must not tear the live display
        try:
            async for infohash, value in updates:
                if infohash not in tasks:
                    tasks[infohash] = progress.add_task(names.get(infohash, infohash), total=100)
                if isinstance(value, errors.Error):
                    failed = True
                    progress.update(tasks[infohash], description=f"{names.get(infohash, infohash)}: failed")
                    progress.stop_task(tasks[infohash])
                    above_bars(f"{infohash}: {type(value).__name__}: {value}")
                else:
                    progress.update(tasks[infohash], completed=value)
        finally:
            context.say = say
    return 1 if failed else 0
