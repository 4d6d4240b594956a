"""Fast-resume data: what makes rTorrent take a torrent's data as complete without hashing it.

Pure code over the bytes of a .torrent and the results of stat() on its files;
the adapter does the I/O. As rtorrent's doc/rtorrent_fast_resume.pl does, a
``libtorrent_resume`` dictionary goes into the metainfo's top-level dictionary,
beside ``info`` (never inside: the infohash stays the same). rTorrent keeps it
for torrents it loads (core/download_factory.cc: only the ``rtorrent`` key is
dropped outside a session) and reads it when it first opens the download for
its initial check (core/manager.cc, Manager::receive_hashing_changed), in
libtorrent's src/torrent/utils/resume.cc (0.13.8 and 0.16.17 alike):

- ``bitfield``: an integer equal to the torrent's chunk count marks every chunk
  done (0: none); any other integer, a string of the wrong size, or a ``files``
  list whose length is not the torrent's file count, and the resume data is
  ignored whole: everything is hashed (resume_load_progress,
  resume_load_bitfield).
- ``files``, one dictionary per file of the torrent, in its order:

  - ``mtime``: the file's modification time in whole seconds (``st_mtime`` of
    stat(), following symlinks). When the file's size on disk is not the
    torrent's, or its mtime differs (a missing file fails both), rTorrent
    clears that file's chunks and hashes them again; only then. Without
    ``mtime`` the file counts as new: created if missing, its chunks cleared
    and hashed. Negative values (~0 to ~3) are rTorrent's own markers.
  - ``priority``: 0 off, 1 normal, 2 high (resume_load_file_priorities);
    1 here (rtorrent_fast_resume.pl's 0 would turn every file off).
  - ``completed``: the file's chunks done, 0 to the number of chunks it
    touches; shown per file until the check counts them again from the bitfield
    (FileList::update_completed).

  A zero-length file touches no chunk: nothing depends on it. rTorrent 0.15.2
  and later skip BEP 47 padding files (``attr`` with ``p``) entirely; older
  ones treat them as files on disk.
- ``uncertain_pieces`` and ``uncertain_pieces.timestamp``: chunks to hash
  again, written while a torrent downloads; not needed, and left out.

rTorrent checks nothing else: data whose sizes and mtimes match is taken as
complete even when its bytes are wrong (a later ``d.check_hash`` finds them).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Sequence
from typing import Any, NamedTuple

#: A file's priority in the resume data: normal.
PRIORITY_NORMAL = 1
#: The first rTorrent (and libtorrent, released together) that skips padding files.
SKIPS_PADDING_SINCE = (0, 15, 2)


class ContentFile(NamedTuple):
    """One file of a torrent, as rTorrent will look for it."""

    #: Absolute: the download's root directory joined with the file's path.
    path: bytes
    size: int
    #: The chunks the file touches (libtorrent's File::size_chunks); 0 when empty.
    chunks: int
    #: A BEP 47 padding file.
    padding: bool


class Layout(NamedTuple):
    """A torrent's files where rTorrent will look for them, and its decoded metainfo."""

    files: tuple[ContentFile, ...]
    chunks: int
    metainfo: dict[bytes, Any]


class Found(NamedTuple):
    """What stat() told about a file on this host."""

    size: int
    #: ``st_mtime`` as rTorrent reads it: whole seconds (time_t).
    mtime: int
    regular: bool

    @classmethod
    def of(cls, result: os.stat_result) -> Found:
        return cls(result.st_size, result.st_mtime_ns // 1_000_000_000, stat.S_ISREG(result.st_mode))


#: stat()'s result for one file, or why it failed (its strerror).
Stat = Found | str


def skips_padding(version: str) -> bool:
    """Whether rTorrent `version` (``system.client_version``) skips padding files."""
    parts = version.split(".")
    if not all(part.isdigit() for part in parts):
        return False
    return tuple(int(part) for part in parts) >= SKIPS_PADDING_SINCE


def root_dir(directory: str, name: bytes, *, multi: bool, base: bool) -> bytes | None:
    """The directory rTorrent reads a download's files from, or None when it is
    relative (to the daemon's working directory, unknown here) or starts with ``~``.

    `directory` is what ``d.directory.set`` (`base` False) or
    ``d.directory_base.set`` (`base` True) gets, or rTorrent's default directory.
    d.directory.set appends a multi-file torrent's name (rtorrent
    command_download.cc, apply_d_directory); libtorrent drops trailing slashes
    (FileList::set_root_dir), ``.`` when nothing is left.
    """
    path = os.fsencode(directory)
    if multi and not base:
        path = path + name if not path or path.endswith(b"/") else path + b"/" + name
    root = path.rstrip(b"/")
    return root if root.startswith(b"/") else None


def _valid_element(value: object) -> bool:
    """As libtorrent's DownloadConstructor::is_valid_path_element: rTorrent refuses others."""
    return isinstance(value, bytes) and value not in (b"", b".", b"..") and b"/" not in value and b"\0" not in value


def _other_encodings_differ(entry: dict[bytes, Any], key: bytes, plain: object) -> bool:
    """Whether `entry` has ``<key>.<encoding>`` variants other than `plain`: rTorrent
    0.9 picks one by its ``encoding.add`` list (DownloadConstructor::choose_path)."""
    prefix = key + b"."
    return any(k.startswith(prefix) and v != plain for k, v in entry.items())


def layout(metainfo: bytes, directory: str, *, base: bool = False) -> Layout | str:
    """Where rTorrent will look for the files of the torrent `metainfo`, its
    content placed by `directory` (see :func:`root_dir`); or why resume data
    can't be built for it."""
    import bencode2  # lazy: only needed for verify=False

    try:
        decoded = bencode2.bdecode(metainfo)
    except Exception as exc:  # the bencode library raises ValueError subclasses
        return f"invalid .torrent: {exc}"
    info = decoded.get(b"info") if isinstance(decoded, dict) else None
    if not isinstance(info, dict):
        return "invalid .torrent: no info dictionary"
    piece_length = info.get(b"piece length")
    name = info.get(b"name")
    if not isinstance(piece_length, int) or piece_length <= 0 or not _valid_element(name):
        return "invalid .torrent: bad piece length or name"
    assert isinstance(name, bytes)
    if _other_encodings_differ(info, b"name", name):
        return "the torrent names its content in more than one encoding"
    # As libtorrent's DownloadConstructor::parse_info: "length" first.
    entries: list[tuple[list[bytes], int, bool]] = []
    if b"length" in info:
        length = info[b"length"]
        if not isinstance(length, int) or length < 0:
            return "invalid .torrent: bad length"
        entries.append(([name], length, False))
        multi = False
    elif isinstance(info.get(b"files"), list) and info[b"files"]:
        for entry in info[b"files"]:
            if not isinstance(entry, dict):
                return "invalid .torrent: bad file list"
            path, length = entry.get(b"path"), entry.get(b"length")
            if not isinstance(path, list) or not path or not all(_valid_element(p) for p in path):
                return "invalid .torrent: bad file path"
            if not isinstance(length, int) or length < 0:
                return "invalid .torrent: bad file length"
            if _other_encodings_differ(entry, b"path", path):
                return "the torrent names its content in more than one encoding"
            attr = entry.get(b"attr")
            entries.append((path, length, isinstance(attr, bytes) and b"p" in attr))
        multi = True
    else:
        return "no v1 file list (rTorrent can't load a v2-only torrent)"
    root = root_dir(directory, name, multi=multi, base=base)
    if root is None:
        return f"the download directory {directory!r} is not an absolute path"
    files: list[ContentFile] = []
    offset = 0
    for parts, length, padding in entries:
        # libtorrent's File::set_range.
        first = offset // piece_length
        last = first if length == 0 else -(-(offset + length) // piece_length)
        files.append(ContentFile(b"/".join([root, *parts]), length, last - first, padding))
        offset += length
    if offset == 0:
        return "the torrent has no data"
    return Layout(tuple(files), -(-offset // piece_length), decoded)


def _entry(file: ContentFile, found: Stat, padding_skipped: bool) -> dict[bytes, int] | str:
    """`file`'s entry of ``libtorrent_resume[files]`` as `found` here, or why it can't have one."""
    entry = {b"priority": PRIORITY_NORMAL, b"completed": file.chunks}
    if isinstance(found, Found) and found.regular and found.size == file.size:
        entry[b"mtime"] = found.mtime
        return entry
    if (file.size == 0 and isinstance(found, str)) or (file.padding and padding_skipped):
        # An empty file missing here: without mtime rTorrent creates it, and
        # it has no chunk to hash. A padding file: rTorrent never looks at it.
        return entry
    shown = os.fsdecode(file.path)
    if isinstance(found, str):
        return f"{shown}: {found}"
    if not found.regular:
        return f"{shown}: not a regular file"
    return f"{shown}: {found.size} bytes, the torrent has {file.size}"


def with_resume(layout: Layout, found: Sequence[Stat], infohash: str, *, padding_skipped: bool) -> bytes | str:
    """The metainfo of `layout` with resume data saying every chunk is done, for
    files as `found` (stat() results, in `layout.files` order); or why not: a
    file with data is missing here, not a regular file, or of another size.

    `infohash` (v1, hex) must stay the infohash of the result.
    `padding_skipped`: the daemon skips padding files (:func:`skips_padding`).
    """
    import bencode2

    if len(found) != len(layout.files):
        raise ValueError(f"{len(found)} stat results for {len(layout.files)} files")
    entries: list[dict[bytes, int]] = []
    for file, result in zip(layout.files, found, strict=True):
        entry = _entry(file, result, padding_skipped)
        if isinstance(entry, str):
            return entry
        entries.append(entry)
    resume = {b"bitfield": layout.chunks, b"files": entries}
    # One key more beside "info": the strict decoder and the encoder give back
    # the same bytes for everything else.
    encoded: bytes = bencode2.bencode({**layout.metainfo, b"libtorrent_resume": resume})
    if hashlib.sha1(bencode2.bencode(bencode2.bdecode(encoded)[b"info"])).hexdigest() != infohash.lower():
        return "the infohash would change"
    return encoded
