"""Recorded Transmission replies through the adapter's dialects and mapping."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from aiobtclientapi.adapters.transmission._wire import (
    JSONRPC,
    LEGACY,
    RECENTLY_ACTIVE,
    Dialect,
    SessionInfo,
    label_refusal,
    limit_from_wire,
    limit_to_wire,
    listing_fields,
    to_session,
    to_status,
    to_torrent,
    to_torrents,
)
from aiobtclientapi.domain.torrent import ATTRIBUTES, timestamp
from tests.wire._recordings import Recording, check_statuses, recording_params

pytestmark = pytest.mark.parametrize("recording", recording_params("transmission"))


def session_info(recording: Recording) -> SessionInfo:
    # connect() sends session-get in the original protocol on every version.
    outcome = LEGACY.decode(recording.replies["session-get"].encode())
    assert outcome.error is None
    return msgspec.convert(outcome.arguments, LEGACY.session)


def dialect_of(recording: Recording) -> Dialect:
    """The dialect the adapter speaks after connecting, and the replies were recorded in."""
    return JSONRPC if session_info(recording).speaks_jsonrpc else LEGACY


def test_session_get(recording: Recording) -> None:
    session = session_info(recording)
    assert session.version == recording.version
    assert recording.target.startswith(f"transmission-{session.version.split()[0]}")
    assert session.rpc_version > 0


def test_torrent_get(recording: Recording) -> None:
    dialect = dialect_of(recording)
    outcome = dialect.decode(recording.replies["torrent-get"].encode())
    assert outcome.error is None
    rows = msgspec.convert(outcome.arguments, dialect.rows)
    check_statuses({status.infohash: status for status in map(to_status, rows.torrents)}, recording)


def test_torrent_add_added_and_duplicate(recording: Recording) -> None:
    dialect = dialect_of(recording)
    infohash = next(torrent.infohash for torrent in recording.torrents if torrent.role == "stopped")
    added = dialect.decode(recording.replies["torrent-add added"].encode())
    duplicate = dialect.decode(recording.replies["torrent-add duplicate"].encode())
    assert added.error is None
    assert duplicate.error is None
    added_result = msgspec.convert(added.arguments, dialect.add_result)
    duplicate_result = msgspec.convert(duplicate.arguments, dialect.add_result)
    assert added_result.torrent_duplicate is None
    assert added_result.torrent_added is not None
    assert added_result.torrent_added.hash_string.lower() == infohash
    assert duplicate_result.torrent_added is None
    assert duplicate_result.torrent_duplicate is not None
    assert duplicate_result.torrent_duplicate.hash_string.lower() == infohash


# Dialect.decode promises msgspec.DecodeError and msgspec.convert ValidationError;
# the transport and the adapter turn both into ResponseError.


def test_truncated_reply_is_a_decode_error(recording: Recording) -> None:
    body = recording.replies["torrent-get"].encode()
    with pytest.raises(msgspec.DecodeError):
        dialect_of(recording).decode(body[: len(body) // 2])


def test_mistyped_status_is_a_validation_error(recording: Recording) -> None:
    dialect = dialect_of(recording)
    reply = json.loads(recording.replies["torrent-get"])
    reply["result" if dialect.jsonrpc else "arguments"]["torrents"][0]["status"] = "seeding"
    outcome = dialect.decode(json.dumps(reply).encode())
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(outcome.arguments, dialect.rows)


def test_listing_rows_agree_with_the_snapshot(recording: Recording) -> None:
    # The snapshot's recorded reply carries the fields of these attributes.
    dialect = dialect_of(recording)
    outcome = dialect.decode(recording.replies["torrent-get"].encode())
    rows = msgspec.convert(outcome.arguments, dialect.listing)
    snapshot = msgspec.convert(outcome.arguments, dialect.rows)
    attributes = frozenset({"name", "state", "progress"})
    for row, status in zip(rows.torrents, map(to_status, snapshot.torrents), strict=True):
        torrent = to_torrent(row, attributes)
        assert (torrent.infohash, torrent.name, torrent.state, torrent.progress) == (
            status.infohash,
            status.name,
            status.state,
            status.progress,
        )
        assert torrent.size_total is msgspec.UNSET


def test_listing_fields_are_spelled_per_dialect(recording: Recording) -> None:
    dialect = dialect_of(recording)
    fields = listing_fields(frozenset({"files", "seeds_swarm", "completed_at"}), "id")
    assert fields == ["hashString", "id", "doneDate", "leftUntilDone", "files", "fileStats", "trackerStats"]
    request = dialect.request("torrent-get", {"fields": fields, "ids": RECENTLY_ACTIVE}, 1)
    if dialect.jsonrpc:
        assert request["params"]["ids"] == "recently_active"
        assert request["params"]["fields"][-2:] == ["file_stats", "tracker_stats"]
    else:
        assert request["arguments"] == {"fields": fields, "ids": "recently-active"}


def test_decode_as_reads_what_the_generic_decoding_reads(recording: Recording) -> None:
    # The listing decodes a reply straight into Structs, in one pass.
    dialect = dialect_of(recording)
    body = recording.replies["torrent-get"].encode()
    arguments = dialect.decode(body).arguments
    for shape in (dialect.listing, dialect.rows, dialect.hashes):
        assert dialect.decode_as(body, shape) == (msgspec.convert(arguments, shape), None)


def test_decode_as_reports_the_daemons_error(recording: Recording) -> None:
    dialect = dialect_of(recording)
    if dialect.jsonrpc:
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "method not found"}}
    else:
        # An error reply's arguments needn't be of the shape asked for.
        reply = {"result": "no such method", "arguments": {"torrents": "none"}, "tag": 1}
    error = "method not found" if dialect.jsonrpc else "no such method"
    assert dialect.decode_as(json.dumps(reply).encode(), dialect.listing) == (dialect.listing(), error)


def test_decode_as_refuses_a_mistyped_status(recording: Recording) -> None:
    dialect = dialect_of(recording)
    reply = json.loads(recording.replies["torrent-get"])
    reply["result" if dialect.jsonrpc else "arguments"]["torrents"][0]["status"] = "seeding"
    with pytest.raises(msgspec.ValidationError):
        dialect.decode_as(json.dumps(reply).encode(), dialect.listing)
    with pytest.raises(msgspec.DecodeError):
        dialect.decode_as(recording.replies["torrent-get"].encode()[:-2], dialect.listing)


def test_every_attribute_of_recorded_rows(recording: Recording) -> None:
    dialect = dialect_of(recording)
    rows, _ = dialect.decode_as(recording.replies["torrent-get"].encode(), dialect.listing)
    torrents = to_torrents(rows.torrents, frozenset(ATTRIBUTES))
    assert [torrent.infohash for torrent in torrents] == [row.hash_string.lower() for row in rows.torrents]
    for row, torrent in zip(rows.torrents, torrents, strict=True):
        assert torrent == to_torrent(row, frozenset(ATTRIBUTES))
        assert all(getattr(torrent, attribute) is not msgspec.UNSET for attribute in ATTRIBUTES)
        assert torrent.added_at == timestamp(row.added_date)
        assert torrent.tags == row.labels[1:]


def _reply(dialect: Dialect, legacy: dict[str, Any], jsonrpc: dict[str, Any]) -> bytes:
    if dialect.jsonrpc:
        return json.dumps({"jsonrpc": "2.0", "id": 1, "result": jsonrpc}).encode()
    return json.dumps({"result": "success", "arguments": legacy, "tag": 1}).encode()


def test_session_from_both_spellings(recording: Recording) -> None:
    dialect = dialect_of(recording)
    stats_body = _reply(
        dialect,
        {"downloadSpeed": 5, "uploadSpeed": 6, "current-stats": {"downloadedBytes": 7, "uploadedBytes": 8}},
        {"download_speed": 5, "upload_speed": 6, "current_stats": {"downloaded_bytes": 7, "uploaded_bytes": 8}},
    )
    settings_body = _reply(
        dialect,
        # 4.1.0-beta.2 sends its speed limits as floats.
        {"version": "v", "download-dir": "/d", "speed-limit-down": 3.0, "speed-limit-down-enabled": True,
         "speed-limit-up": 4, "speed-limit-up-enabled": False, "units": {"speed-bytes": 1024}},
        {"version": "v", "download_dir": "/d", "speed_limit_down": 3, "speed_limit_down_enabled": True,
         "speed_limit_up": 4, "speed_limit_up_enabled": False, "units": {"speed_bytes": 1024}},
    )  # fmt: skip
    space_body = _reply(dialect, {"path": "/d", "size-bytes": 9}, {"path": "/d", "size_bytes": 9})
    stats, _ = dialect.decode_as(stats_body, dialect.session_stats)
    settings, _ = dialect.decode_as(settings_body, dialect.session_settings)
    space, _ = dialect.decode_as(space_body, dialect.free_space)
    session = to_session(settings, stats, space.size_bytes)
    assert (session.rate_down, session.rate_up, session.downloaded, session.uploaded) == (5, 6, 7, 8)
    assert (session.limit_down, session.limit_up, session.save_path, session.free_space) == (3072, None, "/d", 9)
    assert session.version == "v"


def test_limits_and_labels_as_transmission_stores_them(recording: Recording) -> None:
    unit = session_info(recording).units.speed_bytes
    assert limit_to_wire(None, unit) == (0, False)
    assert limit_to_wire(1, unit) == (1, True)  # at least one unit
    assert limit_to_wire(1500, unit) == (2, True)  # the nearest
    assert limit_from_wire(2, True, unit) == 2000
    assert limit_from_wire(100.0, True, unit) == 100000
    assert limit_from_wire(2, False, unit) is None
    assert label_refusal("films 2024") is None
    assert all(label_refusal(label) for label in ("a,b", "", " ", " lead", "trail\t"))
