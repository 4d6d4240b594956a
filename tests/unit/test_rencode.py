"""The bounded rencode decoder: same values as rencode's, limits before the C decoder runs."""

from __future__ import annotations

import zlib
from typing import Any

import pytest
import rencode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aiobtclientapi
from aiobtclientapi.adapters.deluge import _rencode
from aiobtclientapi.adapters.deluge._transport import HEADER, FrameDecoder

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Values covering every type code rencode writes: small and big ints (beyond
#: 64 bits rencode writes digits), short and long strings (64 bytes and more
#: have a length prefix), float32/64, and lists and dicts below and above the
#: sizes that get a fixed-size type code.
values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.text(max_size=80),
        st.floats(allow_nan=False),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=70),
        st.dictionaries(st.one_of(st.text(max_size=8), st.integers(-5, 300)), children, max_size=30),
    ),
    max_leaves=80,
)


def reference(data: bytes) -> Any:
    """What rencode's own decoder makes of `data`."""
    return rencode.loads(data, decode_utf8=True)


@SETTINGS
@given(value=values, float_bits=st.sampled_from([32, 64]))
def test_valid_values_decode_as_rencode_decodes_them(value: Any, float_bits: int) -> None:
    data = rencode.dumps(value, float_bits)
    assert _rencode.loads(data) == reference(data)


@SETTINGS
@given(value=values, data=st.data())
def test_every_proper_prefix_is_truncated(value: Any, data: st.DataObject) -> None:
    encoded = rencode.dumps(value)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(_rencode.RencodeError):
        _rencode.check(encoded[:cut])


@SETTINGS
@given(value=values, extra=st.binary(min_size=1, max_size=5))
def test_bytes_after_the_value_are_refused(value: Any, extra: bytes) -> None:
    with pytest.raises(_rencode.RencodeError, match="after the value"):
        _rencode.check(rencode.dumps(value) + extra)


@SETTINGS
@given(value=values, edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=4))
def test_damaged_values_decode_as_rencode_or_are_refused(value: Any, edits: list[tuple[int, int]]) -> None:
    # Whatever the walk accepts, rencode's decoder decodes the same way (or
    # fails cleanly): the two agree on where every value starts and ends.
    damaged = bytearray(rencode.dumps(value))
    for offset, byte in edits:
        damaged[offset % len(damaged)] = byte
    data = bytes(damaged)
    try:
        _rencode.check(data)
    except _rencode.RencodeError:
        return
    try:
        expected = reference(data)
    except Exception:
        with pytest.raises(_rencode.RencodeError):
            _rencode.loads(data)
    else:
        assert repr(_rencode.loads(data)) == repr(expected)  # repr: NaN != NaN


@SETTINGS
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_end_in_a_value_or_our_error(data: bytes) -> None:
    try:
        value = _rencode.loads(data)
    except _rencode.RencodeError:
        return
    assert repr(value) == repr(reference(data))  # repr: NaN != NaN


# Nested containers of each kind, `depth` levels, with siblings before the
# nested one so the walk has to skip values on every level.
_LONG = rencode.dumps("x" * 100)  # a string with a length prefix
NESTINGS = {
    "fixed list": lambda depth: b"\xc2\x01" * depth + b"\x00",
    "list": lambda depth: (b";" + _LONG) * depth + b"\x7f" * depth,
    "fixed dict": lambda depth: b"g\x85name1" * depth + b"\x00",
    "dict": lambda depth: (b"<\x01\x02\x83key") * depth + b"\x00" + b"\x7f" * depth,
}


@pytest.mark.parametrize("kind", NESTINGS)
def test_nesting_up_to_the_limit_decodes(kind: str) -> None:
    data = NESTINGS[kind](_rencode.MAX_DEPTH)
    assert _rencode.loads(data) == reference(data)


@pytest.mark.parametrize("kind", NESTINGS)
@pytest.mark.parametrize("depth", [_rencode.MAX_DEPTH + 1, 200_000])
def test_deeper_nesting_never_reaches_the_c_decoder(kind: str, depth: int) -> None:
    # 200,000 levels overflow the C decoder's stack: the process would die.
    with pytest.raises(_rencode.RencodeError, match=f"nested deeper than {_rencode.MAX_DEPTH} levels"):
        _rencode.loads(NESTINGS[kind](depth))


def test_decoded_size_is_bounded() -> None:
    ints = 100_000
    data = b";" + b"\x01" * ints + b"\x7f"
    needed = (ints + 1) * _rencode.TOKEN_COST + len(data)
    assert _rencode.loads(data, max_decoded=needed) == (1,) * ints
    for refused in (
        data,  # one run of scalars
        b";" + b"\xc1\x01" * ints + b"\x7f",  # fixed-size lists
        b"\xc2" * ints + b"\x00" * (ints + 1),  # nested fixed-size lists
    ):
        with pytest.raises(_rencode.RencodeError, match="would take more than"):
            _rencode.check(refused, max_decoded=needed - _rencode.TOKEN_COST, max_depth=ints * 2)


def test_the_size_estimate_is_an_upper_bound() -> None:
    # The values costing the most memory per byte: empty and small dicts,
    # 1-character strings, small ints, floats; each in a list of 20,000.
    import tracemalloc

    count = 20_000
    for element, values_each in ((b"f", 1), (b"g\x01\x02", 3), (b"\x81a", 1), (b"\x01", 1), (rencode.dumps(1.5), 1)):
        data = b";" + element * count + b"\x7f"
        estimate = (1 + values_each * count) * _rencode.TOKEN_COST + len(data)
        _rencode.check(data, max_decoded=estimate)
        with pytest.raises(_rencode.RencodeError):
            _rencode.check(data, max_decoded=estimate - _rencode.TOKEN_COST)
        tracemalloc.start()
        try:
            value = _rencode.loads(data)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert value == reference(data)
        assert peak <= estimate, (element, peak, estimate)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x7f", "invalid type code 127"),
        (b"-", "invalid type code 45"),
        (b"\xc1\x7f", "invalid type code 127"),
        (b"9x:abc", "invalid string length"),
        (b"123456789012:" + b"x" * 20, "without a colon"),
        (b"=" + b"1" * 17 + b"\x7f", "invalid big integer"),
        (b";\x01", "truncated"),
        (b"\x85abc", "truncated"),
    ],
)
def test_malformed_bytes_are_refused_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(_rencode.RencodeError, match=message):
        _rencode.loads(data)


def test_frames_nested_without_limit_are_connection_errors() -> None:
    body = zlib.compress(b"\xc1" * 1_000_000 + b"\x00", 9)  # 1 KB on the wire
    with pytest.raises(aiobtclientapi.ConnectionError, match="undecodable reply: rencode: nested deeper"):
        FrameDecoder("deluge://test").feed(HEADER.pack(1, len(body)) + body)
