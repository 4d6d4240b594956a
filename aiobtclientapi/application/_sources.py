"""Turning what callers pass to add() into validated TorrentSources."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Awaitable, Callable, Sequence
from typing import BinaryIO

import msgspec

from ..domain import errors
from ..domain.infohash import is_infohash
from ..domain.source import (
    TorrentSource,
    source_from_infohash,
    source_from_magnet,
    source_from_metainfo,
)
from ..domain.url import mask_password, mask_uri

#: Downloads the .torrent file at an http(s) URL; raises errors.Error.
TorrentFetcher = Callable[[str], Awaitable[bytes]]

#: .torrent files larger than this are refused unread.
MAX_TORRENT_SIZE = 32 * 1024 * 1024


def _read_at_most(file: BinaryIO, limit: int, *, first: int) -> bytes:
    """Up to `limit` bytes of `file`, asking for `first` bytes first and 64 KiB at a
    time after that (a read of n bytes allocates n bytes, whatever the file holds)."""
    chunks: list[bytes] = []
    total = 0
    size = first
    while total < limit:
        chunk = file.read(min(size, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        size = 64 * 1024
    return b"".join(chunks)


def _read_file(path: str) -> bytes:
    """A regular file's bytes, never more than MAX_TORRENT_SIZE whatever its size says."""
    try:
        # Non-blocking: opening a fifo must not wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as file:
            status = os.fstat(file.fileno())
            if stat.S_ISDIR(status.st_mode):
                raise errors.ReadError(f"{path}: Is a directory")
            if not stat.S_ISREG(status.st_mode):
                raise errors.ReadError(f"{path}: Not a regular file")
            data = _read_at_most(file, MAX_TORRENT_SIZE + 1, first=min(status.st_size, MAX_TORRENT_SIZE) + 1)
        if len(data) > MAX_TORRENT_SIZE:
            raise errors.ReadError(f"{path}: File too large (over {MAX_TORRENT_SIZE} bytes)")
        return data
    except FileNotFoundError as exc:
        raise errors.ReadError(f"{path}: No such file or directory") from exc
    except IsADirectoryError as exc:
        raise errors.ReadError(f"{path}: Is a directory") from exc
    except PermissionError as exc:
        raise errors.ReadError(f"{path}: Permission denied") from exc
    except OSError as exc:
        raise errors.ReadError(f"{path}: {exc.strerror or exc}") from exc


async def resolve_source(torrent: object, fetch: TorrentFetcher) -> TorrentSource:
    """Read and validate one torrent given to add(); raises errors.Error."""
    if isinstance(torrent, (bytes, bytearray, memoryview)):
        # A .torrent file's bytes: named after the torrent in messages.
        source = source_from_metainfo(bytes(torrent), "the .torrent bytes")
        return msgspec.structs.replace(source, display=source.name)
    if isinstance(torrent, os.PathLike):
        torrent = os.fspath(torrent)
    if not isinstance(torrent, str) or not torrent:
        raise errors.ValueError(f"Invalid torrent: {torrent!r}")
    lower = torrent.lower()
    if lower.startswith("magnet:"):
        return source_from_magnet(torrent)
    if lower.startswith(("http://", "https://")):
        data = await fetch(torrent)
        return source_from_metainfo(data, mask_password(torrent))
    if is_infohash(torrent) and not os.path.exists(torrent):
        return source_from_infohash(torrent)
    data = await asyncio.to_thread(_read_file, torrent)
    return source_from_metainfo(data, torrent)


async def resolve_sources(torrents: Sequence[object], fetch: TorrentFetcher) -> list[TorrentSource | errors.Error]:
    """resolve_source() for every torrent at once; errors in place of sources."""
    results = await asyncio.gather(*(resolve_source(t, fetch) for t in torrents), return_exceptions=True)
    out: list[TorrentSource | errors.Error] = []
    for torrent, result in zip(torrents, results, strict=True):
        if isinstance(result, (TorrentSource, errors.Error)):
            out.append(result)
        elif isinstance(result, Exception):
            # Not its text: a third-party message may quote a URL with its password.
            shown = mask_uri(torrent) if isinstance(torrent, str) else repr(torrent)
            out.append(errors.ReadError(f"{shown}: unexpected {type(result).__name__}"))
        else:  # BaseException: cancellation and the like go on up
            raise result
    return out
