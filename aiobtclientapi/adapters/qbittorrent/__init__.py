"""qBittorrent Web API v2 adapter."""

from .client import QbittorrentAdapter

__all__ = ["QbittorrentAdapter"]
