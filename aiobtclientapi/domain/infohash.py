"""Infohashes: validation and normalization to lower-case hex."""

from __future__ import annotations

import base64
import binascii
import re

from . import errors

_HEX40 = re.compile(r"[0-9a-fA-F]{40}")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_BASE32 = re.compile(r"[A-Za-z2-7]{32}")


def normalize_infohash(value: str) -> str:
    """Return `value` as lower-case hex.

    Accepts a v1 infohash (40 hex digits or 32 base32 characters) and a v2
    infohash (64 hex digits). Raises :class:`~errors.ValueError` otherwise.
    """
    if not isinstance(value, str):
        raise errors.ValueError(f"Invalid infohash: {value!r}")
    text = value.strip()
    if _HEX40.fullmatch(text) or _HEX64.fullmatch(text):
        return text.lower()
    if _BASE32.fullmatch(text):
        try:
            return base64.b32decode(text.upper()).hex()
        except binascii.Error:
            pass
    raise errors.ValueError(f"Invalid infohash: {value!r}")


def is_infohash(value: str) -> bool:
    """Whether `value` is an infohash in any accepted spelling."""
    try:
        normalize_infohash(value)
    except errors.ValueError:
        return False
    return True
