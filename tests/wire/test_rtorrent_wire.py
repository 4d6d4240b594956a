"""Recorded rTorrent XML-RPC replies through the adapter's parser, rows and mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

import msgspec
import pytest

import aiobtclientapi
from aiobtclientapi.adapters.rtorrent._transport import parse_reply
from aiobtclientapi.adapters.rtorrent._wire import (
    STATUS,
    columns_for,
    listing,
    to_listing_row,
    to_status,
    to_torrent,
)
from aiobtclientapi.domain.torrent import ATTRIBUTES, FilePriority, PeerInfo, TorrentState, TrackerStatus
from tests.wire._recordings import Recording, check_statuses, recording_params

each_recording = pytest.mark.parametrize("recording", recording_params("rtorrent"))


def parsed(recording: Recording, method: str) -> Any:
    return parse_reply(recording.replies[method].encode(), "recording")


@each_recording
def test_client_version(recording: Recording) -> None:
    version = parsed(recording, "system.client_version")
    assert version == recording.version
    assert recording.target.startswith(f"rtorrent-{version}-")


@each_recording
def test_d_multicall2(recording: Recording) -> None:
    rows = STATUS.rows(parsed(recording, "d.multicall2"))
    check_statuses({status.infohash: status for status in map(to_status, rows)}, recording)


@each_recording
def test_system_multicall_of_getters(recording: Recording) -> None:
    # One result per call: [value], or a fault struct (all of them for the unknown infohash).
    results = parsed(recording, "system.multicall")
    width = len(STATUS.wire_columns)
    assert width < len(STATUS.columns)  # the integer getters come packed in one call
    assert len(results) == width * (len(recording.torrents) + 1)
    statuses = {}
    for start in range(0, len(results), width):
        group = results[start : start + width]
        if all(isinstance(result, dict) and "faultString" in result for result in group):
            continue
        assert all(isinstance(result, list) and len(result) == 1 for result in group), group
        [row] = STATUS.rows([[value for [value] in group]])
        status = to_status(row)
        statuses[status.infohash] = status
    check_statuses(statuses, recording)


@each_recording
def test_truncated_reply_is_a_response_error(recording: Recording) -> None:
    body = recording.replies["d.multicall2"].encode()
    with pytest.raises(aiobtclientapi.ResponseError, match="invalid XML-RPC reply"):
        parse_reply(body[: len(body) // 2], "recording")


@each_recording
def test_reply_with_a_dtd_is_a_response_error(recording: Recording) -> None:
    declaration, _, rest = recording.replies["system.client_version"].partition("\n")
    body = f'{declaration}\n<!DOCTYPE methodResponse [<!ENTITY v "0">]>\n{rest}'.encode()
    with pytest.raises(aiobtclientapi.ResponseError, match="refused"):
        parse_reply(body, "recording")


@each_recording
def test_mistyped_row_is_a_validation_error(recording: Recording) -> None:
    # STATUS.rows promises msgspec.ValidationError; the adapter turns it into ResponseError.
    row = list(parsed(recording, "d.multicall2")[0])
    row[[column.key for column in STATUS.wire_columns].index("name")] = 7
    with pytest.raises(msgspec.ValidationError):
        STATUS.rows([row])


# --- listing rows (shaped as rTorrent 0.9.8 answers d.multicall2 with nested multicalls) ---
def xml(value: Any) -> str:
    """`value` as rTorrent writes it: integers as <i8> (beyond xmlrpc.client's <int>)."""
    if isinstance(value, int):
        return f"<value><i8>{value}</i8></value>"
    if isinstance(value, str):
        return f"<value><string>{escape(value)}</string></value>"
    return f"<value><array><data>{''.join(xml(v) for v in value)}</data></array></value>"


def listing_reply(values: dict[str, Any], attributes: frozenset[str]) -> tuple[list[Any], Any]:
    """The columns for `attributes` and one d.multicall2 row of `values` through the XML parser."""
    columns = columns_for(attributes)
    body = f"<?xml version='1.0'?><methodResponse><params><param>{xml([[values[c.key] for c in columns]])}"
    body += "</param></params></methodResponse>"
    [row] = parse_reply(body.encode(), "test")
    return columns, row


DOWNLOADING = {
    "hash": "AB" * 20,
    "name": "album",
    "state": 1,
    "is_open": 1,
    "is_active": 1,
    "complete": 0,
    "hashing": 0,
    "is_hash_checking": 0,
    "message": "Tracker: [Timeout was reached]",
    "is_meta": 0,
    "completed_bytes": 3 * 2**30,
    "size_bytes": 4 * 2**30,
    "left_bytes": 2**30,
    "wanted_chunks": 10,
    "chunk_size": 2**20,
    "ratio": 1500,
    "down_total": 3 * 2**30,
    "up_total": 4_831_838_208,
    "down_rate": 2**20,
    "up_rate": 512,
    "peers_connected": 5,
    "peers_complete": 2,
    "directory": "/data/dl/album",
    "is_multi_file": 1,
    "base_path": "",
    "custom1": "my%20label%2Fx",
    "load_date": 1_700_000_000,
    "timestamp_finished": 0,
    "is_private": 1,
    # The max rates of the torrent's throttle group (branch=d.throttle_name=,throttle.*.max=...):
    # -1 for a direction the group doesn't limit.
    "throttle_down": 100 * 1024,
    "throttle_up": -1,
    # size_bytes, priority, path, completed_chunks, size_chunks
    "files": [[3 * 2**30, 1, "a.flac", 3072, 3072], [2**30 - 10, 0, "b/c.flac", 0, 1024], [10, 2, "d.txt", 0, 1]],
    "trackers": [
        [0, 0, 0, "http://t1/announce", 0, 1, 0, 0, 3],
        [1_700_000_100, 7, 9, "udp://t2:80", 1, 1, 0, 4, 0],
        [1_700_000_100, 11, 1, "udp://t3:80", 1, 1, 1, 2, 0],
        [0, 0, 0, "dht://", 0, 1, 0, 0, 0],
    ],
    "peers": [["[::1]", 6881, "Unknown", 42, 100, 0], ["10.0.0.1", 51413, "Transmission 3.0.0", 100, 0, 7]],
}


def test_listing_row_units() -> None:
    attributes = frozenset(ATTRIBUTES)
    columns, row = listing_reply(DOWNLOADING, attributes)
    t = to_torrent(to_listing_row(columns, row), attributes)
    assert t.infohash == "ab" * 20 and t.infohash_v2 is None
    assert t.state is TorrentState.downloading and t.error is None  # a tracker message isn't the torrent's
    assert (t.progress, t.size_total, t.size_done, t.size_wanted) == (0.75, 4 * 2**30, 3 * 2**30, 3 * 2**30 + 10)
    assert t.ratio == 1.5  # per mille on the wire
    # Left of the wanted files (10 chunks), not of the whole torrent.
    assert t.eta == timedelta(seconds=10)
    assert (t.seeds_connected, t.peers_connected) == (2, 3)
    assert (t.seeds_swarm, t.peers_swarm) == (11, 9)  # the largest of the trackers that scraped
    assert (t.save_path, t.content_path) == ("/data/dl", "/data/dl/album")  # closed: base_path empty
    assert (t.label, t.tags) == ("my label/x", ())
    assert t.added_at == datetime.fromtimestamp(1_700_000_000, UTC)
    assert t.completed_at is None
    assert (t.limit_down, t.limit_up) == (100 * 1024, None)
    assert isinstance(t.files, tuple)
    assert [(f.path, f.wanted, f.priority) for f in t.files] == [
        ("a.flac", True, FilePriority.normal),
        ("b/c.flac", False, None),
        ("d.txt", True, FilePriority.high),
    ]
    assert [f.progress for f in t.files] == [1.0, 0.0, 0.0]
    assert isinstance(t.trackers, tuple)
    assert [(tr.url, tr.tier, tr.status, tr.seeds, tr.peers) for tr in t.trackers] == [
        ("http://t1/announce", 0, TrackerStatus.error, None, None),
        ("udp://t2:80", 1, TrackerStatus.working, 7, 9),
        ("udp://t3:80", 1, TrackerStatus.updating, 11, 1),
    ]
    assert t.peers == (
        PeerInfo(address="[::1]:6881", client=None, progress=0.42, rate_down=100, rate_up=0),
        PeerInfo(address="10.0.0.1:51413", client="Transmission 3.0.0", progress=1.0, rate_down=0, rate_up=7),
    )


def test_listing_row_single_file_and_hashing() -> None:
    values = {
        **DOWNLOADING,
        "directory": "/data/dl/",
        "is_multi_file": 0,
        "name": "file.iso",
        "hashing": 3,
        "is_hash_checking": 1,
        "ratio": 0,  # rTorrent says 0 while it hashes
        "custom1": "",
        "timestamp_finished": 1_700_000_500,
        "down_rate": 0,
    }
    attributes = frozenset({"state", "ratio", "eta", "save_path", "content_path", "label", "completed_at"})
    columns, row = listing_reply(values, attributes)
    t = to_torrent(to_listing_row(columns, row), attributes)
    assert (t.state, t.ratio, t.eta, t.label) == (TorrentState.verifying, None, None, None)
    assert (t.save_path, t.content_path) == ("/data/dl", "/data/dl/file.iso")
    assert t.completed_at == datetime.fromtimestamp(1_700_000_500, UTC)
    assert t.name is msgspec.UNSET and t.files is msgspec.UNSET


def test_listing_asks_only_what_attributes_need() -> None:
    assert [c.multicall2_arg() for c in columns_for({"name"})] == ["d.hash=", "d.name="]
    assert [c.multicall2_arg() for c in columns_for({"seeds_swarm", "size_wanted"})] == [
        "d.hash=",
        "f.multicall=,f.size_bytes=,f.priority=",
        "t.multicall=,t.scrape_time_last=,t.scrape_complete=,t.scrape_incomplete=",
    ]
    assert columns_for({"files"})[-1].call("AB" * 20)[1][:3] == ("AB" * 20, "", "f.size_bytes=")


def test_mistyped_listing_row_is_a_validation_error() -> None:
    attributes = frozenset({"name", "ratio"})
    columns, row = listing_reply(DOWNLOADING, attributes)
    row[[c.key for c in columns].index("ratio")] = "1.5"
    with pytest.raises(msgspec.ValidationError):
        to_listing_row(columns, row)
    with pytest.raises(TypeError):
        to_listing_row(columns, row[:-1])


def test_multicall2_packs_integer_getters() -> None:
    attributes = frozenset({"name", "state", "ratio"})
    plan = listing(attributes).multicall2
    assert plan.args()[:3] == ["d.hash=", "d.name=", "d.message="]
    assert plan.args()[3].startswith("cat=$d.ratio=,:,$d.is_hash_checking=,:,$d.state=")
    # The same values as asked one getter each, the same Torrent.
    columns, row = listing_reply(DOWNLOADING, attributes)
    packed = [
        *(DOWNLOADING[c.key] for c in plan.columns[:3]),
        ":".join(str(DOWNLOADING[c.key]) for c in plan.columns[3:]),
    ]
    [fast] = plan.rows([packed])
    assert listing(attributes).torrent(fast) == to_torrent(to_listing_row(columns, row), attributes)
    assert listing(frozenset({"name"})).multicall2.args() == ["d.hash=", "d.name="]  # nothing to pack


@pytest.mark.parametrize("packed", ["1:2", "1:2:3:4:5:6:7:8:9:x", "", 5])
def test_mispacked_row_is_a_type_error(packed: Any) -> None:
    plan = listing(frozenset({"name", "state", "ratio"})).multicall2
    with pytest.raises(TypeError):
        plan.rows([["AB" * 20, "n", "", packed]])
    with pytest.raises(TypeError):
        plan.rows([["AB" * 20, "n", ""]])
    with pytest.raises(msgspec.ValidationError):
        plan.rows([["AB" * 20, 5, "", "1:0:1:1:1:0:0:0"]])
