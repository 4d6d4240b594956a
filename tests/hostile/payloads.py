"""What hostile peers send: bodies in each wire format, built once per session.

Sizes are chosen against the library's own limits: the amplification bodies
are half the 64 MiB cap on a reply (so no size check refuses them), the
bombs inflate to several times the cap, the nesting is far deeper than any
recursive decoder's stack holds.
"""

from __future__ import annotations

import functools
import random
import zlib

#: Nesting depth of the deep-nesting cases.
DEPTH = 200_000
#: Decompressed (or, for SCGI, raw) size of the amplification bodies.
AMPLIFIED_SIZE = 32 * 1024 * 1024
#: What the compression bombs inflate to.
BOMB_SIZE = 320 * 1024 * 1024


def garbage(size: int = 4096, seed: int = 1) -> bytes:
    """Random bytes without a line break (so no header block ever ends)."""
    return random.Random(seed).randbytes(size).replace(b"\n", b"x").replace(b"\r", b"y")


@functools.cache
def deflated(data_size: int, wbits: int, filler: bytes = b"\0") -> bytes:
    """A zlib (wbits 15) or gzip (wbits 31) stream of `data_size` bytes of `filler`."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, wbits)
    chunk = filler * (1024 * 1024 // len(filler))
    parts = [deflater.compress(chunk) for _ in range(data_size // len(chunk) + 1)]
    return b"".join(parts) + deflater.flush()


def compressed(data: bytes, wbits: int) -> bytes:
    deflater = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return deflater.compress(data) + deflater.flush()


def repeated(prefix: bytes, item: bytes, suffix: bytes, size: int = AMPLIFIED_SIZE) -> bytes:
    """`prefix`, as many `item`s as fit in `size`, `suffix`."""
    return prefix + item * ((size - len(prefix) - len(suffix)) // len(item)) + suffix


# --- JSON -----------------------------------------------------------------------------------------
def json_nested(depth: int = DEPTH) -> bytes:
    return b"[" * depth + b"]" * depth


# --- XML-RPC --------------------------------------------------------------------------------------
XML_HEAD = b"<?xml version='1.0'?><methodResponse><params><param>"
XML_TAIL = b"</param></params></methodResponse>"


def xml_reply(value: bytes) -> bytes:
    """A methodResponse holding `value` (a <value> element)."""
    return XML_HEAD + value + XML_TAIL


def xml_string(text: str) -> bytes:
    return xml_reply(b"<value><string>" + text.encode() + b"</string></value>")


@functools.cache
def xml_nested(depth: int = DEPTH) -> bytes:
    """Arrays in arrays, `depth` deep (43 bytes a level)."""
    return xml_reply(
        b"<value>" + b"<array><data><value>" * depth + b"<i4>1</i4>" + b"</value></data></array>" * depth + b"</value>"
    )


@functools.cache
def xml_amplified(size: int = AMPLIFIED_SIZE) -> bytes:
    """One array of empty structs: each 24 bytes of XML becomes a dict and its slot (~90 bytes)."""
    return repeated(
        XML_HEAD + b"<value><array><data>", b"<value><struct/></value>", b"</data></array></value>" + XML_TAIL, size
    )


def xml_list_of_hashes(count: int = 64) -> bytes:
    """A valid-looking download_list reply, for the peers that never finish sending it."""
    items = b"".join(b"<value><string>%040X</string></value>" % i for i in range(count))
    return xml_reply(b"<value><array><data>" + items + b"</data></array></value>")
