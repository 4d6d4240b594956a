"""rencode decoding with bounds, for replies from a Deluge daemon.

The rencode C decoder recurses once per nesting level without a limit and
builds whatever the bytes describe: a few hundred compressed bytes of nested
lists overflow the C stack and kill the process, and a short run of
one-byte integers becomes gigabytes of Python objects. :func:`loads` first
walks the bytes the way the C decoder will (the same token boundaries, see
rencode's ``_rencode.pyx``) without building anything, and only hands them
to it when the nesting depth and an upper bound of the decoded objects' size
are within limits.

The walk costs a third to two thirds of what the C decoder itself costs on
a listing (``make bench`` measures both on 10,000 torrents): most of a
listing is scalars and rows of scalars, which the walk skips with a table
lookup each.
"""

from __future__ import annotations

from typing import Any

#: Deeper nesting is refused. Deluge's replies nest five levels at most
#: (message, status dict, torrent dict, list of dicts, dict); the C decoder
#: would crash somewhere past tens of thousands.
MAX_DEPTH = 64

#: The decoded objects of one reply may take at most this much memory, as
#: estimated by :data:`TOKEN_COST` per value plus the reply's length.
MAX_DECODED = 256 * 1024 * 1024

#: An upper bound, in bytes, of what one decoded value costs beyond the bytes
#: of its text: the object (a str of up to 63 bytes, an int, a float, an empty
#: dict) and its slot in the tuple or dict holding it, including the list the
#: C decoder builds before each tuple.
TOKEN_COST = 128

# Type codes (rencode's wire format).
_CHR_LIST, _CHR_DICT, _CHR_INT, _CHR_TERM = 59, 60, 61, 127
_DICT_FIXED, _DICT_FIXED_END = 102, 127  # 102 + pairs (0-24)
_LIST_FIXED = 192  # 192 + items (0-63)
_CONTAINERS = frozenset((_CHR_LIST, _CHR_DICT, *range(_DICT_FIXED, _DICT_FIXED_END), *range(_LIST_FIXED, 256)))
_STR_DIGITS = range(49, 58)  # "<length>:<bytes>" strings; fixed ones are 128-191
_BIG_INT_MIN, _BIG_INT_MAX = 18, 63  # digits the C decoder allows in "=<digits>\x7f"

#: Marks a type code that is not a scalar of known length. Large enough that
#: a position it is added to lies past the end of any reply.
_OTHER = 1 << 40


def _scalar_sizes() -> list[int]:
    sizes = [_OTHER] * 256
    for code in (*range(0, 44), *range(70, 102), 67, 68, 69):  # small ints, True, False, None
        sizes[code] = 1
    sizes[62], sizes[63], sizes[64], sizes[65] = 2, 3, 5, 9  # int8, int16, int32, int64
    sizes[66], sizes[44] = 5, 9  # float32, float64
    for code in range(128, 192):  # strings of 0-63 bytes
        sizes[code] = code - 127
    return sizes


_SIZE = _scalar_sizes()
#: The same with 0 for anything else: what a loop that tests each size wants.
_SCALAR_SIZE = [0 if size == _OTHER else size for size in _SIZE]
#: The values a fixed-size list or dict holds by its type code; 0 for anything else.
_FIXED_COUNT = [0] * _DICT_FIXED + [2 * pairs for pairs in range(_DICT_FIXED_END - _DICT_FIXED)]
_FIXED_COUNT += [0] * (_LIST_FIXED - len(_FIXED_COUNT)) + list(range(256 - _LIST_FIXED))


def _after_scalars(data: bytes | bytearray, pos: int, count: int, size: list[int]) -> int:
    """Where `count` scalars from `pos` end; past any reply's end if they aren't all scalars."""
    try:
        for _ in range(count):
            pos += size[data[pos]]
    except IndexError:
        return _OTHER
    return pos


class RencodeError(ValueError):
    """The bytes are not one rencoded value within the limits."""


def loads(data: bytes | bytearray, *, max_depth: int = MAX_DEPTH, max_decoded: int = MAX_DECODED) -> Any:
    """The value `data` holds (strings decoded as UTF-8); RencodeError if malformed or over a limit."""
    import rencode  # lazy: only Deluge needs it

    check(data, max_depth=max_depth, max_decoded=max_decoded)
    try:
        return rencode.loads(data, decode_utf8=True)
    except Exception as exc:  # ValueError, UnicodeDecodeError, TypeError (an unhashable key), ...
        raise RencodeError(f"{type(exc).__name__}: {exc}") from exc


def check(data: bytes | bytearray, *, max_depth: int = MAX_DEPTH, max_decoded: int = MAX_DECODED) -> None:
    """Raise RencodeError unless `data` is one rencoded value within the limits.

    Malformed bytes are refused as soon as the walk sees them; what only the
    decoder itself checks (UTF-8, integer digits, dict keys, a dict's key
    without a value) is left to it: the token boundaries, and so the
    nesting, are the same for both.
    """
    size, scalar_size, fixed_count, other = _SIZE, _SCALAR_SIZE, _FIXED_COUNT, _OTHER
    end = len(data)
    budget = (max_decoded - end) // TOKEN_COST  # values still allowed
    stack: list[int] = []  # `remaining` of each enclosing container
    remaining = 1  # values still due in the current container; -1: up to a terminator
    entered = False  # the current container was just opened, and holds more than scalars
    pos = 0
    try:
        while True:
            if remaining == 0:
                if not stack:
                    break
                remaining = stack.pop()
                continue
            if budget < 0:
                raise RencodeError(f"the decoded reply would take more than {max_decoded} bytes")
            if remaining > 0:
                # A fixed-size container: most hold scalars only, skipped in one
                # loop (unless that was just tried when it was opened).
                if entered:
                    entered = False
                elif (after := _after_scalars(data, pos, remaining, size)) <= end:
                    pos = after
                    budget -= remaining
                    remaining = 0
                    continue
                while remaining and (step := size[data[pos]]) != other:
                    pos += step
                    remaining -= 1
                    budget -= 1
                if not remaining:
                    continue
                remaining -= 1  # the value at `pos`, handled below
            else:
                # Up to a terminator: skip scalars, and fixed-size containers of
                # scalars (a listing's torrents), until something else.
                inside = 0  # values of the containers skipped
                flat_ok = len(stack) < max_depth
                for skipped in range(budget + 1):  # noqa: B007 (read after the loop)
                    step = scalar_size[data[pos]]
                    if not step:
                        count = fixed_count[data[pos]]
                        if not (count and flat_ok):
                            break
                        after = _after_scalars(data, pos + 1, count, size)
                        if after > end:
                            entered = True  # not flat: entered below, not tried again
                            break
                        inside += count
                        step = after - pos
                    pos += step
                else:
                    raise RencodeError(f"the decoded reply would take more than {max_decoded} bytes")
                budget -= skipped + inside
                if data[pos] == _CHR_TERM:
                    pos += 1
                    remaining = stack.pop()
                    continue
            # A container, a string of 64 bytes or more, or a big integer.
            code = data[pos]
            budget -= 1
            if code in _CONTAINERS:
                if len(stack) >= max_depth:
                    raise RencodeError(f"nested deeper than {max_depth} levels")
                stack.append(remaining)
                remaining = -1 if code in (_CHR_LIST, _CHR_DICT) else fixed_count[code]
                pos += 1
            elif code in _STR_DIGITS:
                # The C decoder reads the length as a C int: ten digits at most.
                colon = data.find(b":", pos + 1, pos + 12)
                if colon < 0:
                    raise RencodeError(f"string length without a colon at byte {pos}")
                try:
                    length = int(data[pos:colon])
                except ValueError:
                    raise RencodeError(f"invalid string length at byte {pos}") from None
                pos = colon + 1 + length
                if pos > end:
                    raise IndexError
            elif code == _CHR_INT:
                term = data.find(b"\x7f", pos + 1 + _BIG_INT_MIN, pos + 2 + _BIG_INT_MAX)
                if term < 0:
                    raise RencodeError(f"invalid big integer at byte {pos}")
                pos = term + 1
            else:
                raise RencodeError(f"invalid type code {code} at byte {pos}")
    except IndexError:
        pos = end + 1
    if pos > end:
        raise RencodeError(f"truncated: the reply ends at byte {end} inside a value")
    if budget < 0:
        raise RencodeError(f"the decoded reply would take more than {max_decoded} bytes")
    if pos < end:
        raise RencodeError(f"{end - pos} bytes after the value")
