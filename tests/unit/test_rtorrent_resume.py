"""rTorrent's fast-resume data (adapters/rtorrent/_resume.py), and the service
turning an adapter's per-source warning into the Response's."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import bencode2
import msgspec
import pytest

from aiobtclientapi.adapters.rtorrent import _resume
from aiobtclientapi.adapters.rtorrent._resume import ContentFile, Found, Layout
from aiobtclientapi.application.ports import AddOptions, AddOutcome
from aiobtclientapi.application.services import TorrentService
from aiobtclientapi.domain import errors
from aiobtclientapi.domain.response import AddResponse
from aiobtclientapi.domain.source import TorrentSource, source_from_metainfo
from tests.unit.test_confirmation import POLICY, expect, magnet, no_downloads

PIECE = 16384
MTIME = 1_700_000_000


def metainfo(info: dict[bytes, Any], **top: Any) -> bytes:
    return bencode2.bencode({b"announce": b"http://127.0.0.1:1/announce", b"info": info, **top})


def single(name: bytes = b"file.bin", length: int = 3 * PIECE + 1) -> bytes:
    return metainfo(
        {b"length": length, b"name": name, b"piece length": PIECE, b"pieces": b"\0" * 20 * (-(-length // PIECE))}
    )


#: (path, length[, attr]) of a multi-file torrent with chunks shared between
#: files and an empty file: offsets 0, 10000, 10000, 40000; 56384 bytes, 4 chunks.
FILES: list[tuple[list[bytes], int]] = [
    ([b"a.bin"], 10000),
    ([b"empty"], 0),
    ([b"sub", b"b.bin"], 30000),
    ([b"sub", b"c.bin"], PIECE),
]


def multi(
    files: Sequence[tuple[Any, ...]] = FILES, name: bytes = b"album", info: dict[bytes, Any] | None = None
) -> bytes:
    entries = []
    for path, length, *attr in files:
        entry: dict[bytes, Any] = {b"length": length, b"path": path}
        if attr:
            entry[b"attr"] = attr[0]
        entries.append(entry)
    total = sum(length for _, length, *_ in files)
    return metainfo(
        {
            b"files": entries,
            b"name": name,
            b"piece length": PIECE,
            b"pieces": b"\0" * 20 * (-(-total // PIECE)),
            **(info or {}),
        }
    )


def planned(data: bytes, directory: str = "/data", *, base: bool = False) -> Layout:
    result = _resume.layout(data, directory, base=base)
    assert isinstance(result, Layout), result
    return result


def found(layout: Layout, mtime: int = MTIME) -> list[_resume.Stat]:
    """Every file of `layout` present with its size."""
    return [Found(file.size, mtime + index, True) for index, file in enumerate(layout.files)]


def built(data: bytes, stats: Sequence[_resume.Stat] | None = None, **options: Any) -> dict[bytes, Any]:
    """The decoded metainfo with resume data, checked to keep the info dict byte for byte."""
    layout = planned(data, **options)
    source = source_from_metainfo(data, "test.torrent")
    result = _resume.with_resume(
        layout, found(layout) if stats is None else stats, source.infohash, padding_skipped=False
    )
    assert isinstance(result, bytes), result
    info_bytes = bencode2.bencode(bencode2.bdecode(data)[b"info"])
    assert info_bytes in data and info_bytes in result
    assert source_from_metainfo(result, "resumed.torrent").infohash == source.infohash
    assert hashlib.sha1(info_bytes).hexdigest() == source.infohash
    decoded: dict[bytes, Any] = bencode2.bdecode(result)
    # Nothing but the resume data was added.
    assert {k: v for k, v in decoded.items() if k != b"libtorrent_resume"} == bencode2.bdecode(data)
    return decoded


# --- where rTorrent looks --------------------------------------------------------------------
def test_single_file_lies_in_the_directory() -> None:
    layout = planned(single(), "/data/")
    assert layout.files == (ContentFile(b"/data/file.bin", 3 * PIECE + 1, 4, False),)
    assert layout.chunks == 4


def test_multi_file_lies_in_a_folder_named_after_the_torrent() -> None:
    layout = planned(multi(), "/data")
    assert [f.path for f in layout.files] == [
        b"/data/album/a.bin",
        b"/data/album/empty",
        b"/data/album/sub/b.bin",
        b"/data/album/sub/c.bin",
    ]
    # Chunks each file touches (libtorrent's File::size_chunks): none for the empty one.
    assert [f.chunks for f in layout.files] == [1, 0, 3, 2]
    assert layout.chunks == 4
    assert planned(multi(), "/data/").files == layout.files  # d.directory.set adds no second slash


def test_a_base_directory_is_the_content_folder_itself() -> None:
    layout = planned(multi(), "/elsewhere/Other Name/", base=True)
    assert layout.files[0].path == b"/elsewhere/Other Name/a.bin"


def test_names_are_the_torrents_bytes() -> None:
    layout = planned(multi(name=b"caf\xe9", files=[([b"\xff.bin"], 5)]), "/d")
    assert layout.files[0].path == b"/d/caf\xe9/\xff.bin"


@pytest.mark.parametrize("directory", ["", "relative/dir", "~/downloads", "/"])
def test_a_directory_rtorrent_would_resolve_itself_is_refused(directory: str) -> None:
    assert _resume.layout(single(), directory) == f"the download directory {directory!r} is not an absolute path"


# --- the resume data -------------------------------------------------------------------------
def test_single_file_resume_data() -> None:
    decoded = built(single())
    assert decoded[b"libtorrent_resume"] == {
        b"bitfield": 4,
        b"files": [{b"completed": 4, b"mtime": MTIME, b"priority": 1}],
    }


def test_multi_file_resume_data() -> None:
    decoded = built(multi())
    assert decoded[b"libtorrent_resume"] == {
        b"bitfield": 4,
        b"files": [
            {b"completed": 1, b"mtime": MTIME, b"priority": 1},
            {b"completed": 0, b"mtime": MTIME + 1, b"priority": 1},
            {b"completed": 3, b"mtime": MTIME + 2, b"priority": 1},
            {b"completed": 2, b"mtime": MTIME + 3, b"priority": 1},
        ],
    }


def test_resume_data_already_in_the_torrent_is_replaced() -> None:
    stale = {b"bitfield": 0, b"files": [{b"mtime": 1}], b"uncertain_pieces": b"\0\0\0\1"}
    data = metainfo(bencode2.bdecode(single())[b"info"], libtorrent_resume=stale)
    layout = planned(data)
    result = _resume.with_resume(layout, found(layout), source_from_metainfo(data, "t").infohash, padding_skipped=False)
    assert isinstance(result, bytes)
    assert bencode2.bdecode(result)[b"libtorrent_resume"] == {
        b"bitfield": 4,
        b"files": [{b"completed": 4, b"mtime": MTIME, b"priority": 1}],
    }


def test_a_missing_empty_file_gets_no_mtime() -> None:
    # rTorrent then creates it; no chunk depends on it.
    layout = planned(multi())
    stats = found(layout)
    stats[1] = "No such file or directory"
    files = built(multi(), stats)[b"libtorrent_resume"][b"files"]
    assert files[1] == {b"completed": 0, b"priority": 1}
    assert all(b"mtime" in entry for index, entry in enumerate(files) if index != 1)


PADDED = [([b"a.bin"], 10000), ([b".pad", b"6384"], 6384, b"p"), ([b"b.bin"], PIECE)]


def test_a_missing_padding_file_needs_a_daemon_that_skips_them() -> None:
    data = multi(PADDED)
    layout = planned(data)
    stats = found(layout)
    stats[1] = "No such file or directory"
    infohash = source_from_metainfo(data, "t").infohash
    assert _resume.with_resume(layout, stats, infohash, padding_skipped=False) == (
        "/data/album/.pad/6384: No such file or directory"
    )
    result = _resume.with_resume(layout, stats, infohash, padding_skipped=True)
    assert isinstance(result, bytes)
    assert bencode2.bdecode(result)[b"libtorrent_resume"][b"files"][1] == {b"completed": 1, b"priority": 1}
    # Present, it is a file like the others for every version.
    assert built(data)[b"libtorrent_resume"][b"files"][1] == {b"completed": 1, b"mtime": MTIME + 1, b"priority": 1}


@pytest.mark.parametrize(
    ("version", "skips"),
    [("0.9.8", False), ("0.15.1", False), ("0.15.2", True), ("0.16.17", True), ("1.0", True), ("0.16-git", False)],
)
def test_padding_files_are_skipped_since_0_15_2(version: str, skips: bool) -> None:
    assert _resume.skips_padding(version) is skips


# --- refusals ----------------------------------------------------------------------------------
def refusal(data: bytes, index: int, stat: _resume.Stat) -> str:
    layout = planned(data)
    stats = found(layout)
    stats[index] = stat
    result = _resume.with_resume(layout, stats, source_from_metainfo(data, "t").infohash, padding_skipped=True)
    assert isinstance(result, str)
    return result


def test_a_missing_file_is_refused() -> None:
    assert refusal(multi(), 2, "No such file or directory") == "/data/album/sub/b.bin: No such file or directory"
    assert refusal(single(), 0, "Permission denied") == "/data/file.bin: Permission denied"


def test_a_file_of_another_size_is_refused() -> None:
    assert (
        refusal(multi(), 3, Found(PIECE - 1, MTIME, True))
        == "/data/album/sub/c.bin: 16383 bytes, the torrent has 16384"
    )
    # An empty file that exists must be empty.
    assert refusal(multi(), 1, Found(7, MTIME, True)) == "/data/album/empty: 7 bytes, the torrent has 0"


def test_what_is_not_a_regular_file_is_refused() -> None:
    assert refusal(multi(), 0, Found(10000, MTIME, False)) == "/data/album/a.bin: not a regular file"
    assert refusal(multi(), 1, Found(0, MTIME, False)) == "/data/album/empty: not a regular file"


def test_a_v2_only_torrent_is_refused() -> None:
    data = metainfo({b"file tree": {}, b"meta version": 2, b"name": b"v2", b"piece length": PIECE})
    assert _resume.layout(data, "/data") == "no v1 file list (rTorrent can't load a v2-only torrent)"


def test_names_in_other_encodings_are_refused() -> None:
    # rTorrent 0.9 may use one of them (by its encoding.add list): the files could be elsewhere.
    data = multi(name=b"album", info={b"name.utf-8": b"Album"})
    assert _resume.layout(data, "/data") == "the torrent names its content in more than one encoding"
    # The same name again is no other name.
    assert isinstance(_resume.layout(multi(name=b"album", info={b"name.utf-8": b"album"}), "/data"), Layout)
    info = bencode2.bdecode(multi())[b"info"]
    info[b"files"][0][b"path.utf-8"] = [b"A.bin"]
    assert _resume.layout(metainfo(info), "/data") == "the torrent names its content in more than one encoding"


@pytest.mark.parametrize("element", [b"..", b".", b"", b"a/b"])
def test_paths_rtorrent_refuses_are_refused(element: bytes) -> None:
    assert _resume.layout(multi([([b"ok", element], 5)]), "/data") == "invalid .torrent: bad file path"


def test_invalid_metainfo_is_refused() -> None:
    assert str(_resume.layout(b"not bencode", "/data")).startswith("invalid .torrent: ")
    assert _resume.layout(bencode2.bencode({b"announce": b"x"}), "/data") == "invalid .torrent: no info dictionary"
    assert _resume.layout(single(length=0), "/data") == "the torrent has no data"


def test_found_reads_whole_seconds_of_the_mtime(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"12345")
    os.utime(path, ns=(0, 1_600_000_000_999_999_999))
    assert Found.of(os.stat(path)) == Found(5, 1_600_000_000, True)
    assert Found.of(os.stat(tmp_path)).regular is False


# --- the service --------------------------------------------------------------------------------
async def test_an_outcomes_warning_is_a_response_warning() -> None:
    from tests.unit.fake_port import FakePort

    class WarningPort(FakePort):
        async def add(self, sources: Sequence[TorrentSource], options: AddOptions) -> list[AddOutcome]:
            return [
                msgspec.structs.replace(outcome, warning=f"no resume data for {outcome.source.name}")
                for outcome in await super().add(sources, options)
            ]

    port = WarningPort()
    uri, torrent = magnet(1)
    response = await TorrentService(port, no_downloads, POLICY).add([uri], verify=False)
    assert response == expect(
        AddResponse, added=[torrent], warnings=[errors.Warning(f"{uri}: no resume data for torrent-1")]
    )
