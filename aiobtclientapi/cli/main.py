"""The btclient command.

``btclient CLIENT URL METHOD [ARGS...]`` calls METHOD on an API object for
CLIENT at URL; ``btclient NAME METHOD [ARGS...]`` on the client named NAME in
the config file (see ``config``). ``KEY=VALUE`` arguments become keyword arguments, typed by the
parameter they feed (``stopped=yes`` a boolean, ``location=2024`` a path);
the rest are positional, and so is everything after ``--``. The exit status
is 0 when the call succeeded, 1 when it failed and 2 for a usage error.
``btclient transfer SOURCE TARGET [INFOHASH ...|--all] [OPTIONS]`` moves
torrents from one client to another (:func:`aiobtclientapi.transfer`), each
side given as ``CLIENT URL`` or ``NAME``.
``--json`` prints the result as JSON (see ``output.to_json``); ``watch`` runs
until Ctrl-C, which ends it with status 0.

A call starts quickly: ``--help``, usage errors, ``--list-clients`` and
``--completion`` import neither aiohttp nor the adapters, and the rest is
imported when the call needs it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import re
import signal
import sys
import textwrap
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from . import config
from .output import error_json, event_json, format_call, print_result, to_json

if TYPE_CHECKING:
    from ..application.api import APIBase

#: API methods btclient can call.
METHODS = (
    "add",
    "start",
    "stop",
    "verify",
    "verify_wait",
    "get_infohashes",
    "get_torrents",
    "watch",
    "remove",
    "move",
    "reannounce",
    "set_label",
    "set_limits",
    "get_session",
    "set_session_limits",
    "get_torrent_file",
    "call",
)

#: The command that takes two clients: ``btclient transfer SOURCE TARGET ...``.
TRANSFER = "transfer"

#: Seconds to wait for the client unless --timeout or the named client says otherwise.
DEFAULT_TIMEOUT = 10.0

_KEYWORD = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.DOTALL)


def _epilog() -> str:
    from .._registry import URL_FORMATS
    from ..domain.torrent import ATTRIBUTES
    from .tables import DEFAULT_COLUMNS

    lines = ["clients and URL formats (upper-case words are placeholders, [] marks optional parts):"]
    for client, formats in sorted(URL_FORMATS.items()):
        lines.append(f"  {client}")
        lines.extend(f"    {fmt}" for fmt in formats)
    lines.append("")
    lines.append(f"methods: {', '.join(METHODS)}")
    lines.append("")
    lines.append("  get_torrents [INFOHASH ...] [attributes=NAME,...]  a table of torrents (default columns:")
    lines.append(f"      {','.join(DEFAULT_COLUMNS)}); attributes:")
    lines.extend(textwrap.wrap(", ".join(ATTRIBUTES), width=90, initial_indent=" " * 6, subsequent_indent=" " * 6))
    lines.append("  watch [attributes=NAME,...] [interval=SECONDS]  one line per added/removed/changed torrent,")
    lines.append("      until Ctrl-C (exit status 0)")
    lines.append("  verify_wait INFOHASH ...  progress bars in a terminal, one line per report otherwise")
    lines.append("  remove INFOHASH ... [delete_data=true]   move INFOHASH ... location=FOLDER")
    lines.append("  set_label INFOHASH ... label=NAME (label= clears it)   reannounce INFOHASH ...")
    lines.append("  set_limits INFOHASH ... [down=BYTES/S] [up=BYTES/S] (none: unlimited)")
    lines.append("  get_session   set_session_limits [down=BYTES/S] [up=BYTES/S]")
    lines.append("  get_torrent_file INFOHASH  (--output FILE saves it)")
    lines.append("")
    lines.append("transfer SOURCE TARGET [INFOHASH ... | --all] [--remove-source] [--no-verify] [--path-map OLD=NEW]")
    lines.append("  moves torrents from the SOURCE client to the TARGET client, each given as CLIENT URL or NAME;")
    lines.append("  the options above go before transfer and apply to both (see btclient transfer --help)")
    lines.append("")
    lines.append("--json prints the result as JSON instead (watch and verify_wait: one object per line),")
    lines.append("without the >>> lines; timedeltas in seconds, datetimes ISO 8601 (UTC), an infinite ratio")
    lines.append('as "inf"; get_torrents and watch then fetch every attribute but files, trackers and peers')
    lines.append("unless attributes= says otherwise.")
    lines.append("")
    lines.append("named clients: [clients.NAME] tables in the config file (--config FILE, else")
    lines.append(f"  {config.default_path()}): client, url, username, timeout, tls_verify, tls_ca_file, proxy, and")
    lines.append("  one of password, password_env (a variable's name) or password_command (a list: program, arguments)")
    lines.append("")
    lines.append("passwords (the first given): the URL, --password-file, $" + config.PASSWORD_VARIABLE + ", the named")
    lines.append("  client's, else a prompt when the URL or named client has a user name and stdin is a terminal")
    lines.append("")
    lines.append("examples:")
    lines.append("  btclient seedbox get_infohashes")
    lines.append("  btclient --password-file ~/.qb-password qbittorrent 'user@localhost:8080' get_infohashes")
    lines.append("  btclient transmission 'user:pass@localhost' add my.torrent stopped=true location=/data")
    lines.append("  btclient deluge 'user:pass@localhost' get_torrents attributes=name,state,files")
    lines.append("  btclient --json rtorrent localhost:5000 watch interval=5")
    lines.append("  btclient transfer transmission 'user:pass@localhost' seedbox --all --remove-source")
    return "\n".join(lines)


class _Parser(argparse.ArgumentParser):
    """Builds its long epilog only when help is printed: it imports the URL formats and attributes."""

    def format_help(self) -> str:
        self.epilog = _epilog()
        return super().format_help()


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="btclient",
        usage="%(prog)s [OPTIONS] {CLIENT URL | NAME} METHOD [ARGS ...]\n"
        "       %(prog)s [OPTIONS] transfer SOURCE TARGET [INFOHASH ... | --all] [TRANSFER OPTIONS]",
        description="Call an aiobtclientapi method on a BitTorrent client and print the response,\n"
        "or move torrents from one client to another (transfer).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="print the library's log lines to stderr")
    parser.add_argument("--json", action="store_true", help="print the result as JSON (watch, verify_wait: JSON Lines)")
    parser.add_argument(
        "--timeout", type=float, default=None, help="seconds to wait for the client (default: the named client's or 10)"
    )
    parser.add_argument("--tls-ca-file", metavar="FILE", help="trust the CA certificates in this PEM file")
    parser.add_argument(
        "--proxy",
        metavar="URL",
        help="reach the client through this proxy: socks5://, socks4:// or http://[USER:PASSWORD@]HOST:PORT",
    )
    parser.add_argument("--output", metavar="FILE", help="save a file the method returns (get_torrent_file) here")
    parser.add_argument(
        "--tls-no-verify", action="store_true", help="don't verify the server's TLS certificate (insecure)"
    )
    parser.add_argument("--config", metavar="FILE", help="the config file with the named clients")
    parser.add_argument("--password-file", metavar="FILE", help="read the password from the first line of FILE")
    parser.add_argument("--list-clients", action="store_true", help="print the named clients and exit")
    parser.add_argument(
        "--completion", choices=("bash", "zsh"), help="print the shell completion script for bash or zsh and exit"
    )
    # What the completion scripts call: the candidates for the command line up to the cursor.
    parser.add_argument("--complete", metavar="LINE", help=argparse.SUPPRESS)
    parser.add_argument(
        "target", metavar="CLIENT", nargs="?", help="a client (then its URL), a named client, or transfer"
    )
    parser.add_argument("args", metavar="ARGS", nargs=argparse.REMAINDER, help="arguments, KEY=VALUE for keywords")
    return parser


def parse_value(text: str) -> Any:
    """A command-line value: booleans and numbers are converted, the rest stay strings."""
    lowered = text.lower()
    if lowered in ("true", "yes"):
        return True
    if lowered in ("false", "no"):
        return False
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


class UsageError(Exception):
    """A command line btclient can't run; the message says why, in one line."""


_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})


def _typed(method: str, name: str, text: str, kind: Any) -> Any:
    """`text` as the type of `method`'s parameter `name`."""
    if kind is bool:
        lowered = text.lower()
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        raise UsageError(f"{method}: {name} must be true/false/yes/no/1/0, not {text!r}")
    if "int" in str(kind) and "None" in str(kind):  # a rate limit: bytes/s, or none
        if text.lower() in ("none", "unlimited"):
            return None
        try:
            return int(text)
        except ValueError:
            raise UsageError(f"{method}: {name} must be bytes/s or none, not {text!r}") from None
    if kind is float or "float" in str(kind):  # float, or Interval (float | (min, max))
        try:
            numbers = tuple(float(part) for part in text.split(","))
        except ValueError:
            raise UsageError(f"{method}: {name} must be a number (or MIN,MAX), not {text!r}") from None
        return numbers[0] if len(numbers) == 1 else numbers
    return text  # paths, locations, names: as typed


def keyword_types(method: str) -> dict[str, Any]:
    """The keyword parameters of API method `method` and their types."""
    import inspect
    import typing

    from ..application.api import APIBase

    function = getattr(APIBase, method)
    hints = typing.get_type_hints(function)
    parameters = inspect.signature(function).parameters.values()
    # watch(attributes, interval) takes its options without a *: they count as keywords too.
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return {p.name: hints.get(p.name) for p in parameters if p.kind in kinds and p.name != "self"}


def split_arguments(method: str, args: Sequence[str]) -> tuple[list[Any], dict[str, Any]]:
    """Positional and keyword arguments for `method`, typed by the parameter each one feeds.

    ``KEY=VALUE`` is a keyword argument when KEY is one of the method's
    keyword parameters, and a positional one when it is an existing file or
    follows ``--``. ``call`` passes any keyword on, with booleans and numbers
    converted (the client's RPC decides what it takes).
    """
    types = {} if method == "call" else keyword_types(method)
    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            positional.extend(rest)
            break
        match = _KEYWORD.match(arg)
        if match is None or os.path.exists(arg):
            positional.append(arg)
            continue
        name, text = match.groups()
        if method == "call":
            keywords[name] = parse_value(text)
        elif name in types:
            keywords[name] = _typed(method, name, text, types[name])
        else:
            known = ", ".join(types) or "none"
            raise UsageError(f"{method}: unknown keyword argument {name!r} (known: {known}; use -- before a file name)")
    return positional, keywords


class _Context:
    """One run of btclient: where it prints, and how."""

    def __init__(self, out: TextIO, as_json: bool) -> None:
        self.out = out
        self.as_json = as_json
        # Where a line goes; a progress display swaps it to print above its bars.
        self.say: Callable[[str], None] = self.print

    def print(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def framing(self, line: str) -> None:
        """A line of the guide's ">>> " framing; --json prints nothing but JSON."""
        if not self.as_json:
            self.say(line)


def _torrent_attributes(method: str, keywords: dict[str, Any], as_json: bool) -> list[str] | None:
    """The table's columns for get_torrents/watch, and `keywords` set to ask for just those.

    The infohash is in every Torrent, so it is no attribute to ask for. --json
    asks for what the caller asked for, or the API's defaults.
    """
    from ..domain import errors
    from ..domain.torrent import parse_attributes
    from .tables import columns_for

    typed = keywords.get("attributes")
    if as_json and typed is None:
        return None
    columns = columns_for(typed)
    asked = [c for c in columns if c != "infohash"]
    try:
        parse_attributes(asked)
    except errors.ValueError as exc:
        raise UsageError(f"{method}: {exc}") from None
    keywords["attributes"] = asked
    return columns


@dataclasses.dataclass(kw_only=True)
class _Client:
    """A client the command line names, and how to reach it."""

    client: str
    url: str
    connection: dict[str, Any]
    named: config.NamedClient | None = None
    password_file: str | None = None


@dataclasses.dataclass(kw_only=True)
class _Call(_Client):
    """What the command line asks for: a method on a client, and how to reach it."""

    method: str
    args: list[str]


@dataclasses.dataclass(kw_only=True)
class _TransferCall:
    """``btclient transfer``: torrents to move from one client to another."""

    source: _Client
    target: _Client
    infohashes: list[str]
    all: bool
    remove_source: bool
    verify: bool
    path_map: dict[str, str]
    method: str = TRANSFER

    @property
    def clients(self) -> tuple[_Client, _Client]:
        return self.source, self.target


def _client(options: argparse.Namespace, first: str, words: list[str]) -> _Client:
    """The client `first` names (a client, then its URL popped from `words`, or a named client)."""
    from .._registry import CLIENTS

    named: config.NamedClient | None = None
    if first in CLIENTS:
        if not words:
            raise UsageError(f"{first}: the URL is missing")
        client, url = first, words.pop(0)
    else:
        clients = config.load(options.config)
        named = clients.get(first)
        if named is None:
            from ..domain import errors

            where = options.config or config.default_path()
            known = ", ".join(clients) or f"none in {where}"
            raise errors.ValueError(
                f"Unknown client: {first!r} (clients: {', '.join(CLIENTS)}; named clients: {known})"
            )
        client, url = named.client, named.url
    timeout = options.timeout if options.timeout is not None else (named.timeout if named else None)
    connection = {
        "timeout": timeout if timeout is not None else DEFAULT_TIMEOUT,
        "tls_ca_file": options.tls_ca_file or (named.tls_ca_file if named else None),
        "tls_verify": not options.tls_no_verify and (named.tls_verify if named else True),
        "proxy": options.proxy or (named.proxy if named else None),
    }
    return _Client(client=client, url=url, connection=connection, named=named, password_file=options.password_file)


def _call(options: argparse.Namespace) -> _Call:
    """The call `options` describe; UsageError or config.ConfigError when they describe none."""
    if options.target is None:
        raise UsageError("the following arguments are required: CLIENT URL or NAME, METHOD")
    words = list(options.args)
    client = _client(options, options.target, words)
    if not words:
        raise UsageError("the METHOD is missing")
    method = words.pop(0)
    if method not in METHODS:
        raise UsageError(f"unknown method {method!r} (choose from {', '.join(METHODS)})")
    return _Call(**vars(client), method=method, args=words)


# --- transfer ------------------------------------------------------------------------------------
_TRANSFER_DESCRIPTION = """\
Move torrents from the SOURCE client to the TARGET client: the .torrent file of
each is added to the target at the same save path (or the one --path-map makes of
it), with its label and its started or stopped state, and checked there. The source
stops a torrent before the target starts it. Nothing on disk is copied or moved:
the target must see the data, at the same path or a mapped one.

arguments:
  SOURCE, TARGET      each a client and its URL (CLIENT URL), or a named client (NAME)
  INFOHASH            a torrent of the source to move; --all moves every one"""

_TRANSFER_EPILOG = f"""\
btclient's options (--json, --timeout, --proxy, --tls-ca-file, --tls-no-verify,
--config, --password-file, --debug) go before "transfer" and apply to both
clients; a named client's own settings apply to its side. A password in a URL
or a named client's is that side's; --password-file and ${config.PASSWORD_VARIABLE}
give both sides the same one.

In a terminal a progress bar shows the step (reading, adding, verifying,
labeling, stopping, starting, removing) and how many torrents are through it.
Then the Response: TRANSFERRED, and ALREADY_TRANSFERRED with a warning each for
the torrents the target already had as a transfer leaves them. Running the same
command again finishes what an interrupted run left. Exit status: 0, 1 when the
Response has errors, 2 for a usage error.

examples:
  btclient transfer transmission 'user:pass@localhost' qbittorrent 'user:pass@localhost:8080' --all
  btclient transfer seedbox deluge 'user:pass@nas' 8f6e8660855b91fc3facee3845d3dd9e8def32de \\
      --remove-source --path-map /srv/torrents=/data/torrents"""


class _TransferParser(argparse.ArgumentParser):
    """Reports what is wrong as a UsageError: one line, like the rest of btclient's usage errors."""

    def error(self, message: str) -> Any:
        if message.startswith("unrecognized arguments"):
            message += " (btclient's own options go before transfer)"
        raise UsageError(f"{TRANSFER}: {message}")


def _transfer_parser() -> argparse.ArgumentParser:
    parser = _TransferParser(
        prog=f"btclient [OPTIONS] {TRANSFER}",
        usage="%(prog)s SOURCE TARGET [INFOHASH ... | --all] [--remove-source] [--no-verify] [--path-map OLD=NEW ...]",
        description=_TRANSFER_DESCRIPTION,
        epilog=_TRANSFER_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("words", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--all", action="store_true", help="move every torrent of the source")
    parser.add_argument(
        "--remove-source",
        action="store_true",
        help="remove each torrent from the source once the target has it complete (never its data)",
    )
    parser.add_argument(
        "--no-verify",
        action="store_true",
        help="skip the target's check of torrents the source has complete, where the target can "
        "(Transmission always checks)",
    )
    parser.add_argument(
        "--path-map",
        metavar="OLD=NEW",
        action="append",
        default=[],
        help="a path under OLD on the source is under NEW on the target (absolute folders; repeat for more, "
        "the longest OLD wins)",
    )
    return parser


def _path_map(texts: Sequence[str]) -> dict[str, str]:
    """``--path-map OLD=NEW`` options as transfer()'s `path_map`; a UsageError for a malformed one."""
    from ..domain import errors
    from ..domain.paths import parse_path_map

    path_map: dict[str, str] = {}
    for text in texts:
        old, equals, new = text.partition("=")
        if not equals or not old or not new:
            raise UsageError(f"{TRANSFER}: --path-map takes OLD=NEW, not {text!r}")
        if old in path_map:
            raise UsageError(f"{TRANSFER}: --path-map maps {old!r} twice")
        path_map[old] = new
    try:
        parse_path_map(path_map)
    except errors.ValueError as exc:
        raise UsageError(f"{TRANSFER}: --path-map: {exc}") from None
    return path_map


def _transfer_call(options: argparse.Namespace) -> _TransferCall:
    """The transfer ``btclient transfer ...`` (`options`) describes; UsageError, config.ConfigError if none."""
    parsed = _transfer_parser().parse_intermixed_args(options.args)
    words: list[str] = list(parsed.words)
    sides: list[_Client] = []
    for side in ("SOURCE", "TARGET"):
        if not words:
            raise UsageError(f"{TRANSFER}: the {side} is missing (CLIENT URL or NAME)")
        sides.append(_client(options, words.pop(0), words))
    if words and parsed.all:
        raise UsageError(f"{TRANSFER}: give INFOHASHes or --all, not both")
    if not words and not parsed.all:
        raise UsageError(f"{TRANSFER}: which torrents? Give their INFOHASHes, or --all")
    return _TransferCall(
        source=sides[0],
        target=sides[1],
        infohashes=words,
        all=parsed.all,
        remove_source=parsed.remove_source,
        verify=not parsed.no_verify,
        path_map=_path_map(parsed.path_map),
    )


# --- running a call ------------------------------------------------------------------------------
def _credentials(call: _Client, stdin: TextIO) -> tuple[str | None, str | None]:
    """``username``/``password`` arguments for api(): the named client's user, a password from elsewhere.

    Nothing when the URL holds a password. A prompt when a user name is known
    but no password, and stdin is a terminal.
    """
    from .._registry import parse_url

    username = call.named.username if call.named else None
    parsed = parse_url(call.client, call.url, username)
    if parsed.password is not None:
        return username, None
    password = config.find_password(call.named, call.password_file)
    if password is None and parsed.username is not None and stdin.isatty():
        password = config.prompt_password(f"Password for {parsed.username} at {parsed}: ")
    return username, password


def _speaks_http(call: _Client | _TransferCall) -> bool:
    """Whether the call goes over HTTP (Deluge and rTorrent's SCGI don't: they never import aiohttp)."""
    from .._registry import parse_url
    from ..domain import errors

    if isinstance(call, _TransferCall):
        return any(_speaks_http(side) for side in call.clients)
    try:
        return parse_url(call.client, call.url).scheme in ("http", "https")
    except errors.Error:
        return False  # the call reports it


def _import_aiohttp() -> None:
    """Import aiohttp without its default TLS contexts reading the system's CA certificates.

    aiohttp builds two default contexts when it is imported, and each reads
    the CA bundle: a third of a btclient call's start. btclient never uses
    them: every HTTPS connection gets a context of its own from the adapters'
    ``_tls`` module, which reads the bundle when a connection needs it. A
    connection that did use a default context would fail verification, never
    pass it unverified. Only btclient does this: it owns its process, while
    the library shares one with its host.
    """
    if "aiohttp" in sys.modules:
        return
    import ssl

    def no_default_certificates(context: ssl.SSLContext) -> None:
        return None

    ssl.SSLContext.set_default_verify_paths = no_default_certificates  # type: ignore[method-assign,assignment]
    try:
        import aiohttp  # noqa: F401
    finally:
        del ssl.SSLContext.set_default_verify_paths


def _make_api(client: _Client, context: _Context, stdin: TextIO | None) -> APIBase | int:
    """The API object for `client`, or the exit status after saying why there is none."""
    import aiobtclientapi

    try:
        username, password = _credentials(client, stdin or sys.stdin)
        return aiobtclientapi.api(client.client, client.url, username=username, password=password, **client.connection)
    except config.ConfigError as exc:
        print(f"btclient: error: {exc}", file=sys.stderr)
        return 2
    except aiobtclientapi.Error as exc:
        if context.as_json:
            context.print(error_json(exc))
        else:
            context.print(f">>> ERROR: {exc}")
        return 2


def _raised(exc: Exception, context: _Context) -> int:
    """Report an error a call raised; its exit status."""
    import aiobtclientapi

    if context.as_json:
        context.print(error_json(exc))
    elif isinstance(exc, aiobtclientapi.Error):
        context.say(f">>> ERROR: {type(exc).__name__}: {exc}")
    else:
        context.say(f">>> ERROR: {exc}")
    # A ValueError is a bad argument (an infohash, an attribute), a TypeError wrong arguments
    # for the method: usage errors.
    return 2 if isinstance(exc, aiobtclientapi.ValueError | TypeError) else 1


async def _run(call: _Call, out: TextIO, as_json: bool, output: str | None = None, stdin: TextIO | None = None) -> int:
    method = call.method
    context = _Context(out, as_json)
    try:
        positional, keywords = split_arguments(method, call.args)
        if method == "watch" and positional:
            raise UsageError(f"watch: takes no infohashes or other positional arguments, got {positional[0]!r}")
        columns = _torrent_attributes(method, keywords, as_json) if method in ("get_torrents", "watch") else None
    except UsageError as exc:
        print(f"btclient: error: {exc}", file=sys.stderr)
        return 2
    # Infohashes and paths stay strings; only call() passes typed positional values on.
    if method == "call":
        positional = [positional[0], *(parse_value(a) for a in positional[1:])] if positional else []
    import aiobtclientapi

    api = _make_api(call, context, stdin)
    if isinstance(api, int):
        return api

    def show_status(status: aiobtclientapi.ConnectionStatus) -> None:
        context.framing(f">>> Connection status changed: {status}")

    unsubscribe = api.on_status_change(show_status)
    signature = format_call(method, positional, keywords)
    context.framing(f">>> CALLING {signature}")
    try:
        if method == "verify_wait":
            await api.connect()  # an async generator runs only when iterated
            context.framing(f">>> RESPONSE {signature}")
            return await _verify_wait(api, positional, keywords, context)
        if method == "watch":
            await api.connect()
            context.framing(f">>> RESPONSE {signature}")
            return await _until_interrupted(_watch(api, keywords, context))
        result = await getattr(api, method)(*positional, **keywords)
        context.framing(f">>> RESPONSE {signature}")
        if isinstance(result, bytes) and output is not None:
            with open(output, "wb") as file:
                file.write(result)
            context.framing(f">>> Saved {len(result)} bytes to {output}")
        elif as_json:
            context.print(to_json(result))
        elif method == "get_torrents":
            from .tables import print_torrents

            assert columns is not None
            print_torrents(result, columns, out)
        else:
            print_result(result, out)
        if isinstance(result, aiobtclientapi.Response) and not result.success:
            return 1
        return 0
    except (aiobtclientapi.Error, TypeError) as exc:
        return _raised(exc, context)
    finally:
        await api.disconnect()
        unsubscribe()


class _Expression:
    """Python source shown as it is in a CALLING line."""

    def __init__(self, source: str) -> None:
        self.source = source

    def __repr__(self) -> str:
        return self.source


async def _run_transfer(call: _TransferCall, out: TextIO, as_json: bool, stdin: TextIO | None = None) -> int:
    """``btclient transfer``: aiobtclientapi.transfer() between two clients, a progress bar in a terminal."""
    import aiobtclientapi

    context = _Context(out, as_json)
    source = _make_api(call.source, context, stdin)
    if isinstance(source, int):
        return source
    target = _make_api(call.target, context, stdin)
    if isinstance(target, int):
        return target

    def status_of(side: str) -> Callable[[aiobtclientapi.ConnectionStatus], None]:
        def show_status(status: aiobtclientapi.ConnectionStatus) -> None:
            context.framing(f">>> Connection status changed: {status} ({side})")

        return show_status

    unsubscribe = [source.on_status_change(status_of("source")), target.on_status_change(status_of("target"))]
    keywords: dict[str, Any] = {}
    if call.remove_source:
        keywords["remove_source"] = True
    if not call.verify:
        keywords["verify"] = False
    if call.path_map:
        keywords["path_map"] = call.path_map
    infohashes: list[Any] = [_Expression("*source.get_infohashes()")] if call.all else list(call.infohashes)
    signature = format_call(TRANSFER, [source, target, *infohashes], keywords)
    context.framing(f">>> CALLING {signature}")
    bar: contextlib.AbstractContextManager[Callable[[Any], object] | None] = contextlib.nullcontext()
    if not as_json and out.isatty():
        try:
            from .progress import transfer_progress
        except ImportError:  # no rich: no bar
            pass
        else:
            bar = transfer_progress(context)
    try:
        with bar as on_progress:
            if call.all:
                infohashes = list(await source.get_infohashes())
            response = await aiobtclientapi.transfer(
                source,
                target,
                *infohashes,
                remove_source=call.remove_source,
                verify=call.verify,
                path_map=call.path_map or None,
                on_progress=on_progress,
            )
        context.framing(f">>> RESPONSE {signature}")
        if as_json:
            context.print(to_json(response))
        else:
            print_result(response, out)
        return 0 if response.success else 1
    except aiobtclientapi.Error as exc:
        return _raised(exc, context)
    finally:
        await source.disconnect()
        await target.disconnect()
        for stop in unsubscribe:
            stop()


async def _verify_wait(api: Any, positional: list[Any], keywords: dict[str, Any], context: _Context) -> int:
    """Progress bars in a terminal (with rich), else one line per progress report."""
    from ..domain import errors

    updates = api.verify_wait(*positional, **keywords)
    if not context.as_json and context.out.isatty():
        try:
            from .progress import show_verify_progress
        except ImportError:  # no rich: the lines below
            pass
        else:
            return await show_verify_progress(api, [str(p) for p in positional], updates, context)
    failed = False
    async for infohash, value in updates:
        failed = failed or isinstance(value, errors.Error)
        if context.as_json:
            key = "error" if isinstance(value, errors.Error) else "progress"
            context.print(to_json({"infohash": infohash, key: value}))
        else:
            context.say(f">>> * {(infohash, value)!r}")
    return 1 if failed else 0


async def _watch(api: Any, keywords: dict[str, Any], context: _Context) -> int:
    """Print watch() events until cancelled (Ctrl-C) or an error ends the watch."""
    from contextlib import aclosing
    from datetime import UTC, datetime

    from .tables import WatchLines

    line = WatchLines()
    # aclosing: a cancelled watch still closes its feed before btclient disconnects.
    async with aclosing(api.watch(**keywords)) as events:
        async for event in events:
            if context.as_json:
                context.print(event_json(event, datetime.now(UTC)))
            else:
                context.say(f">>> {line(event)}")
    return 0


async def _until_interrupted(work: Coroutine[Any, Any, int]) -> int:
    """Run `work` until it ends or SIGINT (Ctrl-C) arrives; an interrupt ends it with status 0."""
    loop = asyncio.get_running_loop()
    interrupted = asyncio.Event()
    previous = signal.getsignal(signal.SIGINT)
    try:
        loop.add_signal_handler(signal.SIGINT, interrupted.set)
    except (NotImplementedError, RuntimeError, ValueError):  # no signals here: KeyboardInterrupt, see main()
        return await work
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(interrupted.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return 0
    finally:
        waiter.cancel()
        task.cancel()
        loop.remove_signal_handler(signal.SIGINT)
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _list_clients(options: argparse.Namespace, out: TextIO) -> int:
    """The named clients, a line each: name, client, URL (its password masked)."""
    from ..domain.url import mask_password

    clients = config.load(options.config)
    width = max((len(name) for name in clients), default=0)
    for name, named in clients.items():
        through = f"  via {mask_password(named.proxy)}" if named.proxy else ""
        print(f"{name:<{width}}  {named.client:<12}  {mask_password(named.url)}{through}", file=out)
    return 0


def _command(options: argparse.Namespace, out: TextIO) -> int | _Call | _TransferCall:
    """Run what needs no client (--list-clients, --completion, --complete), or the call to make."""
    from ..domain import errors

    try:
        if options.list_clients:
            return _list_clients(options, out)
        if options.completion is not None:
            from .completion import script

            out.write(script(options.completion))
            return 0
        if options.complete is not None:
            from .completion import candidates

            for candidate in candidates(options.complete):
                print(candidate, file=out)
            return 0
        if options.target == TRANSFER:
            return _transfer_call(options)
        return _call(options)
    except (UsageError, config.ConfigError) as exc:
        print(f"btclient: error: {exc}", file=sys.stderr)
        return 2
    except errors.Error as exc:  # an unknown client, as api() reports it
        print(error_json(exc) if options.json else f">>> ERROR: {exc}", file=out)
        return 2


async def amain(argv: Sequence[str], out: TextIO, stdin: TextIO | None = None) -> int:
    """btclient inside a running event loop, printing to `out`: for tests and embedding."""
    options = _parser().parse_args(argv)
    call = _command(options, out)
    if isinstance(call, int):
        return call
    return await _execute(call, out, options, stdin)


def _execute(
    call: _Call | _TransferCall, out: TextIO, options: argparse.Namespace, stdin: TextIO | None = None
) -> Coroutine[Any, Any, int]:
    if isinstance(call, _TransferCall):
        return _run_transfer(call, out, options.json, stdin)
    return _run(call, out, options.json, options.output, stdin)


def main(argv: Sequence[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    call = _command(options, sys.stdout)
    if isinstance(call, int):
        return call
    if options.debug:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger = logging.getLogger("aiobtclientapi")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    if _speaks_http(call):
        _import_aiohttp()
    try:
        return asyncio.run(_execute(call, sys.stdout, options))
    except KeyboardInterrupt:
        # watch ends with Ctrl-C by design (this covers a Ctrl-C before its handler is set up).
        return 0 if call.method == "watch" else 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): nothing left to print to.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def run() -> None:
    """The ``btclient`` command: :func:`main`, then the quickest exit.

    Tearing the interpreter down (freeing aiohttp's hundreds of objects and
    modules) takes a sixth of a short call. btclient has nothing left to
    finalize by then (the event loop is closed, files are closed), so it
    flushes its output and leaves with ``os._exit``. :func:`main` itself
    returns, for callers in the same process.
    """
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        code = code or 1
    os._exit(code)
