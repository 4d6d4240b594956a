"""JSON replies: refused before decoding when their values could take too much memory."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

import aiobtclientapi
from aiobtclientapi.adapters import _json
from aiobtclientapi.adapters.qbittorrent._wire import decode_rows as qbittorrent_rows
from aiobtclientapi.adapters.transmission._wire import JSONRPC, LEGACY

COUNT = 20_000

#: The replies costing the most memory per byte, decoded the ways the adapters decode.
DENSE: list[tuple[str, bytes, Callable[[bytes | bytearray], Any], bool]] = [
    ("empty objects", b"[" + b"{}," * COUNT + b"{}]", msgspec.json.decode, False),
    ("empty arrays", b"[" + b"[]," * COUNT + b"[]]", msgspec.json.decode, False),
    ("floats", b"[" + b"1.5," * COUNT + b"1.5]", msgspec.json.decode, False),
    ("big ints", b"[" + b"1000000000000," * COUNT + b"1]", msgspec.json.decode, False),
    ("short strings", b"[" + b'"ab",' * COUNT + b'"ab"]', msgspec.json.decode, False),
    ("members", b"{" + b",".join(b'"k%d":1' % i for i in range(COUNT)) + b"}", msgspec.json.decode, False),
    (
        "transmission rows",
        b'{"result":"success","arguments":{"torrents":[' + b'{"hashString":"ab"},' * COUNT + b"{}]}}",
        LEGACY.decode,
        False,
    ),
    (
        "qbittorrent rows",
        b"[" + b'{"hash":"ab","name":"cd","state":"x"},' * COUNT + b'{"hash":""}]',
        qbittorrent_rows,
        True,
    ),
]


@pytest.mark.parametrize(("body", "decoder", "typed"), [case[1:] for case in DENSE], ids=[case[0] for case in DENSE])
def test_the_estimate_is_an_upper_bound(body: bytes, decoder: Callable[[bytes | bytearray], Any], typed: bool) -> None:
    estimate = _json.decoded_size(body, typed=typed)
    tracemalloc.start()
    try:
        value = _json.decode(body, decoder, where="peer", what="test", typed=typed)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert value is not None
    assert peak <= estimate, (peak, estimate)


@pytest.mark.parametrize("typed", [False, True])
def test_a_reply_over_the_limit_is_refused_before_decoding(typed: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_json, "MAX_DECODED", 1024 * 1024)
    body = b"[" + b"{}," * 100_000 + b"{}]"

    def never(body: bytes | bytearray) -> Any:
        raise AssertionError("decoded")

    with pytest.raises(aiobtclientapi.ResponseError, match="would take more than 1048576 bytes"):
        _json.decode(body, never, where="peer", what="test", typed=typed)


def test_a_64_mib_reply_of_empty_objects_is_refused_at_the_default_limit() -> None:
    body = b"[" + b"{}," * (64 * 1024 * 1024 // 3 - 1) + b"{}]"
    with pytest.raises(aiobtclientapi.ResponseError, match="would take more than"):
        _json.decode(body, msgspec.json.decode, where="peer", what="test")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "invalid JSON reply"),
        (b"{", "invalid JSON reply"),
        (b"[1]", "invalid JSON reply"),
    ],
)
def test_decoding_failures_are_response_errors(body: bytes, message: str) -> None:
    with pytest.raises(aiobtclientapi.ResponseError, match=message):
        _json.decode(body, JSONRPC.decode, where="peer", what="test")
