"""Deluge 2.x: the daemon's RPC protocol over TLS (rencode + zlib frames)."""

from .client import DelugeAdapter

__all__ = ["DelugeAdapter"]
