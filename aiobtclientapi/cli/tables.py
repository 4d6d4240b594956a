"""Torrents for people: human units, tables sized to the terminal, watch lines.

Tables are drawn with ``rich`` when it is installed (the ``cli`` extra) and as
plain aligned text otherwise; both fit the same column widths to the
terminal (``COLUMNS`` wins, as for every tool), cutting the longest text
columns first. ``rich`` is imported here only when a table is printed.
"""

from __future__ import annotations

import enum
import math
import shutil
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TextIO

import msgspec

#: Columns get_torrents shows when not told, and the only attributes it then asks for.
DEFAULT_COLUMNS = ("name", "state", "progress", "size_total", "rate_down", "rate_up", "ratio", "infohash")
#: Attributes shown one row per file, tracker or peer below the table (the table shows their count).
COLLECTIONS = ("files", "trackers", "peers")
#: Text columns that may be cut to fit the terminal, in the order they are cut.
_SHRINKABLE = ("name", "content_path", "save_path", "error", "path", "url", "message", "client", "tags", "label")
_MIN_WIDTH = 8

_SIZES = frozenset({"size_total", "size_wanted", "size_done", "downloaded", "uploaded", "size"})
_RATES = frozenset({"rate_down", "rate_up"})
_FRACTIONS = frozenset({"progress"})
_TEXT = frozenset({"name", "infohash", "infohash_v2", "state", "save_path", "content_path", "label", "tags", "error"})
_TEXT |= frozenset({"path", "priority", "url", "status", "message", "address", "client", "wanted", "is_private"})


def human_size(value: int) -> str:
    """Bytes in binary units: ``512 B``, ``1.5 KiB``, ``3.2 GiB``."""
    if abs(value) < 1024:
        return f"{value} B"
    number = float(value)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        number /= 1024
        if abs(number) < 1024 or unit == "PiB":
            break
    return f"{number:.1f} {unit}"


def human_rate(value: int) -> str:
    return f"{human_size(value)}/s"


def human_percent(fraction: float) -> str:
    return f"{fraction * 100:.1f}%"


def human_duration(value: timedelta) -> str:
    """``42s``, ``5m 07s``, ``3h 02m``, ``2d 03h``: two units are plenty for an ETA."""
    seconds = max(0, round(value.total_seconds()))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {seconds:02d}s"
    return f"{seconds}s"


def human_time(value: datetime) -> str:
    """A datetime in the local time zone, to the second."""
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def human(name: str, value: Any) -> str:
    """`value` of attribute `name` as a table cell or in a watch line."""
    if value is None or value is msgspec.UNSET:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if name in COLLECTIONS and isinstance(value, tuple):
        return str(len(value))
    if name in _SIZES and isinstance(value, int):
        return human_size(value)
    if name in _RATES and isinstance(value, int):
        return human_rate(value)
    if name in _FRACTIONS and isinstance(value, float | int):
        return human_percent(value)
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.2f}"
    if isinstance(value, timedelta):
        return human_duration(value)
    if isinstance(value, datetime):
        return human_time(value)
    if isinstance(value, tuple):
        return ", ".join(map(str, value)) or "-"
    return str(value)


def columns_for(attributes: str | None) -> list[str]:
    """The table's columns for ``attributes=`` as typed (None: the defaults).

    The infohash identifies a row, so it is shown last unless placed elsewhere.
    """
    if attributes is None:
        return list(DEFAULT_COLUMNS)
    names = list(dict.fromkeys(name.strip() for name in attributes.split(",") if name.strip()))
    return names if "infohash" in names else [*names, "infohash"]


def fit_widths(names: Sequence[str], widths: Sequence[int], budget: int) -> list[int]:
    """`widths` cut down to `budget` in total.

    Text columns (names, paths) go first, to 16 characters; then the
    infohash, whose first 16 still tell torrents apart; then both to 8.
    Within a stage the widest is cut first, so long columns end up equally long.
    """
    fitted = list(widths)
    text = [i for i, name in enumerate(names) if name in _SHRINKABLE]
    hashes = [i for i, name in enumerate(names) if name in ("infohash", "infohash_v2")]
    for columns, minimum in ((text, 16), (hashes, 16), (text + hashes, _MIN_WIDTH)):
        while sum(fitted) > budget:
            candidates = [i for i in columns if fitted[i] > minimum]
            if not candidates:
                break
            widest = max(candidates, key=lambda i: fitted[i])
            runner_up = max([fitted[i] for i in candidates if i != widest] + [minimum])
            cut = min(sum(fitted) - budget, fitted[widest] - runner_up) or 1
            fitted[widest] -= cut
    return fitted


class Printer:
    """Prints tables and headings to `out`, with rich when it is installed."""

    def __init__(self, out: TextIO, width: int | None = None) -> None:
        self.out = out
        try:
            from rich.console import Console
        except ImportError:
            self.console: Any = None
            self.width = width or shutil.get_terminal_size().columns
        else:
            # highlight=False: rich would colour numbers and paths at random in a terminal.
            self.console = Console(file=out, width=width, highlight=False)
            self.width = self.console.width
        encoding = (getattr(out, "encoding", None) or "").lower().replace("-", "")
        self.ellipsis = "…" if encoding == "utf8" else "..."

    def heading(self, text: str) -> None:
        if self.console is not None:
            from rich.text import Text

            self.console.print(Text(text, style="bold"))
        else:
            print(text, file=self.out)

    def line(self, text: str) -> None:
        if self.console is not None:
            from rich.text import Text

            self.console.print(Text(text))
        else:
            print(text, file=self.out)

    def table(self, names: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """Rows of cells under their attribute names, numbers right-aligned."""
        right = [name not in _TEXT for name in names]
        natural = [max([len(name), *(len(row[i]) for row in rows)]) for i, name in enumerate(names)]
        widths = fit_widths(names, natural, self.width - 2 * (len(names) - 1))
        if self.console is not None:
            self._rich_table(names, rows, widths, right)
        else:
            self._plain_table(names, rows, widths, right)

    def _rich_table(
        self, names: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int], right: Sequence[bool]
    ) -> None:
        from rich import box
        from rich.table import Table

        # Columns two apart, as in the plain table: a space of padding and the (blank) rule.
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold")
        for name, width, is_right in zip(names, widths, right, strict=True):
            table.add_column(
                name, justify="right" if is_right else "left", width=width, no_wrap=True, overflow="ellipsis"
            )
        for row in rows:
            table.add_row(*row)
        self.console.print(table)

    def _plain_table(
        self, names: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int], right: Sequence[bool]
    ) -> None:
        def cell(text: str, width: int, is_right: bool) -> str:
            if len(text) > width:
                text = text[: max(0, width - len(self.ellipsis))] + self.ellipsis
            return text.rjust(width) if is_right else text.ljust(width)

        def line(cells: Sequence[str]) -> str:
            return "  ".join(cell(c, w, r) for c, w, r in zip(cells, widths, right, strict=True)).rstrip()

        print(line(names), file=self.out)
        print("  ".join("-" * w for w in widths), file=self.out)
        for row in rows:
            print(line(row), file=self.out)


_COLLECTION_FIELDS: dict[str, tuple[str, ...]] = {
    "files": ("path", "size", "progress", "wanted", "priority"),
    "trackers": ("tier", "url", "status", "seeds", "peers", "message"),
    "peers": ("address", "client", "progress", "rate_down", "rate_up"),
}


def print_torrents(torrents: Sequence[Any], columns: Sequence[str], out: TextIO) -> None:
    """The table of `torrents`; their files, trackers and peers below it, per torrent."""
    printer = Printer(out)
    if not torrents:
        printer.line("(no torrents)")
        return
    printer.table(columns, [[human(name, getattr(t, name, None)) for name in columns] for t in torrents])
    for torrent in torrents:
        for collection in (c for c in COLLECTIONS if c in columns):
            items = getattr(torrent, collection)
            label = torrent.name if isinstance(torrent.name, str) else torrent.infohash
            printer.line("")
            printer.heading(f"{collection} of {label} ({torrent.infohash}):")
            if not items:
                printer.line("(none)")
                continue
            fields = _COLLECTION_FIELDS[collection]
            printer.table(fields, [[human(field, getattr(item, field)) for field in fields] for item in items])


class WatchLines:
    """One line per watch() event: local time, what happened, the torrent, what changed.

    It remembers names from TorrentAdded, since later events carry only the infohash.
    """

    def __init__(self, clock: Callable[[], datetime] = datetime.now) -> None:
        self._names: dict[str, str] = {}
        self._clock = clock

    def __call__(self, event: Any) -> str:
        from ..domain.events import TorrentAdded, TorrentChanged

        if isinstance(event, TorrentAdded):
            kind, infohash = "added", event.torrent.infohash
            if isinstance(event.torrent.name, str):
                self._names[infohash] = event.torrent.name
            fields = event.torrent.__struct_fields__
            changes = {n: getattr(event.torrent, n) for n in fields if n not in ("infohash", "name")}
        elif isinstance(event, TorrentChanged):
            kind, infohash, changes = "changed", event.infohash, dict(event.changes)
            if isinstance(changes.get("name"), str):
                self._names[infohash] = changes["name"]
        else:
            kind, infohash, changes = "removed", event.infohash, {}
        name = self._names.get(infohash)
        if kind == "removed":
            self._names.pop(infohash, None)
        details = ", ".join(
            f"{key}={human(key, value)}" for key, value in changes.items() if value is not msgspec.UNSET
        )
        text = f"{self._clock().strftime('%H:%M:%S')} {kind:<7} {infohash}"
        if name is not None:
            text += f" {name}"
        return f"{text}: {details}" if details else text
