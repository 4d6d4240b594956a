"""JSON replies decoded within bounds (qBittorrent, Transmission).

msgspec decodes fast and refuses deep nesting (a RecursionError, turned into
ResponseError here with every other decoding failure), but builds whatever a
reply describes: 64 MiB of ``[{},{},…]`` become 1.4 GB of dicts. Before
decoding, the values a reply can hold are counted from its separators, which
costs a few milliseconds per 10 MB: every value of an array or object but the
first follows a comma, every member's value a colon. A reply whose values
could take more than :data:`MAX_DECODED` is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..domain import errors

T = TypeVar("T")

#: The decoded objects of one reply may take at most this much memory.
MAX_DECODED = 256 * 1024 * 1024
#: An upper bound, in bytes, of what one decoded value costs beyond the bytes
#: of its text: a str, int, float, list or dict object and its slot in the
#: list or dict holding it.
VALUE_COST = 128
#: The same for a reply decoded into Structs that keep a few fields of each
#: object (unknown fields are skipped without building anything): the Struct
#: and its strings, per JSON object or array.
STRUCT_COST = 512


def decoded_size(body: bytes | bytearray, *, typed: bool = False) -> int:
    """An upper bound of the memory decoding `body` takes (commas inside strings only raise it)."""
    containers = body.count(b"{") + body.count(b"[")
    if typed:
        return containers * STRUCT_COST + len(body)
    values = body.count(b",") + body.count(b":") + containers + 1
    return values * VALUE_COST + len(body)


def decode(
    body: bytes | bytearray, decoder: Callable[[bytes | bytearray], T], *, where: object, what: str, typed: bool = False
) -> T:
    """`decoder(body)` if the result fits MAX_DECODED; ResponseError otherwise or if it fails.

    `typed`: `decoder` builds Structs of a few fields, not every value.
    """
    import msgspec

    size = decoded_size(body, typed=typed)
    if size > MAX_DECODED:
        raise errors.ResponseError(f"{where}: {what}: reply would take more than {MAX_DECODED} bytes decoded")
    try:
        return decoder(body)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:  # RecursionError: too deep
        raise errors.ResponseError(f"{where}: {what}: invalid JSON reply: {exc}") from exc
