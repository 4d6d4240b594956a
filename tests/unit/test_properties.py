"""Property-based tests: arbitrary input ends in our errors, valid input round-trips.

For the parsers that take what a caller or a peer sends: client URLs,
infohashes and magnets, .torrent files, Deluge frames and XML-RPC replies.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import string
import urllib.parse
import zlib
from typing import Any

import bencode2
import pytest
import rencode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aiobtclientapi
from aiobtclientapi._registry import client_names, parse_url
from aiobtclientapi.adapters.deluge._transport import FrameDecoder, encode_frame
from aiobtclientapi.adapters.rtorrent._transport import parse_reply
from aiobtclientapi.domain.infohash import normalize_infohash
from aiobtclientapi.domain.source import source_from_magnet, source_from_metainfo
from aiobtclientapi.domain.url import ClientURL

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Text that looks like URLs and their parts, and anything else.
url_text = st.one_of(
    st.text(max_size=60),
    st.builds(
        "{}{}{}{}{}".format,
        st.sampled_from(["", "http://", "https://", "scgi://", "file://", "ftp://", "deluge://"]),
        st.sampled_from(["", "user:pw@", "user@", ":pw@", "u:p/w@", "u:p@w@", "u:%41@"]),
        st.sampled_from(["localhost", "127.0.0.1", "[::1]", "[::1", "", "host name", "h"]),
        st.sampled_from(["", ":1", ":65535", ":0", ":99999", ":x", ":"]),
        st.sampled_from(["", "/", "/rpc", "/a?b", "/#x", "?q"]),
    ),
)


def _unparse(url: ClientURL) -> str:
    """`url` written out in full, in its client's format."""
    if url.is_socket:
        return f"file://{url.path}"
    credentials = ""
    if url.username is not None or url.password is not None:
        credentials = urllib.parse.quote(url.username or "", safe="")
        if url.password is not None:
            credentials += ":" + urllib.parse.quote(url.password, safe="")
        credentials += "@"
    host = f"[{url.host}]" if ":" in url.host else url.host
    scheme = "" if url.client == "deluge" else f"{url.scheme}://"  # Deluge's format has no scheme
    return f"{scheme}{credentials}{host}:{url.port}{url.path}"


@SETTINGS
@given(client=st.sampled_from(client_names()), url=url_text)
def test_parse_url_raises_only_our_value_error(client: str, url: str) -> None:
    try:
        parsed = parse_url(client, url)
    except aiobtclientapi.ValueError:
        return
    # Valid: it parses back to itself from its parts, and its text never holds the password.
    assert parse_url(client, _unparse(parsed)) == parsed
    if parsed.password:
        assert parsed.password not in str(parsed).replace(parsed.host, "")


@SETTINGS
@given(value=st.text(max_size=80))
def test_normalize_infohash_raises_only_our_value_error(value: str) -> None:
    try:
        normalized = normalize_infohash(value)
    except aiobtclientapi.ValueError:
        return
    assert normalized == normalize_infohash(normalized)
    assert len(normalized) in (40, 64) and set(normalized) <= set(string.hexdigits.lower())


@SETTINGS
@given(digest=st.binary(min_size=20, max_size=20), upper=st.booleans())
def test_infohash_spellings_round_trip(digest: bytes, upper: bool) -> None:
    hex_form = digest.hex().upper() if upper else digest.hex()
    assert normalize_infohash(hex_form) == digest.hex()
    assert normalize_infohash(base64.b32encode(digest).decode()) == digest.hex()


@SETTINGS
@given(uri=st.one_of(st.text(max_size=100).map(lambda s: "magnet:?" + s), st.text(max_size=60)))
def test_magnets_raise_only_our_errors(uri: str) -> None:
    try:
        source = source_from_magnet(uri)
    except aiobtclientapi.Error:
        return
    assert source.infohash == normalize_infohash(source.infohash)


bencoded = st.recursive(
    st.one_of(st.integers(), st.binary(max_size=20)),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.binary(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@SETTINGS
@given(data=st.one_of(st.binary(max_size=200), bencoded.map(bencode2.bencode)))
def test_torrent_files_raise_only_our_errors(data: bytes) -> None:
    try:
        source_from_metainfo(data, "x.torrent")
    except aiobtclientapi.InvalidTorrentError as exc:
        assert "x.torrent" in str(exc)


@SETTINGS
@given(
    name=st.binary(min_size=1, max_size=30),
    files=st.lists(
        st.tuples(st.lists(st.binary(min_size=1, max_size=10), min_size=1, max_size=3), st.integers(0, 2**40)),
        max_size=4,
    ),
)
def test_valid_torrents_round_trip(name: bytes, files: list[tuple[list[bytes], int]]) -> None:
    info: dict[bytes, object] = {b"name": name, b"piece length": 16384, b"pieces": b"\x01" * 20}
    if files:
        info[b"files"] = [{b"length": length, b"path": path} for path, length in files]
    else:
        info[b"length"] = 5
    source = source_from_metainfo(bencode2.bencode({b"info": info}), "x.torrent")
    assert source.infohash == hashlib.sha1(bencode2.bencode(info)).hexdigest()
    assert len(source.files) == max(len(files), 1)


deluge_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**63 - 1),
        st.text(max_size=20),
        st.floats(width=32, allow_nan=False),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@SETTINGS
@given(message=deluge_values, cut=st.integers(1, 7))
def test_deluge_frames_round_trip_in_any_cuts(message: object, cut: int) -> None:
    frame = encode_frame(message)
    decoder = FrameDecoder("deluge://test")
    decoded = []
    for start in range(0, len(frame), cut):
        decoded.extend(decoder.feed(frame[start : start + cut]))
    assert decoded == [rencode.loads(rencode.dumps(message), decode_utf8=True)]


@SETTINGS
@given(data=st.binary(max_size=300), compressed=st.booleans())
def test_deluge_garbage_raises_only_our_errors(data: bytes, compressed: bool) -> None:
    body = zlib.compress(data) if compressed else data
    frame = b"\x01" + len(body).to_bytes(4, "big") + body
    with contextlib.suppress(aiobtclientapi.Error):
        FrameDecoder("deluge://test").feed(frame)


xml_text = st.one_of(
    st.binary(max_size=300),
    st.builds(
        (
            "<?xml version='1.0'?><methodResponse><params><param><value>{}</value></param></params></methodResponse>"
        ).format,
        st.sampled_from(["<i4>1</i4>", "<string>x</string>", "<array><data>", "<i8>x</i8>", "<struct>", ""]),
    ).map(str.encode),
)


@SETTINGS
@given(data=xml_text)
def test_xmlrpc_replies_raise_only_our_errors(data: bytes) -> None:
    try:
        parse_reply(data, "scgi://test")
    except aiobtclientapi.ResponseError as exc:
        assert "scgi://test" in str(exc)


@pytest.mark.parametrize("value", [1, "x", [1, ["a", {"k": 2.5}]], {"n": None, "b": True}])
def test_xmlrpc_values_round_trip(value: Any) -> None:
    import xmlrpc.client

    reply = xmlrpc.client.dumps((value,), methodresponse=True, allow_none=True).encode()
    assert parse_reply(reply, "scgi://test") == value
