"""Add .torrent files to a BitTorrent client, then start them; report each file.

Each torrent is added stopped and only then started, so that nothing is
downloaded until every file has been read: a file the client refuses is
reported and the others go on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from aiobtclientapi import APIBase


@dataclass(frozen=True)
class Upload:
    """What became of one .torrent file."""

    torrent_file: Path
    #: The torrent's infohash, once the client has it.
    infohash: str | None = None
    started: bool = False
    #: Why the torrent was not added or not started.
    problem: str | None = None


async def upload(api: APIBase, torrent_files: Iterable[Path], *, location: str | None = None) -> list[Upload]:
    """Add each file stopped (into `location`, or the client's download folder), then start them all."""
    uploads = []
    for torrent_file in torrent_files:
        added = await api.add(str(torrent_file), location=location, stopped=True)
        infohashes = added.added + added.already_added
        if infohashes:
            uploads.append(Upload(torrent_file, infohash=infohashes[0]))
        else:
            uploads.append(Upload(torrent_file, problem="; ".join(map(str, added.errors)) or "not added"))
    to_start = [u.infohash for u in uploads if u.infohash is not None]
    if not to_start:
        return uploads
    # One call for every torrent: a few requests to the client however many there are.
    response = await api.start(*to_start)
    started = set(response.started) | set(response.already_started)
    why_not = "; ".join(map(str, response.errors)) or "not started"
    reported = []
    for u in uploads:
        if u.infohash is not None:
            ok = u.infohash in started
            u = replace(u, started=ok, problem=None if ok else why_not)
        reported.append(u)
    return reported
