"""verify_wait in a terminal: one rich progress bar per torrent; transfer: one bar for its steps.

Importing this module imports rich; btclient imports it only when stdout is
a terminal, and prints plain lines when rich is not installed.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column
from rich.text import Text

from ..domain import errors

if TYPE_CHECKING:
    from ..application.transfer import TransferProgress
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


@contextlib.contextmanager
def transfer_progress(context: _Context) -> Iterator[Callable[[TransferProgress], None]]:
    """A bar for transfer(): the step it is at and how many torrents are through it.

    Yields the `on_progress` callback; lines said meanwhile print above the bar.
    """
    console = Console(file=context.out, highlight=False)
    progress = Progress(
        TextColumn("{task.description}", table_column=Column(no_wrap=True, min_width=9)),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    # Until the first report: connecting, listing both clients (an indeterminate bar).
    task = progress.add_task("preparing", total=None)

    def update(report: TransferProgress) -> None:
        progress.update(task, description=report.step, completed=report.done, total=report.total)

    def above_bar(line: str) -> None:
        progress.console.print(Text(line))

    say = context.say
    with progress:
        context.say = above_bar  # connection status lines must not tear the live display
        try:
            yield update
        finally:
            context.say = say
