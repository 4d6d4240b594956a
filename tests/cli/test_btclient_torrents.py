"""btclient's get_torrents table, --json, watch and verify_wait's progress bars, on every target.

Real daemons run btclient as the installed command. The memory client lives in
this process, so btclient runs here too (``amain``), with the container handing
out the shared memory adapter: same arguments, same output, same exit status.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import pty
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from aiobtclientapi import ConnectionStatus, Torrent, TorrentState
from aiobtclientapi.cli.main import amain
from aiobtclientapi.cli.output import to_json
from aiobtclientapi.cli.tables import DEFAULT_COLUMNS, fit_widths, human_duration, human_size
from aiobtclientapi.container import container
from aiobtclientapi.testing._memory import PASSWORD, USERNAME, MemoryTarget
from aiobtclientapi.testing._targets import Target
from aiobtclientapi.testing._torrents import TestTorrent, make_torrent
from tests.contract.conftest import settle

#: Once per daemon: what btclient prints doesn't depend on the transport.
ONE_TRANSPORT = True
#: What btclient prints doesn't depend on the client's version: the contract suite checks
#: the values it prints on every version.
IN_CONTAINER_MATRIX = False
BTCLIENT = str(Path(sys.executable).parent / "btclient")
DISCONNECTED = f">>> Connection status changed: {ConnectionStatus.disconnected}"
# btclient as a command with rich unimportable: the plain-text fallback.
NO_RICH = "import sys; sys.modules['rich'] = None; from aiobtclientapi.cli import main; sys.exit(main())"
TIME = r"\d\d:\d\d:\d\d"


def _url(target: Target) -> str:
    return target.url or f"{USERNAME}:{PASSWORD}@localhost"


def _argv(target: Target, *args: str, options: tuple[str, ...] = ()) -> list[str]:
    return [*options, *target.cli_options, target.client, _url(target), *args]


@contextlib.contextmanager
def _in_memory(target: Target, env: dict[str, str]) -> Iterator[None]:
    """The container and environment btclient sees when it runs in this process."""
    assert isinstance(target, MemoryTarget)
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        with container.port.override(target.adapter_provider):
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _without_rich() -> Iterator[None]:
    hidden = {name: module for name, module in sys.modules.items() if name == "rich" or name.startswith("rich.")}
    names = {*hidden, "rich"}
    sys.modules.update(dict.fromkeys(names, None))  # type: ignore[arg-type]
    try:
        yield
    finally:
        for name in names:
            del sys.modules[name]
        sys.modules.update(hidden)


async def btclient(
    target: Target, *args: str, options: tuple[str, ...] = (), columns: int = 120, rich: bool = True
) -> subprocess.CompletedProcess[str]:
    """btclient's exit status and output for this target, stdout not a terminal."""
    env = {"COLUMNS": str(columns)}
    argv = _argv(target, *args, options=options)
    if target.daemon is None:
        out, err = io.StringIO(), io.StringIO()
        hide_rich = _without_rich() if not rich else contextlib.nullcontext()
        with _in_memory(target, env), contextlib.redirect_stderr(err), hide_rich:
            returncode = await amain(argv, out)
        return subprocess.CompletedProcess(argv, returncode, out.getvalue(), err.getvalue())
    command = [BTCLIENT] if rich else [sys.executable, "-c", NO_RICH]
    process = await asyncio.create_subprocess_exec(
        *command, *argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **env}
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return subprocess.CompletedProcess(argv, process.returncode, stdout.decode(), stderr.decode())


#: The terminal btclient writes to in the tests of its progress bars.
TERMINAL_ENV = {"COLUMNS": "100", "TERM": "xterm-256color", "PYTHONIOENCODING": "utf-8"}


async def in_terminal(run: Callable[[int], Awaitable[int]]) -> tuple[int, str]:
    """The exit status `run` returns and what it wrote to a pseudo-terminal.

    `run` gets the terminal's file descriptor and closes it when done with it.
    """
    master, slave = pty.openpty()
    chunks: list[bytes] = []
    closed = asyncio.Event()
    loop = asyncio.get_running_loop()

    def read() -> None:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer closed the terminal
            chunk = b""
        if chunk:
            chunks.append(chunk)
        else:
            loop.remove_reader(master)
            closed.set()

    loop.add_reader(master, read)
    try:
        returncode = await run(slave)
        await asyncio.wait_for(closed.wait(), timeout=10)
    finally:
        loop.remove_reader(master)
        os.close(master)
    return returncode, b"".join(chunks).decode()


async def btclient_process(argv: Sequence[str], terminal: int) -> int:
    """btclient run with `terminal` as its stdout and stderr (closed here once it started); its exit status."""
    process = await asyncio.create_subprocess_exec(
        BTCLIENT, *argv, stdout=terminal, stderr=terminal, env={**os.environ, **TERMINAL_ENV}
    )
    os.close(terminal)
    return await asyncio.wait_for(process.wait(), timeout=120)


async def btclient_in_terminal(target: Target, *args: str) -> tuple[int, str]:
    """btclient's exit status and what it wrote to a pseudo-terminal."""

    async def run(terminal: int) -> int:
        if target.daemon is None:
            with _in_memory(target, TERMINAL_ENV), open(terminal, "w", encoding="utf-8") as stream:
                return await amain(_argv(target, *args), stream)
        return await btclient_process(_argv(target, *args), terminal)

    return await in_terminal(run)


class Watch:
    """A running ``btclient watch``: the lines it printed so far, and Ctrl-C."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.stderr = ""
        self.returncode: int | None = None
        self._interrupt: Callable[[], None] = lambda: None
        self._done: asyncio.Future[Any] | None = None

    async def line(self, predicate: Callable[[str], bool], timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines:
                if predicate(line):
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(f"no such line within {timeout}s in {self.lines}")
            assert self._done is not None and not self._done.done(), f"watch ended: {self.lines} {self.stderr}"
            await asyncio.sleep(0.05)

    async def interrupt(self) -> None:
        self._interrupt()
        assert self._done is not None
        await asyncio.wait_for(self._done, timeout=60)


class _Lines(io.StringIO):
    """A stdout that hands on each line as soon as it is complete."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self._lines = lines
        self._partial = ""

    def write(self, text: str) -> int:
        *complete, self._partial = (self._partial + text).split("\n")
        self._lines.extend(complete)
        return len(text)


@contextlib.asynccontextmanager
async def watching(target: Target, *args: str, options: tuple[str, ...] = ()) -> AsyncIterator[Watch]:
    watch = Watch()
    argv = _argv(target, "watch", *args, options=options)
    if target.daemon is None:
        with _in_memory(target, {"COLUMNS": "120"}):
            task = asyncio.ensure_future(amain(argv, _Lines(watch.lines)))

            async def finished() -> None:
                watch.returncode = await task

            # btclient runs in this process: Ctrl-C is SIGINT to this process, which its handler takes.
            watch._interrupt = lambda: os.kill(os.getpid(), signal.SIGINT)
            watch._done = asyncio.ensure_future(finished())
            try:
                yield watch
            finally:
                task.cancel()
        return
    process = await asyncio.create_subprocess_exec(
        BTCLIENT, *argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "120"}
    )

    async def read() -> None:
        assert process.stdout is not None and process.stderr is not None
        while line := await process.stdout.readline():
            watch.lines.append(line.decode().rstrip("\n"))
        watch.stderr = (await process.stderr.read()).decode()
        watch.returncode = await process.wait()

    watch._interrupt = lambda: process.send_signal(signal.SIGINT)
    watch._done = asyncio.ensure_future(read())
    try:
        yield watch
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _added(target: Target, tmp_path: Path, *, stopped: bool = True) -> TestTorrent:
    """A torrent added and verified, stopped unless told."""
    torrent = make_torrent(target.download_dir, tmp_path)
    api = target.make_api()
    response = await api.add(str(torrent.torrent_path), location=str(torrent.location), stopped=stopped)
    assert response.added == [torrent.infohash], response
    await settle(target, api, [torrent.infohash])
    return torrent


def _table(stdout: str) -> list[str]:
    """The table's lines: what is not ">>> " framing."""
    return [line for line in stdout.splitlines() if not line.startswith(">>> ")]


# --- get_torrents: the table -------------------------------------------------------------------


@pytest.mark.parametrize("rich", [True, False], ids=["rich", "plain"])
async def test_get_torrents_table(target: Target, tmp_path: Path, rich: bool) -> None:
    torrent = await _added(target, tmp_path)
    result = await btclient(target, "get_torrents", columns=200, rich=rich)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    asked = ", ".join(repr(c) for c in DEFAULT_COLUMNS if c != "infohash")
    assert lines[0] == f">>> CALLING get_torrents(attributes=[{asked}])"
    assert lines[-1] == DISCONNECTED
    table = _table(result.stdout)
    assert table[0].split() == list(DEFAULT_COLUMNS)
    assert set(table[1].strip()) <= {"─", "-", " "}  # the rule under the header
    [row] = [line for line in table if torrent.infohash in line]
    cells = row.split()
    assert cells[0] == torrent.name
    assert cells[1] in {s.value for s in TorrentState}
    assert re.fullmatch(r"\d+\.\d%", cells[2])
    assert cells[3:9] == ["256.0", "KiB", "0", "B/s", "0", "B/s"]  # stopped: nothing moves
    assert cells[10:] == [torrent.infohash]  # cells[9]: the ratio, 0.00 or "-" where the client has none


@pytest.mark.parametrize("rich", [True, False], ids=["rich", "plain"])
async def test_get_torrents_table_fits_the_terminal(target: Target, tmp_path: Path, rich: bool) -> None:
    torrent = await _added(target, tmp_path)
    result = await btclient(target, "get_torrents", torrent.infohash, columns=80, rich=rich)
    assert result.returncode == 0, result.stdout + result.stderr
    table = _table(result.stdout)
    assert len(table) == 3
    assert all(len(line) <= 80 for line in table), table
    # The name gives way first, then the infohash, whose start still tells torrents apart.
    row = table[2]
    assert torrent.name[:6] in row
    assert torrent.infohash[:6] in row
    assert "256.0 KiB" in row
    assert "0 B/s" in row


async def test_get_torrents_with_attributes_files_and_trackers(target: Target, tmp_path: Path) -> None:
    torrent = await _added(target, tmp_path)
    result = await btclient(
        target, "get_torrents", torrent.infohash, "attributes=name,size_total,added_at,files,trackers", columns=200
    )
    assert result.returncode == 0, result.stdout + result.stderr
    table = _table(result.stdout)
    assert table[0].split() == ["name", "size_total", "added_at", "files", "trackers", "infohash"]
    row = table[2].split()
    assert row[:3] == [torrent.name, "256.0", "KiB"]
    added_at = datetime.strptime(" ".join(row[3:5]), "%Y-%m-%d %H:%M:%S")  # local time, to the second
    assert abs(added_at.timestamp() - time.time()) < 3600
    assert row[5:] == ["1", "1", torrent.infohash]
    text = "\n".join(table)
    assert f"files of {torrent.name} ({torrent.infohash}):" in text
    assert f"trackers of {torrent.name} ({torrent.infohash}):" in text
    files = table[table.index(f"files of {torrent.name} ({torrent.infohash}):") + 1 :]
    assert files[0].split() == ["path", "size", "progress", "wanted", "priority"]
    assert files[2].split()[:3] == [torrent.name, "256.0", "KiB"]
    assert "/announce" in text


async def test_get_torrents_unknown_attribute_is_a_usage_error(target: Target) -> None:
    result = await btclient(target, "get_torrents", "attributes=name,colour")
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["btclient: error: get_torrents: Unknown torrent attribute: colour"]
    assert result.stdout == ""


# --- --json -----------------------------------------------------------------------------------


async def test_json_get_torrents_is_the_api_result(target: Target, tmp_path: Path) -> None:
    torrent = await _added(target, tmp_path)
    api = target.make_api()
    for attributes in (None, "name,state,files,trackers"):
        args = [torrent.infohash] + ([f"attributes={attributes}"] if attributes else [])
        for _ in range(5):  # a daemon may change a value meanwhile (a tracker's answer): ask again
            before = await api.get_torrents(torrent.infohash, attributes=attributes)
            result = await btclient(target, "get_torrents", *args, options=("--json",))
            after = await api.get_torrents(torrent.infohash, attributes=attributes)
            if before == after:
                break
        assert result.returncode == 0, result.stdout + result.stderr
        [line] = result.stdout.splitlines()  # nothing but the JSON
        [parsed] = json.loads(line)
        # Read back into Torrents ("inf" and seconds need strict=False): the API's own result.
        assert msgspec.json.decode(line, type=list[Torrent], strict=False) == after
        [expected] = after
        assert parsed["infohash"] == torrent.infohash
        assert parsed["state"] == "stopped"  # the enum's value
        if attributes is None:
            assert expected.added_at
            assert datetime.fromisoformat(parsed["added_at"]) == expected.added_at
            assert parsed["size_total"] == 256 * 1024
            assert "files" not in parsed  # not asked for: left out
        else:
            assert set(parsed) == {"infohash", "name", "state", "files", "trackers"}
            assert parsed["files"][0]["size"] == 256 * 1024


async def test_json_add_and_get_infohashes(target: Target, tmp_path: Path) -> None:
    torrent = make_torrent(target.download_dir, tmp_path)
    options = ("--json",)
    location = f"location={torrent.location}"
    result = await btclient(target, "add", str(torrent.torrent_path), "stopped=true", location, options=options)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == {
        "success": True,
        "warnings": [],
        "errors": [],
        "tasks": [],
        "added": [torrent.infohash],
        "already_added": [],
    }
    result = await btclient(target, "add", str(torrent.torrent_path), location, options=options)
    response = json.loads(result.stdout)
    assert response["already_added"] == [torrent.infohash]
    [warning] = response["warnings"]
    assert warning["type"] == "TorrentAlreadyAdded"
    assert warning["infohash"] == torrent.infohash
    assert torrent.name in warning["message"]

    api = target.make_api()
    result = await btclient(target, "get_infohashes", options=options)
    assert result.returncode == 0
    assert set(json.loads(result.stdout)) == await target.raw_infohashes(api)
    assert torrent.infohash in [t.infohash for t in await api.get_torrents(attributes=["name"])]
    await settle(target, api, [torrent.infohash])


async def test_json_failure_and_error(target: Target) -> None:
    result = await btclient(target, "start", "0" * 40, options=("--json",))
    assert result.returncode == 1
    response = json.loads(result.stdout)
    assert response["success"] is False
    assert [e["type"] for e in response["errors"]] == ["NoSuchTorrentError"]
    assert response["errors"][0]["infohash"] == "0" * 40
    if target.daemon is None:
        return
    password = target.make_api().url.password
    if not password:
        return
    wrong = _url(target).replace(f":{password}@", ":wrong-password@")
    process = await asyncio.create_subprocess_exec(
        BTCLIENT, "--json", *target.cli_options, target.client, wrong, "get_torrents", stdout=subprocess.PIPE
    )
    stdout, _ = await process.communicate()
    assert process.returncode == 1
    error = json.loads(stdout)["error"]
    assert error["type"] == "AuthenticationError"
    assert "wrong-password" not in stdout.decode()


def test_json_encodings() -> None:
    from datetime import UTC, timedelta

    torrent = Torrent(
        infohash="a" * 40,
        state=TorrentState.seeding,
        ratio=float("inf"),
        eta=timedelta(minutes=2, seconds=3.5),
        added_at=datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC),
        tags=("x", "y"),
    )
    assert json.loads(to_json([torrent])) == [
        {
            "infohash": "a" * 40,
            "state": "seeding",
            "ratio": "inf",
            "eta": 123.5,
            "tags": ["x", "y"],
            "added_at": "2024-05-06T07:08:09Z",
        }
    ]
    assert msgspec.json.decode(to_json(torrent), type=Torrent, strict=False) == torrent


# --- watch --------------------------------------------------------------------------------------


@pytest.mark.parametrize("as_json", [False, True], ids=["lines", "json"])
async def test_watch_until_ctrl_c(target: Target, tmp_path: Path, as_json: bool) -> None:
    torrent = make_torrent(target.download_dir, tmp_path)
    api = target.make_api()
    options = ("--json",) if as_json else ()
    infohash = torrent.infohash

    def event(kind: str) -> Callable[[str], bool]:
        if as_json:
            return lambda line: (
                (e := json.loads(line))["type"] == kind
                and infohash
                in (
                    e.get("infohash"),
                    e.get("torrent", {}).get("infohash"),
                )
            )
        return lambda line: re.match(rf">>> {TIME} {kind:<7} {infohash}", line) is not None

    async with watching(target, "interval=0.5", options=options) as watch:
        if not as_json:
            await watch.line(lambda line: line.startswith(">>> RESPONSE watch("))
        await api.add(str(torrent.torrent_path), location=str(torrent.location), stopped=True)
        added = await watch.line(event("added"))
        await settle(target, api, [infohash])
        assert (await api.start(infohash)).success
        changed = await watch.line(event("changed"))
        await target.raw_remove(api, [infohash])
        removed = await watch.line(event("removed"))
        await watch.interrupt()
    assert watch.returncode == 0, watch.lines
    assert "Traceback" not in watch.stderr
    if as_json:
        assert json.loads(added)["torrent"]["name"] == torrent.name
        assert json.loads(changed)["changes"]
        assert json.loads(removed) == {"type": "removed", "time": json.loads(removed)["time"], "infohash": infohash}
        datetime.fromisoformat(json.loads(removed)["time"])
    else:
        assert f" {torrent.name}: state=" in added
        assert f"{infohash} {torrent.name}: " in changed  # the name, remembered from the added event
        assert removed.endswith(f"{infohash} {torrent.name}")
        assert watch.lines[-1] == DISCONNECTED


async def test_watch_rejects_collections_and_positional_arguments(target: Target) -> None:
    result = await btclient(target, "watch", "attributes=name,files")
    assert result.returncode == 2
    assert "files" in result.stdout + result.stderr
    result = await btclient(target, "watch", "0" * 40)
    assert result.returncode == 2
    assert result.stderr.startswith("btclient: error: watch: takes no infohashes")


# --- verify_wait -------------------------------------------------------------------------------


async def test_verify_wait_in_a_terminal_shows_a_progress_bar(target: Target, tmp_path: Path) -> None:
    torrent = await _added(target, tmp_path)
    api = target.make_api()
    assert (await api.verify(torrent.infohash)).success
    returncode, output = await btclient_in_terminal(target, "verify_wait", torrent.infohash)
    assert returncode == 0, output
    assert "━" in output  # rich's bar
    assert torrent.name in output  # labelled with the torrent's name
    assert re.search(r"\b\d+%", output)  # what the daemon's check got to: the contract suite's business
    assert ">>> * (" not in output
    assert "\x1b[" in output  # drawn for a terminal
    await settle(target, api, [torrent.infohash])


async def test_verify_wait_without_a_terminal_prints_lines(target: Target, tmp_path: Path) -> None:
    torrent = await _added(target, tmp_path)
    result = await btclient(target, "verify_wait", torrent.infohash)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    call = f"verify_wait('{torrent.infohash}')"
    assert lines[0] == f">>> CALLING {call}"
    assert f">>> RESPONSE {call}" in lines
    assert re.fullmatch(rf">>> \* \('{torrent.infohash}', \d+\.\d+\)", lines[-2]), lines
    assert lines[-1] == DISCONNECTED
    result = await btclient(target, "verify_wait", torrent.infohash, options=("--json",))
    last = [json.loads(line) for line in result.stdout.splitlines()][-1]
    assert last == {"infohash": torrent.infohash, "progress": last["progress"]}
    assert isinstance(last["progress"], float)


# --- units --------------------------------------------------------------------------------------


def test_human_units() -> None:
    from datetime import timedelta

    assert [human_size(n) for n in (0, 1023, 1024, 1536, 5 * 2**20, 3 * 2**30 + 2**29)] == [
        "0 B",
        "1023 B",
        "1.0 KiB",
        "1.5 KiB",
        "5.0 MiB",
        "3.5 GiB",
    ]
    durations = [timedelta(seconds=s) for s in (42, 307, 3 * 3600 + 120, 2 * 86400 + 3 * 3600)]
    assert [human_duration(d) for d in durations] == ["42s", "5m 07s", "3h 02m", "2d 03h"]
    # The name gives way before the infohash; neither below 8.
    names = ["name", "state", "infohash"]
    assert fit_widths(names, [30, 9, 40], 60) == [16, 9, 35]
    assert fit_widths(names, [30, 9, 40], 20) == [8, 9, 8]


async def test_verify_wait_in_a_terminal_reports_errors(target: Target) -> None:
    returncode, output = await btclient_in_terminal(target, "verify_wait", "0" * 40)
    assert returncode == 1, output
    assert f"{'0' * 40}: NoSuchTorrentError: " in output
    assert "Traceback" not in output
