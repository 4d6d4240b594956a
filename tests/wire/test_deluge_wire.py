"""Recorded Deluge reply frames through the adapter's frame decoder, decode_rows and mapping."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

import aiobtclientapi
from aiobtclientapi.adapters.deluge._transport import HEADER, RPC_RESPONSE, FrameDecoder
from aiobtclientapi.adapters.deluge._wire import (
    decode_listing_row,
    decode_rows,
    listing_rows,
    removal_failures,
    to_session,
    to_status,
    to_torrent,
)
from tests.wire._recordings import Recording, check_statuses, recording_params

pytestmark = pytest.mark.parametrize("recording", recording_params("deluge"))

METHODS = (
    "daemon.info",
    "core.get_torrents_status",
    "core.get_session_status",
    "core.get_config_values",  # with max_download_speed set to 100 KiB/s
    "core.get_free_space",
    "core.remove_torrents",  # of the unknown infohash and a torrent it had
)


def frame(recording: Recording, method: str) -> bytes:
    return base64.b64decode(recording.replies[method])


def reply_value(recording: Recording, method: str) -> Any:
    """The value of the recorded reply to `method`, as the transport decodes it."""
    [message] = FrameDecoder("recording").feed(frame(recording, method))
    kind, _, value = message
    assert kind == RPC_RESPONSE
    return value


def test_frames_decode_to_the_recorded_values(recording: Recording) -> None:
    for method in METHODS:
        # JSON has no tuples: compare as JSON.
        assert json.loads(json.dumps(reply_value(recording, method))) == recording.decoded[method], method


def test_frame_split_across_reads(recording: Recording) -> None:
    data = frame(recording, "core.get_torrents_status")
    decoder = FrameDecoder("recording")
    assert decoder.feed(data[:3]) == []
    assert decoder.feed(data[3:-1]) == []
    [(_, _, value)] = decoder.feed(data[-1:])
    assert json.loads(json.dumps(value)) == recording.decoded["core.get_torrents_status"]


def test_daemon_info(recording: Recording) -> None:
    version = reply_value(recording, "daemon.info")
    assert version == recording.version
    # Target ids leave out a local version label: "2.2.1.dev0+20260307" is deluge-2.2.1.dev0.
    assert recording.target.startswith(f"deluge-{version.split('+')[0]}")


def test_get_torrents_status(recording: Recording) -> None:
    rows = decode_rows(reply_value(recording, "core.get_torrents_status"), "recording")
    check_statuses({status.infohash: status for status in map(to_status, rows)}, recording)


def test_get_torrents_status_as_recorded_in_json(recording: Recording) -> None:
    rows = decode_rows(recording.decoded["core.get_torrents_status"], "recording")
    check_statuses({status.infohash: status for status in map(to_status, rows)}, recording)


def test_truncated_frame_is_a_connection_error(recording: Recording) -> None:
    data = frame(recording, "core.get_torrents_status")
    body = data[HEADER.size : -8]
    with pytest.raises(aiobtclientapi.ConnectionError, match="truncated zlib stream"):
        FrameDecoder("recording").feed(HEADER.pack(1, len(body)) + body)


def test_mistyped_rows_are_a_response_error(recording: Recording) -> None:
    reply = dict(recording.decoded["core.get_torrents_status"])
    with pytest.raises(aiobtclientapi.ResponseError):
        decode_rows(list(reply.values()), "recording")
    first = next(iter(reply))
    reply[first] = {**reply[first], "progress": "100%"}
    with pytest.raises(aiobtclientapi.ResponseError):
        decode_rows(reply, "recording")


def test_listing_agrees_with_snapshot(recording: Recording) -> None:
    # One state table for both: a listing and a snapshot of the same row agree.
    rows = listing_rows(reply_value(recording, "core.get_torrents_status"), "recording")
    assert rows
    for infohash, row in rows.items():
        if not row:
            continue
        [status] = map(to_status, decode_rows({infohash: row}, "recording"))
        attributes = {"name", "state", "error", "size_total"}
        if row["state"] not in ("Checking", "Moving", "Error"):  # else progress needs total_done/total_wanted
            attributes.add("progress")
        torrent = to_torrent(infohash, decode_listing_row(row, "recording"), attributes)
        assert (torrent.infohash, torrent.name, torrent.state, torrent.error) == (
            status.infohash,
            status.name,
            status.state,
            status.error,
        )
        if "progress" in attributes:
            assert torrent.progress == status.progress


def test_session(recording: Recording) -> None:
    config = reply_value(recording, "core.get_config_values")
    session = to_session(
        reply_value(recording, "daemon.info"),
        reply_value(recording, "core.get_session_status"),
        config,
        reply_value(recording, "core.get_free_space"),
        "recording",
    )
    assert (session.client, session.version) == ("deluge", recording.version)
    assert (session.limit_down, session.limit_up) == (100 * 1024, None)
    assert session.save_path == config["download_location"]
    assert isinstance(session.free_space, int) and session.free_space > 0
    for value in (session.rate_down, session.rate_up, session.downloaded, session.uploaded):
        assert isinstance(value, int) and value >= 0
    with pytest.raises(aiobtclientapi.ResponseError):
        to_session(recording.version, {}, config, 0, "recording")


def test_remove_torrents(recording: Recording) -> None:
    failures = removal_failures(reply_value(recording, "core.remove_torrents"), "recording")
    assert list(failures) == [recording.unknown_infohash]
    assert "not in session" in failures[recording.unknown_infohash]
    assert removal_failures((), "recording") == {}
    with pytest.raises(aiobtclientapi.ResponseError):
        removal_failures({"id": "message"}, "recording")
