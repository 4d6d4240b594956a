"""Where a torrent comes from, and what we know of it before the client sees it."""

from __future__ import annotations

import hashlib
import urllib.parse
from typing import Any

import msgspec

from . import errors
from .infohash import normalize_infohash
from .url import mask_uri


class TorrentFile(msgspec.Struct, frozen=True):
    """One file of a torrent's content, relative to the save path."""

    path: tuple[str, ...]
    size: int


class TorrentSource(msgspec.Struct, frozen=True, kw_only=True):
    """A torrent to add, read and validated.

    Exactly one of ``metainfo`` (the bytes of a .torrent file) and ``magnet``
    is set. ``display`` is what the caller passed (a path, URL, magnet or
    infohash), used in messages. ``files`` is known only from metainfo.
    """

    display: str
    infohash: str
    name: str
    metainfo: bytes | None = None
    magnet: str | None = None
    files: tuple[TorrentFile, ...] = ()
    #: Announce URLs by tier (announce-list, else announce), from metainfo.
    trackers: tuple[tuple[str, ...], ...] = ()
    is_private: bool = False
    #: The v2 infohash (SHA-256 of the info dictionary) of a v2 or hybrid torrent's metainfo.
    infohash_v2: str | None = None

    def __repr__(self) -> str:
        return f"TorrentSource({self.display!r}, infohash={self.infohash!r})"

    @property
    def file_name(self) -> str:
        """A name for the .torrent file that is a plain file name whatever the torrent's
        own name holds (a daemon may join it to a folder of its own)."""
        base = self.name.replace("\\", "/").rsplit("/", 1)[-1].strip().lstrip(".")
        base = "".join(c for c in base if c.isprintable())
        return f"{base or self.infohash}.torrent"


def _bdecode(data: bytes) -> Any:
    import bencode2  # lazy: only needed when a .torrent is added

    return bencode2.bdecode(data)


def _bencode(value: Any) -> bytes:
    import bencode2

    return bencode2.bencode(value)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def source_from_metainfo(data: bytes, display: str) -> TorrentSource:
    """Parse the bytes of a .torrent file.

    The infohash is the SHA-1 of the bencoded info dictionary. The decoder is
    strict (sorted keys, canonical integers), so re-encoding the decoded info
    dictionary gives back exactly the bytes that were hashed.
    """
    try:
        decoded = _bdecode(data)
    except Exception as exc:  # the bencode library raises ValueError subclasses
        raise errors.InvalidTorrentError(f"Invalid torrent file: {display}: {exc}") from exc
    if not isinstance(decoded, dict) or not isinstance(decoded.get(b"info"), dict):
        raise errors.InvalidTorrentError(f"Invalid torrent file: {display}: no info dictionary")
    info = decoded[b"info"]
    name = info.get(b"name")
    if not isinstance(name, bytes) or not isinstance(info.get(b"piece length"), int):
        raise errors.InvalidTorrentError(f"Invalid torrent file: {display}: incomplete info dictionary")
    files: list[TorrentFile] = []
    if isinstance(info.get(b"length"), int):
        files.append(TorrentFile((_text(name),), info[b"length"]))
    elif isinstance(info.get(b"files"), list):
        for entry in info[b"files"]:
            path = entry.get(b"path") if isinstance(entry, dict) else None
            if (
                not isinstance(entry, dict)
                or not isinstance(entry.get(b"length"), int)
                or not isinstance(path, list)
                or not path
                or not all(isinstance(part, bytes) for part in path)
            ):
                raise errors.InvalidTorrentError(f"Invalid torrent file: {display}: bad file list")
            parts = tuple(_text(p) for p in path)
            files.append(TorrentFile((_text(name), *parts), entry[b"length"]))
    elif not isinstance(info.get(b"file tree"), dict):
        raise errors.InvalidTorrentError(f"Invalid torrent file: {display}: no files")
    encoded_info = _bencode(info)
    infohash = hashlib.sha1(encoded_info).hexdigest()
    infohash_v2 = hashlib.sha256(encoded_info).hexdigest() if info.get(b"meta version") == 2 else None
    return TorrentSource(
        display=display,
        infohash=infohash,
        name=_text(name),
        metainfo=bytes(data),
        files=tuple(files),
        trackers=_tracker_tiers(decoded),
        is_private=info.get(b"private") == 1,
        infohash_v2=infohash_v2,
    )


def _tracker_tiers(metainfo: dict[bytes, Any]) -> tuple[tuple[str, ...], ...]:
    """The announce URLs by tier: announce-list (BEP 12) if any, else announce."""
    tiers = metainfo.get(b"announce-list")
    if isinstance(tiers, list):
        found = tuple(
            tuple(_text(url) for url in tier if isinstance(url, bytes)) for tier in tiers if isinstance(tier, list)
        )
        if any(found):
            return tuple(tier for tier in found if tier)
    announce = metainfo.get(b"announce")
    return ((_text(announce),),) if isinstance(announce, bytes) else ()


def source_from_magnet(uri: str) -> TorrentSource:
    """Parse a ``magnet:`` URI; it must carry a BitTorrent v1 or v2 ``xt``.

    Shown with the passwords of its tracker and web seed URLs masked.
    """
    shown = mask_uri(uri)
    query = urllib.parse.urlsplit(uri).query
    params = urllib.parse.parse_qs(query)
    infohash = None
    for xt in params.get("xt", []):
        if xt.lower().startswith("urn:btih:"):
            try:
                infohash = normalize_infohash(xt[9:])
            except errors.ValueError as exc:
                raise errors.InvalidTorrentError(f"Invalid magnet URI: {shown}: {exc}") from exc
            break
        if xt.lower().startswith("urn:btmh:1220") and infohash is None:
            try:
                infohash = normalize_infohash(xt[13:])
            except errors.ValueError as exc:
                raise errors.InvalidTorrentError(f"Invalid magnet URI: {shown}: {exc}") from exc
    if infohash is None:
        raise errors.InvalidTorrentError(f"Invalid magnet URI: {shown}: no infohash")
    name = (params.get("dn") or [infohash])[0]
    return TorrentSource(display=shown, infohash=infohash, name=name, magnet=uri)


def source_from_infohash(value: str) -> TorrentSource:
    """A bare infohash becomes a magnet URI with nothing but the infohash."""
    infohash = normalize_infohash(value)
    return TorrentSource(
        display=value,
        infohash=infohash,
        name=infohash,
        magnet=f"magnet:?xt=urn:btih:{infohash}",
    )
