"""rTorrent adapter: XML-RPC over SCGI (TCP or unix socket) or HTTP(S)."""

from .client import RtorrentAdapter

__all__ = ["RtorrentAdapter"]
