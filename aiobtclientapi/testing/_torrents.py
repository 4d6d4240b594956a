"""Real torrents for tests: content files on disk and .torrent files made with torf."""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import torf

from aiobtclientapi.testing._tracker import announce_url


@dataclass(frozen=True)
class TestTorrent:
    """A generated torrent: its .torrent file, infohash and content."""

    __test__ = False  # not a pytest test class

    torrent_path: Path
    infohash: str
    name: str
    #: The directory the content was written to (a client's download dir).
    location: Path
    size: int

    @property
    def magnet(self) -> str:
        return f"magnet:?xt=urn:btih:{self.infohash}&dn={self.name}"

    def delete_content(self) -> None:
        path = self.location / self.name
        if path.is_dir():
            for child in path.iterdir():
                child.unlink()
            path.rmdir()
        elif path.exists():
            path.unlink()


def make_torrent(
    location: Path,
    torrent_dir: Path,
    *,
    size: int = 256 * 1024,
    files: int = 1,
    piece_size: int = 16 * 1024,
    keep_content: bool = True,
) -> TestTorrent:
    """Write random content into `location` and its .torrent into `torrent_dir`.

    With ``keep_content=False`` the content is removed after hashing, so the
    client finds nothing to verify.
    """
    name = f"content-{uuid.uuid4().hex[:12]}"
    location.mkdir(parents=True, exist_ok=True)
    torrent_dir.mkdir(parents=True, exist_ok=True)
    if files == 1:
        content = location / name
        content.write_bytes(os.urandom(size))
    else:
        content = location / name
        content.mkdir()
        for index in range(files):
            (content / f"file{index}.bin").write_bytes(os.urandom(size // files))
    # Private: no DHT or peer exchange. rTorrent refuses private torrents
    # without a tracker, so each gets the session's loopback tracker.
    torrent = torf.Torrent(
        path=content,
        private=True,
        piece_size=piece_size,
        created_by=None,
        trackers=[announce_url()],
    )
    torrent.generate()
    torrent_path = torrent_dir / f"{name}.torrent"
    torrent.write(torrent_path)
    result = TestTorrent(
        torrent_path=torrent_path,
        infohash=str(torrent.infohash).lower(),
        name=name,
        location=location,
        size=size,
    )
    if not keep_content:
        result.delete_content()
    return result


def make_sparse_torrent(
    location: Path, torrent_dir: Path, *, size: int, piece_size: int = 4 * 1024 * 1024
) -> TestTorrent:
    """A single-file torrent of `size` zero bytes in a sparse file: large content
    that takes a client seconds to check, without the disk space or the hashing here."""
    if size % piece_size:
        raise ValueError(f"size {size} is not a multiple of the piece size {piece_size}")
    import bencode2

    name = f"zeros-{uuid.uuid4().hex[:12]}"
    location.mkdir(parents=True, exist_ok=True)
    torrent_dir.mkdir(parents=True, exist_ok=True)
    with open(location / name, "wb") as content:
        content.truncate(size)
    info = {
        b"name": name.encode(),
        b"length": size,
        b"piece length": piece_size,
        b"pieces": hashlib.sha1(bytes(piece_size)).digest() * (size // piece_size),
        b"private": 1,
    }
    torrent_path = torrent_dir / f"{name}.torrent"
    torrent_path.write_bytes(bencode2.bencode({b"announce": announce_url().encode(), b"info": info}))
    return TestTorrent(
        torrent_path=torrent_path,
        infohash=hashlib.sha1(bencode2.bencode(info)).hexdigest(),
        name=name,
        location=location,
        size=size,
    )
