"""The btclient command.

``btclient CLIENT URL METHOD [ARGS...]`` calls METHOD on an API object for
CLIENT at URL. ``KEY=VALUE`` arguments become keyword arguments, typed by the
parameter they feed (``stopped=yes`` a boolean, ``location=2024`` a path);
the rest are positional, and so is everything after ``--``. The exit status
is 0 when the call succeeded, 1 when it failed and 2 for a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from .._registry import URL_FORMATS
from .output import format_call, print_result

#: API methods btclient can call.
METHODS = ("add", "start", "stop", "verify", "verify_wait", "get_infohashes", "call")

_KEYWORD = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.DOTALL)


def _epilog() -> str:
    lines = ["clients and URL formats (upper-case words are placeholders, [] marks optional parts):"]
    for client, formats in sorted(URL_FORMATS.items()):
        lines.append(f"  {client}")
        lines.extend(f"    {fmt}" for fmt in formats)
    lines.append("")
    lines.append(f"methods: {', '.join(METHODS)}")
    lines.append("")
    lines.append("examples:")
    lines.append("  btclient qbittorrent 'user:pass@localhost:8080' get_infohashes")
    lines.append("  btclient transmission 'user:pass@localhost' add my.torrent stopped=true location=/data")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="btclient",
        description="Call an aiobtclientapi method on a BitTorrent client and print the response.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="print the library's log lines to stderr")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the client (default: 10)")
    parser.add_argument("--tls-ca-file", metavar="FILE", help="trust the CA certificates in this PEM file")
    parser.add_argument(
        "--tls-no-verify", action="store_true", help="don't verify the server's TLS certificate (insecure)"
    )
    parser.add_argument("client", metavar="CLIENT", help="deluge, qbittorrent, rtorrent or transmission")
    parser.add_argument("url", metavar="URL", help="client URL (see below)")
    parser.add_argument("method", metavar="METHOD", help="API method (see below)")
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
    if kind is float or "float" in str(kind):  # float, or Interval (float | (min, max))
        try:
            numbers = tuple(float(part) for part in text.split(","))
        except ValueError:
            raise UsageError(f"{method}: {name} must be a number (or MIN,MAX), not {text!r}") from None
        return numbers[0] if len(numbers) == 1 else numbers
    return text  # paths, locations, names: as typed


def _keyword_types(method: str) -> dict[str, Any]:
    """The keyword parameters of API method `method` and their types."""
    import inspect
    import typing

    from ..application.api import APIBase

    function = getattr(APIBase, method)
    hints = typing.get_type_hints(function)
    parameters = inspect.signature(function).parameters.values()
    return {p.name: hints.get(p.name) for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}


def split_arguments(method: str, args: Sequence[str]) -> tuple[list[Any], dict[str, Any]]:
    """Positional and keyword arguments for `method`, typed by the parameter each one feeds.

    ``KEY=VALUE`` is a keyword argument when KEY is one of the method's
    keyword parameters, and a positional one when it is an existing file or
    follows ``--``. ``call`` passes any keyword on, with booleans and numbers
    converted (the client's RPC decides what it takes).
    """
    keyword_types = {} if method == "call" else _keyword_types(method)
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
        elif name in keyword_types:
            keywords[name] = _typed(method, name, text, keyword_types[name])
        else:
            known = ", ".join(keyword_types) or "none"
            raise UsageError(f"{method}: unknown keyword argument {name!r} (known: {known}; use -- before a file name)")
    return positional, keywords


async def _run(client: str, url: str, method: str, args: Sequence[str], connection: dict[str, Any], out: TextIO) -> int:
    import aiobtclientapi

    try:
        positional, keywords = split_arguments(method, args)
    except UsageError as exc:
        print(f"btclient: error: {exc}", file=sys.stderr)
        return 2
    # Infohashes and paths stay strings; only call() passes typed positional values on.
    if method == "call":
        positional = [positional[0], *(parse_value(a) for a in positional[1:])] if positional else []
    try:
        api = aiobtclientapi.api(client, url, **connection)
    except aiobtclientapi.Error as exc:
        print(f">>> ERROR: {exc}", file=out)
        return 2

    def show_status(status: aiobtclientapi.ConnectionStatus) -> None:
        print(f">>> Connection status changed: {status}", file=out, flush=True)

    api.on_status_change(show_status)
    signature = format_call(method, positional, keywords)
    print(f">>> CALLING {signature}", file=out, flush=True)
    try:
        result: Any = getattr(api, method)(*positional, **keywords)
        if method == "verify_wait":
            await api.connect()  # an async generator runs only when iterated
            print(f">>> RESPONSE {signature}", file=out, flush=True)
            failed = False
            async for item in result:
                failed = failed or isinstance(item[1], aiobtclientapi.Error)
                print(f">>> * {item!r}", file=out, flush=True)
            return 1 if failed else 0
        result = await result
        print(f">>> RESPONSE {signature}", file=out, flush=True)
        print_result(result, out)
        if isinstance(result, aiobtclientapi.Response) and not result.success:
            return 1
        return 0
    except aiobtclientapi.Error as exc:
        print(f">>> ERROR: {type(exc).__name__}: {exc}", file=out, flush=True)
        return 1
    except TypeError as exc:  # wrong arguments for the method
        print(f">>> ERROR: {exc}", file=out, flush=True)
        return 2
    finally:
        await api.disconnect()


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    options = parser.parse_args(argv)
    if options.method not in METHODS:
        parser.error(f"unknown method {options.method!r} (choose from {', '.join(METHODS)})")
    if options.debug:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger = logging.getLogger("aiobtclientapi")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        connection = {
            "timeout": options.timeout,
            "tls_ca_file": options.tls_ca_file,
            "tls_verify": not options.tls_no_verify,
        }
        return asyncio.run(_run(options.client, options.url, options.method, options.args, connection, sys.stdout))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): nothing left to print to.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
