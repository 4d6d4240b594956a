"""btclient, run as the installed command against real daemons."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from aiobtclientapi import ConnectionStatus
from aiobtclientapi.cli.main import UsageError, split_arguments
from aiobtclientapi.testing._targets import Target
from aiobtclientapi.testing._torrents import make_torrent
from tests.contract.conftest import settle

BTCLIENT = str(Path(sys.executable).parent / "btclient")
CONNECTING = f">>> Connection status changed: {ConnectionStatus.connecting}"
CONNECTED = f">>> Connection status changed: {ConnectionStatus.connected}"
DISCONNECTED = f">>> Connection status changed: {ConnectionStatus.disconnected}"


async def btclient(*args: str) -> subprocess.CompletedProcess[str]:
    """Run btclient without blocking the event loop the daemons' fixtures share."""
    process = await asyncio.create_subprocess_exec(
        BTCLIENT, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "120"}
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return subprocess.CompletedProcess(args, process.returncode, stdout.decode(), stderr.decode())


def test_help_lists_clients_and_url_formats() -> None:
    result = subprocess.run([BTCLIENT, "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    for text in (
        "deluge",
        "qbittorrent",
        "rtorrent",
        "transmission",
        "[USERNAME:PASSWORD@]HOST[:PORT]",
        "[http[s]://][USERNAME:PASSWORD@]HOST[:PORT][/PATH]",
        "[file://]SOCKET_PATH",
        "[scgi://]HOST[:PORT]",
    ):
        assert text in result.stdout


async def test_usage_errors_exit_2() -> None:
    result = await btclient("nosuchclient", "localhost", "get_infohashes")
    assert result.returncode == 2
    assert "Unknown client" in result.stdout
    result = await btclient("transmission", "localhost", "nosuchmethod")
    assert result.returncode == 2


@pytest.mark.parametrize("content", [None, ""], ids=["missing", "no certificates"])
async def test_bad_tls_ca_file_is_a_usage_error(tmp_path: Path, content: str | None) -> None:
    ca_file = tmp_path / "ca.pem"
    if content is not None:
        ca_file.write_text(content)
    result = await btclient("--tls-ca-file", str(ca_file), "qbittorrent", "https://localhost:1", "get_infohashes")
    assert result.returncode == 2
    [line] = result.stdout.splitlines()
    assert line.startswith(f">>> ERROR: Invalid tls_ca_file {str(ca_file)!r}: "), line
    assert "Traceback" not in result.stdout + result.stderr


async def test_get_infohashes(daemon_target: Target, tmp_path: Path) -> None:
    torrent = make_torrent(daemon_target.download_dir, tmp_path)
    api = daemon_target.make_api()
    async with api:
        await api.add(str(torrent.torrent_path), location=str(torrent.location), stopped=True)
        expected = await daemon_target.raw_infohashes(api)
    result = await btclient(*daemon_target.cli_options, daemon_target.client, daemon_target.url, "get_infohashes")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[:4] == [">>> CALLING get_infohashes()", CONNECTING, CONNECTED, ">>> RESPONSE get_infohashes()"]
    assert lines[-1] == DISCONNECTED
    assert {line.removeprefix(">>> * ") for line in lines[4:-1]} == expected
    assert all(line.startswith(">>> * ") for line in lines[4:-1])


async def test_stop_prints_response_fields(daemon_target: Target, tmp_path: Path) -> None:
    torrent = make_torrent(daemon_target.download_dir, tmp_path)
    api = daemon_target.make_api()
    async with api:
        await api.add(str(torrent.torrent_path), location=str(torrent.location))
        await settle(daemon_target, api, [torrent.infohash])
    result = await btclient(
        *daemon_target.cli_options, daemon_target.client, daemon_target.url, "stop", torrent.infohash
    )
    assert result.returncode == 0, result.stdout + result.stderr
    call = f"stop('{torrent.infohash}')"
    assert result.stdout.splitlines() == [
        f">>> CALLING {call}",
        CONNECTING,
        CONNECTED,
        f">>> RESPONSE {call}",
        ">>>            SUCCESS: True",
        ">>>           WARNINGS: []",
        ">>>             ERRORS: []",
        ">>>              TASKS: []",
        f">>>            STOPPED: ['{torrent.infohash}']",
        ">>>    ALREADY_STOPPED: []",
        DISCONNECTED,
    ]
    async with api:
        assert (await daemon_target.raw_states(api, [torrent.infohash]))[torrent.infohash] == "stopped"


async def test_add_with_keyword_arguments(daemon_target: Target, tmp_path: Path) -> None:
    torrent = make_torrent(daemon_target.download_dir, tmp_path)
    result = await btclient(
        *daemon_target.cli_options,
        daemon_target.client,
        daemon_target.url,
        "add",
        str(torrent.torrent_path),
        "stopped=true",
        f"location={torrent.location}",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f">>> CALLING add('{torrent.torrent_path}', stopped=True, location='{torrent.location}')"
    assert f">>>              ADDED: ['{torrent.infohash}']" in lines
    assert ">>>      ALREADY_ADDED: []" in lines
    api = daemon_target.make_api()
    async with api:
        state = (await settle(daemon_target, api, [torrent.infohash]))[torrent.infohash]
    assert state == "stopped"


async def test_failed_call_exits_1(daemon_target: Target) -> None:
    result = await btclient(*daemon_target.cli_options, daemon_target.client, daemon_target.url, "start", "0" * 40)
    assert result.returncode == 1
    assert ">>>            SUCCESS: False" in result.stdout
    assert "NoSuchTorrentError" in result.stdout


async def test_raw_call(daemon_target: Target) -> None:
    method, args = daemon_target.raw_call
    result = await btclient(
        *daemon_target.cli_options, daemon_target.client, daemon_target.url, "call", method, *map(str, args)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f">>> CALLING call('{method}'")
    assert lines[3].startswith(f">>> RESPONSE call('{method}'")
    assert len(lines) > 5


async def test_debug_logs_without_password(daemon_target: Target) -> None:
    result = await btclient(
        "--debug", *daemon_target.cli_options, daemon_target.client, daemon_target.url, "get_infohashes"
    )
    assert result.returncode == 0
    lines = result.stderr.splitlines()
    assert lines, "--debug printed no log lines"
    # Every line is one of the library's log records: "DATE TIME LEVEL event=... client=...".
    assert all(re.search(r" DEBUG event='?\w", line) for line in lines), lines
    assert any(f"client='{daemon_target.client}'" in line for line in lines), lines
    password = daemon_target.make_api().url.password
    if password:
        assert password not in result.stderr + result.stdout


async def test_wrong_password_exits_1(daemon_target: Target) -> None:
    password = daemon_target.make_api().url.password
    if not password:
        pytest.skip(f"{daemon_target.id} has no authentication")
    wrong = daemon_target.url.replace(f":{password}@", ":wrong-password@")
    assert wrong != daemon_target.url
    result = await btclient(*daemon_target.cli_options, daemon_target.client, wrong, "get_infohashes")
    assert result.returncode == 1
    assert "wrong-password" not in result.stdout
    lines = result.stdout.splitlines()
    assert lines[:3] == [">>> CALLING get_infohashes()", CONNECTING, DISCONNECTED]
    assert lines[3].startswith(">>> ERROR: AuthenticationError: ")
    assert len(lines) == 4


class TestArguments:
    def test_values_are_typed_by_the_parameter_they_feed(self) -> None:
        args = ["a.torrent", "location=2024", "stopped=Yes", "verify=0"]
        assert split_arguments("add", args) == (["a.torrent"], {"location": "2024", "stopped": True, "verify": False})
        assert split_arguments("verify_wait", ["x", "interval=0.5"]) == (["x"], {"interval": 0.5})
        assert split_arguments("verify_wait", ["interval=0.1,2"]) == ([], {"interval": (0.1, 2.0)})
        # Raw calls pass any keyword on, booleans and numbers converted.
        assert split_arguments("call", ["torrent-get", "ids=3", "fields=name"]) == (
            ["torrent-get"],
            {"ids": 3, "fields": "name"},
        )

    def test_existing_files_and_arguments_after_dashes_are_positional(self, tmp_path: Path) -> None:
        odd = tmp_path / "my=file.torrent"
        odd.write_bytes(b"")
        assert split_arguments("add", [str(odd), "stopped=true"]) == ([str(odd)], {"stopped": True})
        assert split_arguments("add", ["--", "stopped=true", "x=y"]) == (["stopped=true", "x=y"], {})

    @pytest.mark.parametrize(
        ("method", "args", "message"),
        [
            ("add", ["stopped=off"], "add: stopped must be true/false/yes/no/1/0, not 'off'"),
            ("add", ["my=file.torrent"], "add: unknown keyword argument 'my'"),
            ("verify_wait", ["interval=soon"], "verify_wait: interval must be a number"),
            ("get_infohashes", ["a=b"], "get_infohashes: unknown keyword argument 'a'"),
        ],
    )
    def test_bad_keyword_arguments(self, method: str, args: list[str], message: str) -> None:
        with pytest.raises(UsageError) as info:
            split_arguments(method, args)
        assert str(info.value).startswith(message), info.value

    async def test_a_bad_keyword_argument_is_one_line_and_exit_2(self) -> None:
        result = await btclient("transmission", "localhost:1", "add", "x.torrent", "stopped=off")
        assert result.returncode == 2
        assert result.stderr.splitlines() == ["btclient: error: add: stopped must be true/false/yes/no/1/0, not 'off'"]
        assert result.stdout == ""
