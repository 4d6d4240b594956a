"""Test torrents for the uploader's tests (the clients come from the aiobtclientapi plugin)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torf

#: Makes a .torrent file of new content written into the given folder; returns (path, infohash).
MakeTorrent = Callable[[Path], tuple[Path, str]]


@pytest.fixture
def make_torrent(tmp_path: Path) -> MakeTorrent:
    def make(content_dir: Path) -> tuple[Path, str]:
        content = content_dir / f"content-{os.urandom(6).hex()}"
        content.write_bytes(os.urandom(64 * 1024))
        torrent = torf.Torrent(path=content, created_by=None)
        torrent.generate()
        torrent_file = tmp_path / f"{content.name}.torrent"
        torrent.write(torrent_file)
        return torrent_file, str(torrent.infohash)

    return make
