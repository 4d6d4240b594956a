"""The recordings' format (written by record.py, read by the tests) and the expectation check.

One JSON file per target in ``recordings/``, named by target id. ``replies``
holds each reply as the daemon sent it: text for HTTP and SCGI bodies,
base64 for Deluge's binary frames (whose decoded value is in ``decoded``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
import pytest

from aiobtclientapi.domain.torrent import TorrentState, TorrentStatus

RECORDINGS = Path(__file__).parent / "recordings"


class Expected(msgspec.Struct, frozen=True, kw_only=True):
    """One torrent and the state the recording script put it in."""

    #: What the script did with it, e.g. "stopped", "magnet".
    role: str
    infohash: str
    #: None where the client picks the name (a magnet without metadata).
    name: str | None
    state: str
    #: While verifying, a client may not know what follows: None is accepted then.
    stopped: bool
    #: Inclusive bounds of the downloaded fraction.
    progress: tuple[float, float]


class Recording(msgspec.Struct, frozen=True, kw_only=True):
    target: str
    client: str
    #: As the daemon reports it (e.g. session-get's "3.00 (bb6b5a062e)").
    version: str
    torrents: list[Expected]
    #: Asked for along with the others; the daemon doesn't know it.
    unknown_infohash: str
    replies: dict[str, str]
    decoded: dict[str, Any] = {}


def load(path: Path) -> Recording:
    return msgspec.json.decode(path.read_bytes(), type=Recording)


def recording_params(client: str) -> list[Any]:
    """Every recording of `client` as a pytest parameter with the target id as its id."""
    paths = sorted(RECORDINGS.glob(f"{client}-*.json"))
    assert paths, f"no {client} recordings in {RECORDINGS}"
    return [pytest.param(load(path), id=path.stem) for path in paths]


def check_statuses(statuses: Mapping[str, TorrentStatus], recording: Recording) -> None:
    """The mapped statuses, keyed by infohash, say what the recording expects."""
    assert recording.unknown_infohash not in statuses
    assert set(statuses) == {torrent.infohash for torrent in recording.torrents}
    for expected in recording.torrents:
        status = statuses[expected.infohash]
        what = f"{expected.role} torrent: {status}"
        assert status.infohash == expected.infohash == expected.infohash.lower(), what
        assert status.state is TorrentState(expected.state), what
        if status.state is TorrentState.verifying:
            assert status.stopped in (None, expected.stopped), what
            assert status.verify_progress is not None, what
            assert 0.0 <= status.verify_progress <= 1.0, what
        else:
            assert status.stopped is expected.stopped, what
            assert status.verify_progress is None, what
        low, high = expected.progress
        assert low <= status.progress <= high, what
        if expected.name is not None:
            assert status.name == expected.name, what
        assert status.error is None, what
