"""btclient transfer: torrents moved from a native qBittorrent daemon to a native
Transmission daemon, the output in and out of a terminal, the usage errors.

What transfer() does between every pair of clients is the library's tests' business;
these check that btclient drives it, prints it and exits as the other commands do.
This direction is the quick one: Transmission checks what it is given by itself,
while qBittorrent as the target takes seconds to confirm the check asked of it.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import subprocess
from pathlib import Path

import pytest

from aiobtclientapi.cli.completion import candidates
from aiobtclientapi.cli.main import _parser, _transfer_call, amain
from aiobtclientapi.testing import _qbittorrent as qbittorrent
from aiobtclientapi.testing import _transmission as transmission
from aiobtclientapi.testing._pool import TargetPool
from aiobtclientapi.testing._targets import Target
from aiobtclientapi.testing._torrents import make_torrent
from tests.cli import test_btclient_config
from tests.cli.test_btclient import BTCLIENT, btclient
from tests.cli.test_btclient_manage import field
from tests.cli.test_btclient_torrents import btclient_process, in_terminal
from tests.contract.conftest import settle

#: Native daemons only, asked for by id (no `containers` mark): what btclient prints doesn't
#: depend on the clients' versions, and the library's tests move torrents on every version.
IN_CONTAINER_MATRIX = False

BAR = "━"  # rich's bar
NOWHERE = ["transmission", "localhost:1", "qbittorrent", "localhost:2"]  # never reached: usage errors come first


@pytest.fixture(scope="module")
def source(target_pool: TargetPool) -> Target:
    return target_pool.get(qbittorrent.target_ids()[0])


@pytest.fixture(scope="module")
def destination(target_pool: TargetPool) -> Target:
    return target_pool.get(transmission.target_ids()[0])


def _argv(source: Target, destination: Target, *args: str, options: tuple[str, ...] = ()) -> list[str]:
    return [
        *options,
        *source.cli_options,
        *destination.cli_options,
        "transfer",
        source.client,
        source.url,
        destination.client,
        destination.url,
        *args,
    ]


def _signature(source: Target, destination: Target, *args: str) -> str:
    """The call btclient shows: the API objects' reprs (URLs masked), then the arguments."""
    return f"transfer({source.make_api()!r}, {destination.make_api()!r}, {', '.join(args)})"


async def _in_terminal(*argv: str) -> tuple[int, str]:
    """btclient's exit status and what it wrote to a pseudo-terminal."""
    return await in_terminal(lambda terminal: btclient_process(argv, terminal))


async def _forget(target: Target, *infohashes: str) -> None:
    """Remove torrents from a daemon the session shares, their data left to tmp_path."""
    async with target.make_api() as api:
        if infohashes:
            await api.remove(*infohashes)


async def test_transfer_with_remove_source(source: Target, destination: Target, tmp_path: Path) -> None:
    data = tmp_path / "data"
    stopped = make_torrent(data, tmp_path / "torrents")
    started = make_torrent(data, tmp_path / "torrents", files=3)
    hashes = [stopped.infohash, started.infohash]
    async with source.make_api() as api:
        assert (await api.add(str(stopped.torrent_path), location=str(data), stopped=True)).success
        assert (await api.add(str(started.torrent_path), location=str(data))).success
        assert await settle(source, api, hashes) == {stopped.infohash: "stopped", started.infohash: "active"}

    result = await btclient(*_argv(source, destination, *hashes, "--remove-source"))
    assert result.returncode == 0, result.stdout + result.stderr
    call = _signature(source, destination, *map(repr, hashes), "remove_source=True")
    lines = result.stdout.splitlines()
    assert lines[0] == f">>> CALLING {call}"
    assert f">>> RESPONSE {call}" in lines
    # Both sides connect and disconnect, each line saying whose.
    for side in ("source", "target"):
        assert f">>> Connection status changed: ConnectionStatus.connected ({side})" in lines
        assert f">>> Connection status changed: ConnectionStatus.disconnected ({side})" in lines
    assert field(result.stdout, "success") == "True"
    assert field(result.stdout, "errors") == "[]"
    assert sorted(ast.literal_eval(field(result.stdout, "transferred"))) == sorted(hashes)
    assert field(result.stdout, "already_transferred") == "[]"
    assert BAR not in result.stdout and "\x1b[" not in result.stdout  # no terminal, no bar

    # What the daemons hold now: the target has both, as the source had them; the source has neither.
    async with destination.make_api() as api:
        assert await destination.raw_states(api, hashes) == {stopped.infohash: "stopped", started.infohash: "active"}
        found = {t.infohash: t for t in await api.get_torrents(*hashes, attributes=["progress", "save_path"])}
        assert {h: (t.progress, t.save_path) for h, t in found.items()} == {h: (1.0, str(data)) for h in hashes}
    async with source.make_api() as api:
        assert not set(hashes) & await source.raw_infohashes(api)
    await _forget(destination, *hashes)


async def test_transfer_all_in_a_terminal_then_again(source: Target, destination: Target, tmp_path: Path) -> None:
    data = tmp_path / "data"
    torrent = make_torrent(data, tmp_path / "torrents", files=2)
    async with source.make_api() as api:
        # --all moves every torrent: the source keeps only this one.
        await _forget(source, *await api.get_infohashes())
        assert (await api.add(str(torrent.torrent_path), location=str(data), stopped=True)).success
        await settle(source, api, [torrent.infohash])

    returncode, output = await _in_terminal(*_argv(source, destination, "--all"))
    assert returncode == 0, output
    call = _signature(source, destination, "*source.get_infohashes()")
    assert f">>> CALLING {call}" in output
    assert BAR in output and "\x1b[" in output  # a bar drawn for a terminal
    assert "verifying" in output  # the step it shows
    assert f">>>        TRANSFERRED: ['{torrent.infohash}']" in output

    # Again: nothing left to do, a warning for the torrent the target has.
    result = await btclient(*_argv(source, destination, "--all"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert BAR not in result.stdout and "\x1b[" not in result.stdout
    assert f"Torrent already transferred: {torrent.name}" in field(result.stdout, "warnings")
    assert field(result.stdout, "already_transferred") == repr([torrent.infohash])
    assert field(result.stdout, "transferred") == "[]"
    assert field(result.stdout, "success") == "True"

    # A torrent the source doesn't have: an error in the Response, exit status 1; --json prints just it.
    result = await btclient(*_argv(source, destination, "0" * 40, options=("--json",)))
    assert result.returncode == 1, result.stdout + result.stderr
    [line] = result.stdout.splitlines()
    printed = json.loads(line)
    assert (printed["success"], printed["transferred"]) == (False, [])
    assert [error["type"] for error in printed["errors"]] == ["NoSuchTorrentError"]
    await _forget(destination, torrent.infohash)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "transfer: the SOURCE is missing (CLIENT URL or NAME)"),
        (NOWHERE[:3], "qbittorrent: the URL is missing"),
        (NOWHERE, "transfer: which torrents? Give their INFOHASHes, or --all"),
        ([*NOWHERE, "0" * 40, "--all"], "transfer: give INFOHASHes or --all, not both"),
        ([*NOWHERE, "--all", "--path-map", "/data"], "transfer: --path-map takes OLD=NEW, not '/data'"),
        ([*NOWHERE, "--all", "--path-map", "/data="], "transfer: --path-map takes OLD=NEW, not '/data='"),
        (
            [*NOWHERE, "--all", "--path-map", "data=/srv"],
            "transfer: --path-map: Invalid path map 'data'='/srv': both sides must be absolute paths",
        ),
        ([*NOWHERE, "--all", "--json"], "transfer: unrecognized arguments: --json (btclient's own options go before"),
    ],
    ids=["nothing", "no url", "no torrents", "infohashes and all", "no =", "no new", "relative", "late option"],
)
async def test_usage_errors(args: list[str], message: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        assert await amain(["transfer", *args], out) == 2
    assert out.getvalue() == ""
    [line] = err.getvalue().splitlines()
    assert line.startswith(f"btclient: error: {message}"), line


def test_help_and_usage_errors_import_no_aiohttp() -> None:
    test_btclient_config.test_help_and_usage_errors_import_no_aiohttp(["transfer", "--help"])
    test_btclient_config.test_help_and_usage_errors_import_no_aiohttp(["transfer", *NOWHERE, "--path-map", "a=/b"])


def test_help() -> None:
    result = subprocess.run([BTCLIENT, "transfer", "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: btclient [OPTIONS] transfer SOURCE TARGET [INFOHASH ... | --all]")
    for option in ("--all", "--remove-source", "--no-verify", "--path-map OLD=NEW"):
        assert option in result.stdout
    result = subprocess.run([BTCLIENT, "--help"], capture_output=True, text=True, check=False)
    assert "transfer SOURCE TARGET" in result.stdout


def test_a_side_may_be_a_named_client(tmp_path: Path) -> None:
    conf = tmp_path / "config.toml"
    conf.write_text('[clients.box]\nclient = "deluge"\nurl = "localhost:58846"\ntimeout = 20\n')
    conf.chmod(0o600)
    argv = ["--config", str(conf), "--proxy", "socks5://localhost:1080", "transfer", "qbittorrent", "localhost"]
    call = _transfer_call(_parser().parse_args([*argv, "box", "--all", "--no-verify", "--path-map", "/a=/b"]))
    source, target = call.source, call.target
    assert (source.client, source.url, source.named) == ("qbittorrent", "localhost", None)
    assert (target.client, target.url, target.named and target.named.name) == ("deluge", "localhost:58846", "box")
    # The command line's options apply to both sides, the named client's own to its side.
    assert (source.connection["timeout"], target.connection["timeout"]) == (10.0, 20.0)
    assert source.connection["proxy"] == target.connection["proxy"] == "socks5://localhost:1080"
    assert (call.all, call.verify, call.path_map) == (True, False, {"/a": "/b"})


def test_completion() -> None:
    assert candidates("btclient transfer tr") == ["transmission"]
    assert candidates("btclient transfer transmission ") == []  # the URL
    assert candidates("btclient transfer transmission localhost q") == ["qbittorrent"]
    assert candidates("btclient transfer transmission localhost qbittorrent localhost ") == []  # infohashes
    assert candidates("btclient transfer --path-map ") == []
    assert candidates("btclient --json transfer --r") == ["--remove-source"]
