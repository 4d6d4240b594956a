"""Recorded qBittorrent Web API replies through the adapter's decoders and mapping."""

from __future__ import annotations

import json
from datetime import datetime

import msgspec
import pytest

from aiobtclientapi.adapters.qbittorrent._wire import (
    MAX_ETA,
    decode_listing,
    decode_maindata_state,
    decode_preferences,
    decode_rows,
    decode_server_state,
    parse_webapi_version,
    to_free_space,
    to_session,
    to_status,
    to_torrent,
    webapi_names,
)
from aiobtclientapi.adapters.qbittorrent.client import _row_hashes
from aiobtclientapi.domain.torrent import DEFAULT_ATTRIBUTES
from tests.wire._recordings import Recording, check_statuses, recording_params

pytestmark = pytest.mark.parametrize("recording", recording_params("qbittorrent"))


def test_webapi_version_names(recording: Recording) -> None:
    version = parse_webapi_version(recording.replies["app/webapiVersion"])
    assert version[0] == 2
    names = webapi_names(version)
    # 5.0 renamed pause/resume to stop/start.
    major = int(recording.version.removeprefix("v").split(".")[0])
    assert (names.start, names.stop) == (
        ("torrents/start", "torrents/stop") if major >= 5 else ("torrents/resume", "torrents/pause")
    )
    assert recording.target.startswith(f"qbittorrent-{recording.version.removeprefix('v')}")


def test_preferences(recording: Recording) -> None:
    body = recording.replies["app/preferences"]
    assert decode_preferences(body.encode()).refresh_interval == json.loads(body)["refresh_interval"]


def test_torrents_info(recording: Recording) -> None:
    wanted = {torrent.infohash for torrent in recording.torrents} | {recording.unknown_infohash}
    statuses = {
        infohash: to_status(row, infohash)
        for row in decode_rows(recording.replies["torrents/info"].encode())
        for infohash in _row_hashes(row) & wanted
    }
    check_statuses(statuses, recording)


def test_torrents_info_as_torrents(recording: Recording) -> None:
    """The listing's mapping of the same rows: the same state, no sentinel left."""
    rows = json.loads(recording.replies["torrents/info"])
    raw = {(row["infohash_v1"] or row["hash"]): row for row in rows}
    for row in decode_listing(recording.replies["torrents/info"].encode()):
        torrent = to_torrent(row, DEFAULT_ATTRIBUTES)
        wire = raw[torrent.infohash]
        assert torrent.state is to_status(row, torrent.infohash).state
        assert torrent.name == wire["name"] and torrent.size_total == wire["total_size"]
        assert torrent.infohash_v2 is None  # v1 torrents
        assert wire["eta"] == MAX_ETA and torrent.eta is None
        assert (torrent.completed_at is None) == (wire["amount_left"] > 0 or wire["completion_on"] <= 0)
        assert torrent.label is None and torrent.tags == ()
        assert isinstance(torrent.added_at, datetime) and torrent.added_at.year >= 2024
        assert torrent.content_path == f"{wire['save_path']}/{wire['name']}"
        # 5.0+ sends private (null without metadata); 4.x leaves it to torrents/properties.
        assert torrent.is_private is bool(wire.get("private"))
        # Unlimited: 0 on the wire.
        assert (wire["dl_limit"], wire["up_limit"]) == (0, 0)
        assert (torrent.limit_down, torrent.limit_up) == (None, None)


def test_session(recording: Recording) -> None:
    """transfer/info with the free space from app/getFreeSpaceAtPath (2.15.2+) or sync/maindata."""
    replies = recording.replies
    info = json.loads(replies["transfer/info"])
    state = decode_server_state(replies["transfer/info"].encode())
    free_space = to_free_space(replies["app/getFreeSpaceAtPath"]) if "app/getFreeSpaceAtPath" in replies else None
    session = to_session(replies["app/version"], state, replies["app/defaultSavePath"], free_space)
    assert session.client == "qbittorrent" and f"v{session.version}" == recording.version
    assert (session.rate_down, session.rate_up) == (info["dl_info_speed"], info["up_info_speed"])
    assert (session.downloaded, session.uploaded) == (info["dl_info_data"], info["up_info_data"])
    assert (session.limit_down, session.limit_up) == (None, None)  # 0: unlimited
    assert session.save_path == replies["app/defaultSavePath"]
    assert session.torrents == {}
    if free_space is not None:
        assert session.free_space == free_space > 0
    else:
        assert "app/getFreeSpaceAtPath" not in replies
        server_state = decode_maindata_state(replies["sync/maindata"].encode()).server_state
        wire = json.loads(replies["sync/maindata"])["server_state"]
        assert server_state.free_space_on_disk == wire["free_space_on_disk"]
        from_maindata = to_session(replies["app/version"], server_state, replies["app/defaultSavePath"], None)
        # 4.x: 0 until the Web API session is 30 s old (as recorded): unknown.
        assert from_maindata.free_space == (wire["free_space_on_disk"] or None)
        assert from_maindata.limit_down is None and from_maindata.rate_down == wire["dl_info_speed"]


def test_webapi_names_of_the_add_fields(recording: Recording) -> None:
    """NoSubfolder is contentLayout from 2.7 on; seedMode replaced skip_checking in 2.16."""
    version = parse_webapi_version(recording.replies["app/webapiVersion"])
    names = webapi_names(version)
    assert names.add_layout_flat == ("contentLayout", "NoSubfolder")
    assert names.add_skip_check == ("seedMode" if version >= (2, 16) else "skip_checking")
    assert webapi_names((2, 6)).add_layout_flat == ("root_folder", "false")
    assert (to_free_space("-1"), to_free_space("")) == (None, None)


# The decoders promise ValueError (msgspec's errors subclass it); the adapter
# turns it into ResponseError (torrents/info) or ConnectionError (webapiVersion).


def test_truncated_torrents_info_is_a_decode_error(recording: Recording) -> None:
    body = recording.replies["torrents/info"].encode()
    with pytest.raises(msgspec.DecodeError):
        decode_rows(body[: len(body) // 2])


def test_mistyped_progress_is_a_validation_error(recording: Recording) -> None:
    rows = json.loads(recording.replies["torrents/info"])
    rows[0]["progress"] = "100%"
    with pytest.raises(msgspec.ValidationError):
        decode_rows(json.dumps(rows).encode())


def test_truncated_webapi_version_is_a_value_error(recording: Recording) -> None:
    with pytest.raises(ValueError):
        parse_webapi_version(recording.replies["app/webapiVersion"][:2])
