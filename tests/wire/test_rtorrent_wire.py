"""Recorded rTorrent XML-RPC replies through the adapter's parser, rows and mapping."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

import aiobtclientapi
from aiobtclientapi.adapters.rtorrent._transport import parse_reply
from aiobtclientapi.adapters.rtorrent._wire import FIELDS, to_row, to_status
from tests.wire._recordings import Recording, check_statuses, recording_params

pytestmark = pytest.mark.parametrize("recording", recording_params("rtorrent"))


def parsed(recording: Recording, method: str) -> Any:
    return parse_reply(recording.replies[method].encode(), "recording")


def test_client_version(recording: Recording) -> None:
    version = parsed(recording, "system.client_version")
    assert version == recording.version
    assert recording.target.startswith(f"rtorrent-{version}-")


def test_d_multicall2(recording: Recording) -> None:
    rows = [to_row(values) for values in parsed(recording, "d.multicall2")]
    check_statuses({status.infohash: status for status in map(to_status, rows)}, recording)


def test_system_multicall_of_getters(recording: Recording) -> None:
    # One result per getter: [value], or a fault struct (all of them for the unknown infohash).
    results = parsed(recording, "system.multicall")
    assert len(results) == len(FIELDS) * (len(recording.torrents) + 1)
    statuses = {}
    for start in range(0, len(results), len(FIELDS)):
        group = results[start : start + len(FIELDS)]
        if all(isinstance(result, dict) and "faultString" in result for result in group):
            continue
        assert all(isinstance(result, list) and len(result) == 1 for result in group), group
        status = to_status(to_row([value for [value] in group]))
        statuses[status.infohash] = status
    check_statuses(statuses, recording)


def test_truncated_reply_is_a_response_error(recording: Recording) -> None:
    body = recording.replies["d.multicall2"].encode()
    with pytest.raises(aiobtclientapi.ResponseError, match="invalid XML-RPC reply"):
        parse_reply(body[: len(body) // 2], "recording")


def test_reply_with_a_dtd_is_a_response_error(recording: Recording) -> None:
    declaration, _, rest = recording.replies["system.client_version"].partition("\n")
    body = f'{declaration}\n<!DOCTYPE methodResponse [<!ENTITY v "0">]>\n{rest}'.encode()
    with pytest.raises(aiobtclientapi.ResponseError, match="refused"):
        parse_reply(body, "recording")


def test_mistyped_row_is_a_validation_error(recording: Recording) -> None:
    # to_row promises msgspec.ValidationError; the adapter turns it into ResponseError.
    row = list(parsed(recording, "d.multicall2")[0])
    row[FIELDS.index("d.state")] = "started"
    with pytest.raises(msgspec.ValidationError):
        to_row(row)
