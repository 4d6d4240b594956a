"""btclient's managing methods on every target: the guide's framing, the Response
fields, exit statuses, and what the client holds afterwards."""

from __future__ import annotations

import json
from pathlib import Path

from aiobtclientapi import APIBase
from aiobtclientapi.domain.source import source_from_metainfo
from aiobtclientapi.testing._targets import Target
from aiobtclientapi.testing._torrents import make_torrent
from tests.cli.test_btclient_torrents import btclient
from tests.contract.test_listing import only
from tests.contract.test_manage import added

#: Once per daemon: what btclient prints doesn't depend on the transport.
ONE_TRANSPORT = True
#: Not version-dependent: the contract suite runs the methods on every version.
IN_CONTAINER_MATRIX = False


def field(output: str, name: str) -> str:
    """The value printed for a Response or Session field."""
    for line in output.splitlines():
        if line.startswith(">>> ") and line[4:].lstrip().startswith(f"{name.upper()}: "):
            return line.split(": ", 1)[1]
    raise AssertionError(f"no {name} in:\n{output}")


async def test_managing_a_torrent(target: Target, tmp_path: Path) -> None:
    torrent = make_torrent(target.download_dir, tmp_path / "torrents", files=2)
    api: APIBase = target.make_api()
    async with api:
        await added(target, api, torrent)
    infohash = torrent.infohash

    result = await btclient(target, "set_label", infohash, "label=tv")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f">>> CALLING set_label('{infohash}', label='tv')" in result.stdout
    assert field(result.stdout, "labeled") == repr([infohash])
    assert field(result.stdout, "success") == "True"

    result = await btclient(target, "set_limits", infohash, "down=none", "up=10240")
    assert result.returncode == 0, result.stdout + result.stderr
    assert field(result.stdout, "limited") == repr([infohash])
    result = await btclient(target, "set_limits", infohash, "down=fast")
    assert result.returncode == 2
    assert "down must be bytes/s or none, not 'fast'" in result.stderr

    async with target.make_api() as checking:
        found = await only(checking, infohash, ["label", "limit_down"])
    assert (found.label, found.limit_down) == ("tv", None)

    # A stopped torrent doesn't announce: an error, exit status 1.
    result = await btclient(target, "reannounce", infohash)
    assert result.returncode == 1
    assert "Torrent is stopped" in field(result.stdout, "errors")

    destination = target.download_dir.parent / f"cli-moved-{infohash[:8]}"
    destination.mkdir()
    result = await btclient(target, "move", infohash, f"location={destination}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert field(result.stdout, "moved") == repr([infohash])

    result = await btclient(target, "get_session")
    assert result.returncode == 0, result.stdout + result.stderr
    assert field(result.stdout, "client") == repr(target.client)
    assert "'stopped': " in field(result.stdout, "torrents")
    result = await btclient(target, "get_session", options=("--json",))
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["torrents"]["stopped"] >= 1

    saved = tmp_path / "exported.torrent"
    result = await btclient(target, "get_torrent_file", infohash, options=("--output", str(saved)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f">>> Saved {saved.stat().st_size} bytes to {saved}" in result.stdout
    assert source_from_metainfo(saved.read_bytes(), str(saved)).infohash == infohash

    result = await btclient(target, "remove", infohash, "delete_data=true")
    assert result.returncode == 0, result.stdout + result.stderr
    assert field(result.stdout, "removed") == repr([infohash])

    api = target.make_api()
    async with api:
        assert infohash not in await api.get_infohashes()
