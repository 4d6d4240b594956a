"""Canary-password sweep: no password ever shows, whatever happens.

Every operation of every client runs with a unique canary password (a new one
per test) in every place a password can be: the client URL (wrong password,
closed port, percent-encoded and kwarg passwords holding ``/@:``, URLs that
fail to parse), the userinfo of torrent URLs given to ``add()`` (served,
404, closed port, unparsable) and of a tracker URL inside a magnet. The
target's real password is searched for too (the daemons' password is fixed,
so the success paths carry that one). Everything a caller or an operator
can see is captured: every log record (all loggers, DEBUG), every Response
(repr, str, fields, JSON/msgspec encodings, each error and warning), every
exception with its whole ``__cause__``/``__context__`` chain, attributes,
pickle and formatted traceback, reprs of the API objects and their URLs,
warnings, anything printed, and ``btclient --debug`` stdout and stderr
(successful, failing and usage-error runs). None of it may hold a secret;
and the capture must hold what the failures are about (host:port, log
lines), so the sweep can't pass on empty output.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import json
import logging
import os
import pickle
import pprint
import secrets
import subprocess
import sys
import traceback
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web

import aiobtclientapi
from aiobtclientapi import APIBase, ConnectionStatus, Response
from aiobtclientapi.testing._daemon import free_port
from aiobtclientapi.testing._memory import MemoryTarget
from aiobtclientapi.testing._targets import Target
from aiobtclientapi.testing._torrents import TestTorrent, make_torrent
from tests.peers import serving

BTCLIENT = str(Path(sys.executable).parent / "btclient")
UNKNOWN = "0000000000000000000000000000000000000001"
#: Upper bound for one operation; they all end far sooner (no fixed sleeps anywhere).
OPERATION_TIMEOUT = 90.0
USERNAME = "tester"


@pytest.fixture
def canary() -> str:
    """A password seen nowhere before: unique per test."""
    return f"Cn{secrets.token_hex(12)}"


# --- capturing ---------------------------------------------------------------------------
def exception_chain(exc: BaseException) -> list[BaseException]:
    """`exc` and every exception reachable from it: causes, contexts, group members."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo:
        each = todo.pop()
        if any(each is other for other in seen):
            continue
        seen.append(each)
        todo += [e for e in (each.__cause__, each.__context__) if e is not None]
        if isinstance(each, BaseExceptionGroup):
            todo += list(each.exceptions)
    return seen


class Sweep:
    """Everything a user could see, as (where, text) pairs, searched for secrets at the end."""

    def __init__(self, secrets_: dict[str, str]) -> None:
        self.secrets = {name: value for name, value in secrets_.items() if value}
        self.texts: list[tuple[str, str]] = []

    def text(self, where: str, text: str) -> None:
        self.texts.append((where, text))

    def encodings(self, where: str, value: object) -> None:
        self.text(f"{where} repr", repr(value))
        self.text(f"{where} str", str(value))
        self.text(f"{where} pformat", pprint.pformat(value))
        with contextlib.suppress(Exception):
            self.text(f"{where} json", json.dumps(value, default=repr))
        with contextlib.suppress(Exception):
            self.text(f"{where} msgspec", msgspec.json.encode(value, enc_hook=repr).decode())

    def value(self, where: str, value: object) -> None:
        """A method's result: a Response, a list, a raw reply, an exception."""
        if isinstance(value, BaseException):
            self.exception(where, value)
            return
        self.encodings(where, value)
        if isinstance(value, Response):
            self.encodings(f"{where} fields", dict(value))
            for index, problem in enumerate([*value.errors, *value.warnings]):
                self.exception(f"{where} problem {index}", problem)
        if isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                if isinstance(item, (BaseException, tuple)):
                    self.value(f"{where}[{index}]", item)

    def exception(self, where: str, exc: BaseException) -> None:
        self.text(f"{where} traceback", "".join(traceback.format_exception(exc)))
        for depth, each in enumerate(exception_chain(exc)):
            label = f"{where} chain {depth} {type(each).__name__}"
            self.text(f"{label} str", str(each))
            self.text(f"{label} repr", repr(each))
            self.text(f"{label} args", repr(each.args))
            with contextlib.suppress(Exception):
                self.text(f"{label} attributes", repr(vars(each)))
            if isinstance(each, (aiobtclientapi.Error, aiobtclientapi.Warning)):
                self.text(f"{label} pickle", pickle.dumps(each).decode("latin-1"))

    def api(self, where: str, api: APIBase) -> None:
        for name, text in (
            ("repr", repr(api)),
            ("str", str(api)),
            ("pformat", pprint.pformat(api)),
            ("url repr", repr(api.url)),
            ("url str", str(api.url)),
            ("url format", f"{api.url}"),
            ("url base", api.url.base if not api.url.is_socket else str(api.url)),
            ("port repr", repr(api.port)),
            ("request counts", repr(api.port.request_counts)),
        ):
            self.text(f"{where} {name}", text)
        for encode in (json.dumps, msgspec.json.encode, pickle.dumps):
            try:
                encoded: Any = encode(api.url)
            except Exception as exc:  # refusing is right; what it says must not leak
                self.exception(f"{where} url {encode.__name__}", exc)
            else:
                self.text(f"{where} url {encode.__name__}", repr(encoded))

    def records(self, records: list[logging.LogRecord]) -> None:
        formatter = logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
        for record in records:
            where = f"log {record.name} {record.levelname}"
            self.text(f"{where} formatted", formatter.format(record))  # with exc_info and stack_info
            self.text(f"{where} record", repr(vars(record)))

    def leaks(self) -> list[str]:
        """Each distinct leaking text once (the secret shown as <name>), with where it was seen first."""
        found: dict[str, list[str]] = {}
        for where, text in self.texts:
            for name, secret in self.secrets.items():
                start = 0
                while (at := text.find(secret, start)) >= 0:
                    start = at + len(secret)
                    line_start = text.rfind("\n", 0, at) + 1
                    line_end = text.find("\n", at)
                    line = text[max(line_start, at - 120) : line_end if line_end >= 0 else at + len(secret) + 120]
                    found.setdefault(line.replace(secret, f"<{name}>").strip(), []).append(where)
        return [f"{len(wheres)}x, first in {wheres[0]}: {line}" for line, wheres in found.items()]

    def assert_no_leaks(self) -> None:
        assert self.texts, "nothing was captured"
        leaks = self.leaks()
        assert not leaks, f"{len(leaks)} leaking text(s):\n" + "\n".join(leaks[:60])

    def joined(self) -> str:
        return "\n".join(text for _, text in self.texts)


# --- running operations ------------------------------------------------------------------
@dataclass
class Inputs:
    """What the operations are called with."""

    torrents: list[str]
    infohashes: list[str]
    location: str | None
    raw_call: tuple[str, tuple[Any, ...]]


@dataclass
class Outcome:
    """What each operation returned or raised, by operation name."""

    results: dict[str, object] = field(default_factory=dict)
    statuses: list[ConnectionStatus] = field(default_factory=list)

    def errors(self) -> list[BaseException]:
        found: list[BaseException] = []
        for result in self.results.values():
            if isinstance(result, BaseException):
                found.append(result)
            elif isinstance(result, Response):
                found += result.errors
            elif isinstance(result, list):
                found += [item[1] for item in result if isinstance(item, tuple) and isinstance(item[1], Exception)]
        return found


async def attempt(sweep: Sweep, where: str, awaitable: Awaitable[object]) -> object:
    try:
        result = await asyncio.wait_for(awaitable, OPERATION_TIMEOUT)
    except Exception as exc:
        sweep.exception(where, exc)
        return exc
    sweep.value(where, result)
    return result


async def verify_wait_items(api: APIBase, infohashes: list[str]) -> list[tuple[str, float | aiobtclientapi.Error]]:
    return [item async for item in api.verify_wait(*infohashes, interval=(0.05, 0.5))]


async def exercise(sweep: Sweep, name: str, api: APIBase, inputs: Inputs) -> Outcome:
    """Every public method of `api`, in an order that works on a live client."""
    outcome = Outcome()
    sweep.api(f"{name} before", api)
    unsubscribe = api.on_status_change(outcome.statuses.append)
    hashes = inputs.infohashes
    method, args = inputs.raw_call
    operations: list[tuple[str, Callable[[], Awaitable[object]]]] = [
        ("connect", api.connect),
        ("get_infohashes", api.get_infohashes),
        ("add", lambda: api.add(*inputs.torrents, location=inputs.location, stopped=True)),
        ("add again", lambda: api.add(*inputs.torrents, location=inputs.location, stopped=True, verify=False)),
        ("start", lambda: api.start(*hashes)),
        ("start again", lambda: api.start(*hashes)),
        ("stop", lambda: api.stop(*hashes)),
        ("stop again", lambda: api.stop(*hashes)),
        ("verify", lambda: api.verify(*hashes)),
        ("verify_wait", lambda: verify_wait_items(api, hashes)),
        ("call", lambda: api.call(method, *args)),
        ("call unknown", lambda: api.call("no.such.method", "x", key="y")),
        ("disconnect", api.disconnect),
        ("get_infohashes after disconnect", api.get_infohashes),
    ]
    for operation, run in operations:
        outcome.results[operation] = await attempt(sweep, f"{name} {operation}", run())

    async def context_manager() -> None:
        async with api:
            pass

    outcome.results["async with"] = await attempt(sweep, f"{name} async with", context_manager())
    await api.disconnect()
    unsubscribe()
    sweep.text(f"{name} statuses", repr(outcome.statuses))
    sweep.api(f"{name} after", api)
    return outcome


async def exercise_or_error(sweep: Sweep, name: str, make: Callable[[], APIBase], inputs: Inputs) -> Outcome | None:
    """Make an API object (a bad URL fails here, which is captured too) and exercise it."""
    try:
        api = make()
    except LookupError:
        return None
    except Exception as exc:
        sweep.exception(f"{name} constructor", exc)
        return None
    try:
        return await exercise(sweep, name, api, inputs)
    finally:
        await api.disconnect()


# --- what a target offers ---------------------------------------------------------------
def tls_options(target: Target) -> dict[str, Any]:
    options = dict(zip(target.cli_options[::2], target.cli_options[1::2], strict=True))
    return {"tls_ca_file": options["--tls-ca-file"]} if "--tls-ca-file" in options else {}


def url_with(target: Target, credentials: str | None, port: int | None = None) -> str:
    """The target's URL with other `credentials` ("user:password") and maybe another port.

    Targets without a daemon port (memory, unix sockets) get a closed port, the
    latter over HTTP. SCGI URLs refuse credentials: a parse error, covered too.
    """
    url = target.make_api().url
    scheme, path = (url.scheme, url.path) if not url.is_socket else ("http", "/RPC2")
    host = f"[{url.host}]" if ":" in url.host else url.host
    if target.daemon is None or url.is_socket:
        host, port = "127.0.0.1", port or free_port()
    prefix = "" if scheme == "deluge" else f"{scheme}://"
    userinfo = f"{credentials}@" if credentials is not None else ""
    return f"{prefix}{userinfo}{host}:{port or url.port}{path}"


def api_with_password(target: Target, password: str) -> APIBase:
    """An API object for the target's own client, with `password` instead of the real one."""
    if isinstance(target, MemoryTarget):
        from dependency_injector import providers

        from aiobtclientapi.adapters.memory import MemoryAdapter
        from aiobtclientapi.testing._memory import PASSWORD
        from aiobtclientapi.testing._memory import USERNAME as MEMORY_USERNAME

        checking = providers.Factory(MemoryAdapter, username=MEMORY_USERNAME, password=PASSWORD)
        return target._api(checking, f"{MEMORY_USERNAME}:{password}@localhost")
    return target.make_api(password=password)


def has_authentication(target: Target) -> bool:
    url = target.make_api().url
    return url.password is not None


# --- a web server for torrent URLs -------------------------------------------------------
@contextlib.asynccontextmanager
async def torrent_server(torrent: TestTorrent) -> AsyncIterator[int]:
    async def serve(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(torrent.torrent_path)

    async def not_found(request: web.Request) -> web.StreamResponse:
        return web.Response(status=404, text="not here")

    async def garbage(request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"this is not bencode")

    app = web.Application()
    app.router.add_get("/t.torrent", serve)
    app.router.add_get("/404.torrent", not_found)
    app.router.add_get("/garbage.torrent", garbage)
    async with serving(app) as port:
        yield port


def tracker_magnet(infohash: str, name: str, password: str) -> str:
    tracker = urllib.parse.quote(f"http://{USERNAME}:{password}@127.0.0.1:{free_port()}/announce", safe="")
    return f"magnet:?xt=urn:btih:{infohash}&dn={name}&tr={tracker}"


def bad_urls(client: str, password: str, daemon_port: int) -> list[tuple[str, str]]:
    """URLs with `password` in them that fail to parse, or parse in surprising ways."""
    specials = f"{password}/{password}@{password}:{password}"
    found = [
        ("bad port", f"{USERNAME}:{password}@127.0.0.1:99999"),
        ("port not a number", f"{USERNAME}:{password}@127.0.0.1:port"),
        ("unclosed bracket", f"{USERNAME}:{password}@[::1"),
        ("no host", f"{USERNAME}:{password}@:{daemon_port}"),
        ("query", f"{USERNAME}:{password}@127.0.0.1:{daemon_port}/?q=1"),
        ("fragment", f"{USERNAME}:{password}@127.0.0.1:{daemon_port}#top"),
        ("path", f"{USERNAME}:{password}@127.0.0.1:{daemon_port}/some/path"),
        ("special characters", f"{USERNAME}:{specials}@127.0.0.1:{daemon_port}"),
        ("special characters, http", f"http://{USERNAME}:{specials}@127.0.0.1:{daemon_port}"),
        ("hash and question mark", f"{USERNAME}:{password}#?{password}@127.0.0.1:{daemon_port}"),
        ("unsupported scheme", f"ftp://{USERNAME}:{password}@127.0.0.1:{daemon_port}"),
        ("scgi with credentials", f"scgi://{USERNAME}:{password}@127.0.0.1:{daemon_port}"),
        ("https bad port", f"https://{USERNAME}:{password}@127.0.0.1:0x50"),
        ("empty username", f":{password}@127.0.0.1:{daemon_port}"),
        ("spaces", f"  {USERNAME}:{password}@127.0.0.1:{daemon_port}  "),
        ("newline", f"{USERNAME}:{password}@127.0.0.1:{daemon_port}\n/x"),
    ]
    return [(f"{client} {name}", url) for name, url in found]


# --- the API sweep -------------------------------------------------------------------------
async def test_no_password_in_any_output(
    target: Target,
    canary: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    recwarn: pytest.WarningsRecorder,
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="aiobtclientapi")
    real_password = target.make_api().url.password
    sweep = Sweep({"canary": canary, "real password": real_password or ""})
    client = target.client
    tls = tls_options(target)
    daemon_url = target.make_api().url
    daemon_port = daemon_url.port if target.daemon is not None and daemon_url.port else free_port()
    closed = free_port()

    torrents = [make_torrent(target.download_dir, tmp_path / "torrents") for _ in range(2)]
    magnet_torrent = make_torrent(target.download_dir, tmp_path / "torrents", keep_content=False)
    bare_torrent = make_torrent(target.download_dir, tmp_path / "torrents", keep_content=False)
    added = [t.infohash for t in (*torrents, magnet_torrent, bare_torrent)]

    async with torrent_server(torrents[1]) as web_port:

        def torrent_url(path: str, port: int = web_port) -> str:
            return f"http://{USERNAME}:{canary}@127.0.0.1:{port}{path}"

        inputs = Inputs(
            torrents=[
                str(torrents[0].torrent_path),
                torrent_url("/t.torrent"),
                tracker_magnet(magnet_torrent.infohash, magnet_torrent.name, canary),
                tracker_magnet("", "no infohash", canary),
                tracker_magnet("z" * 40, "bad infohash", canary),
                bare_torrent.infohash,
                torrent_url("/404.torrent"),
                torrent_url("/garbage.torrent"),
                torrent_url("/x.torrent", port=closed),
                f"http://{USERNAME}:{canary}@127.0.0.1:99999/x.torrent",
                f"https://{USERNAME}:{canary}@[::1/x.torrent",
                f"http://{USERNAME}:{canary}/{canary}@{canary}@127.0.0.1:{web_port}/404.torrent",
                str(tmp_path / "no-such-file.torrent"),
            ],
            infohashes=[*added, UNKNOWN],
            location=str(target.download_dir),
            raw_call=target.raw_call,
        )

        def wrong_password() -> APIBase:
            try:
                return target.make_api_wrong_password()
            except pytest.skip.Exception as exc:  # SCGI: nothing checks a password
                raise LookupError(str(exc)) from None

        canary_url = f"{USERNAME}:{canary}@127.0.0.1:{closed}"
        # Failures of every kind; each API object that can be made gets every operation.
        makers: dict[str, Callable[[], APIBase]] = {
            "canary password": lambda: api_with_password(target, canary),
            "wrong password": wrong_password,
            "closed port": target.make_api_closed_port,
            "closed port, canary in URL": lambda: aiobtclientapi.api(
                client, url_with(target, f"{USERNAME}:{canary}", port=closed), timeout=5, **tls
            ),
            "class, canary in URL": lambda: aiobtclientapi.api_class(client)(
                url_with(target, f"{USERNAME}:{canary}"), timeout=5, **tls
            ),
            "percent-encoded /@: password": lambda: aiobtclientapi.api(
                client,
                url_with(target, f"{USERNAME}:{urllib.parse.quote(f'{canary}/@:{canary}', safe='')}"),
                timeout=5,
                **tls,
            ),
            "password keyword with /@:": lambda: aiobtclientapi.api(
                client,
                url_with(target, f"{USERNAME}:x"),
                username=USERNAME,
                password=f"{canary}@{canary}:/{canary}",
                timeout=5,
                **tls,
            ),
            # URLs that don't parse, and bad options next to a canary URL: the constructor fails.
            **{
                name: functools.partial(aiobtclientapi.api, client, url, timeout=5, **tls)
                for name, url in bad_urls(client, canary, daemon_port)
            },
            "unknown client": lambda: aiobtclientapi.api("nosuchclient", canary_url),
            "bad timeout": lambda: aiobtclientapi.api(client, canary_url, timeout=-1),
            "bad fingerprint": lambda: aiobtclientapi.api(client, canary_url, tls_fingerprint="not hex"),
            "missing CA file": lambda: aiobtclientapi.api(client, canary_url, tls_ca_file=str(tmp_path / "no.pem")),
            "not a URL": lambda: aiobtclientapi.api(client, canary),
        }
        failing: dict[str, Outcome | None] = {}
        async with asyncio.timeout(600), target.make_api() as keeper:
            # The success path, with the real password.
            good = await exercise(sweep, "good", target.make_api(), inputs)
            for name, make in makers.items():
                failing[name] = await exercise_or_error(sweep, name, make, inputs)
                # A success in between: Transmission locks every client out (until it
                # restarts) after 100 failed logins in a row.
                await keeper.get_infohashes()

    await asyncio.sleep(0)
    gc.collect()  # "never retrieved" and "unclosed" reports are logged when objects die
    captured = capfd.readouterr()
    sweep.text("stdout", captured.out)
    sweep.text("stderr", captured.err)
    for warning in recwarn.list:
        sweep.text(f"warning {warning.category.__name__}", f"{warning.message} {warning.filename}:{warning.lineno}")
    sweep.records(caplog.records)
    sweep.text("caplog text", caplog.text)

    # Not vacuous: the operations ran, failed for the reasons given, and said where.
    assert isinstance(good.results["get_infohashes"], list), good.results["get_infohashes"]
    add_response = good.results["add"]
    assert isinstance(add_response, aiobtclientapi.AddResponse), add_response
    assert set(add_response.added) == set(added), add_response
    assert len(add_response.errors) >= 6, add_response.errors
    assert any(r.name == "aiobtclientapi" for r in caplog.records), "no log records from the library"
    assert any(r.levelno == logging.DEBUG and r.name == "aiobtclientapi" for r in caplog.records)
    closed_outcome = failing["closed port, canary in URL"]
    if closed_outcome is not None:
        connect_error = closed_outcome.results["connect"]
        assert isinstance(connect_error, aiobtclientapi.ConnectionError), connect_error
        assert f"127.0.0.1:{closed}" in str(connect_error), connect_error
    if has_authentication(target):
        outcome = failing["canary password"]
        assert outcome is not None
        connect_error = outcome.results["connect"]
        assert isinstance(connect_error, aiobtclientapi.AuthenticationError), connect_error
        assert ":***@" in str(connect_error), connect_error
    # Every API object that could not connect failed every operation, and said so.
    for name, outcome in failing.items():
        if outcome is None or not isinstance(outcome.results["connect"], aiobtclientapi.ConnectionError):
            continue
        for operation in ("add", "start", "stop", "verify"):
            response = outcome.results[operation]
            assert isinstance(response, Response) and response.errors, (name, operation, response)
        assert len(outcome.errors()) >= len(outcome.results) - 2, (name, outcome.results)  # not disconnect, async with
    constructor_failures = [where for where, _ in sweep.texts if where.endswith("constructor traceback")]
    assert len(constructor_failures) >= 10, constructor_failures
    joined = sweep.joined()
    assert f"127.0.0.1:{closed}" in joined  # the torrent URL on a closed port, named (masked)
    assert f"{USERNAME}:***@" in joined  # masked URLs do show
    assert "Invalid" in joined  # URL parse errors were captured
    sweep.assert_no_leaks()


# --- btclient --debug ----------------------------------------------------------------------
async def run_btclient(*args: str) -> subprocess.CompletedProcess[str]:
    """Run btclient without blocking the event loop the daemons' fixtures share."""
    process = await asyncio.create_subprocess_exec(
        BTCLIENT,
        *args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "120"},
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return subprocess.CompletedProcess(args, process.returncode, stdout.decode(), stderr.decode())


async def test_btclient_debug_shows_no_password(target: Target, canary: str, tmp_path: Path) -> None:
    real_password = target.make_api().url.password
    sweep = Sweep({"canary": canary, "real password": real_password or ""})
    client = target.client
    closed = free_port()
    # The in-process memory client can't be reached from another process: its runs use a closed port.
    good_url = target.url if target.daemon is not None else f"{USERNAME}:{canary}@127.0.0.1:{closed}"
    canary_url = url_with(target, f"{USERNAME}:{canary}")
    # SCGI has no credentials: its closed-port run goes without (the canary runs cover its parse errors).
    scgi = target.make_api().url.scheme == "scgi"
    closed_url = url_with(target, None if scgi else f"{USERNAME}:{canary}", port=closed)
    options = ["--debug", "--timeout", "10", *target.cli_options]
    torrent_url = f"http://{USERNAME}:{canary}@127.0.0.1:{closed}/x.torrent"
    magnet = tracker_magnet("1" * 40, "name", canary)
    runs: dict[str, tuple[list[str], int | None]] = {
        "get_infohashes": ([client, good_url, "get_infohashes"], 0),
        "canary password": ([client, canary_url, "get_infohashes"], None),
        "closed port": ([client, closed_url, "stop", UNKNOWN], 1),
        "add failing sources": (
            [client, good_url, "add", torrent_url, str(tmp_path / "missing.torrent"), magnet, "stopped=true"],
            1,
        ),
        "start unknown": ([client, good_url, "start", UNKNOWN], 1),
        "verify_wait unknown": ([client, good_url, "verify_wait", UNKNOWN, "interval=0.1"], 1),
        "raw call": ([client, good_url, "call", target.raw_call[0], *map(str, target.raw_call[1])], 0),
        "raw call unknown": ([client, good_url, "call", "no.such.method"], None),  # Transmission replies
        "bad port": ([client, f"{USERNAME}:{canary}@127.0.0.1:99999", "get_infohashes"], 2),
        "special characters": ([client, f"{USERNAME}:{canary}/@:{canary}@127.0.0.1:{closed}", "get_infohashes"], None),
        "bad keyword": ([client, canary_url, "add", "x.torrent", "stopped=off"], 2),
        "unknown method": ([client, canary_url, "nosuchmethod"], 2),
        "unknown client": (["nosuchclient", canary_url, "get_infohashes"], 2),
        "missing CA file": (["--tls-ca-file", str(tmp_path / "no.pem"), client, canary_url, "get_infohashes"], 2),
        "bad timeout": (["--timeout", "-1", client, canary_url, "get_infohashes"], 2),
    }
    if target.daemon is None:
        for name in ("get_infohashes", "start unknown", "verify_wait unknown", "raw call"):
            runs[name] = (runs[name][0], 1)  # a closed port
    # Two at a time: the machine is shared, and btclient's start-up dominates.
    slots = asyncio.Semaphore(2)

    async def run(name: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
        async with slots:
            return await run_btclient(*options, *argv)

    results = dict(zip(runs, await asyncio.gather(*(run(name, argv) for name, (argv, _) in runs.items())), strict=True))
    for name, result in results.items():
        sweep.text(f"btclient {name} stdout", result.stdout)
        sweep.text(f"btclient {name} stderr", result.stderr)

    # Not vacuous: each run ended as it should, and said something.
    codes = {name: result.returncode for name, result in results.items()}
    expected = {name: code for name, (_, code) in runs.items() if code is not None}
    assert {name: codes[name] for name in expected} == expected, {n: (r.stdout, r.stderr) for n, r in results.items()}
    assert all(result.stdout or result.stderr for result in results.values())
    debug_lines = results["get_infohashes"].stderr.splitlines()
    assert any(" DEBUG " in line for line in debug_lines), debug_lines
    assert f"127.0.0.1:{closed}" in results["closed port"].stdout
    assert f"127.0.0.1:{closed}" in results["add failing sources"].stdout
    assert "Traceback" not in sweep.joined()
    sweep.assert_no_leaks()
