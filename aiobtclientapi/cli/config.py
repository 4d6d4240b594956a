"""btclient's config file and the ways to give it a password.

Named clients live in ``$XDG_CONFIG_HOME/btclient/config.toml`` (else
``~/.config/btclient/config.toml``), or the file ``--config`` names::

    [clients.seedbox]
    client = "qbittorrent"
    url = "https://box.example:8080"
    username = "me"
    password_command = ["pass", "show", "seedbox"]   # or password = "…", or password_env = "SEEDBOX_PW"
    timeout = 20

A password comes from the first of: the URL, ``--password-file``, the
``BTCLIENT_PASSWORD`` environment variable, the named client's
``password``/``password_env``/``password_command``, and a prompt (without
echo) when a user name is known and stdin is a terminal.

A file holding a password must not be readable by group or others, and one
with a ``password_command`` must not be writable by them (it runs that
command): btclient refuses it and says how to fix it, as ssh does.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The environment variable btclient takes a password from.
PASSWORD_VARIABLE = "BTCLIENT_PASSWORD"

#: How long a password_command may take.
PASSWORD_COMMAND_TIMEOUT = 60.0

_CLIENTS = ("deluge", "qbittorrent", "rtorrent", "transmission")
#: btclient's commands (``btclient transfer ...``): no named client may be called like one.
_COMMANDS = ("transfer",)
_PASSWORD_KEYS = ("password", "password_env", "password_command")


class ConfigError(Exception):
    """A config file or password source btclient can't use; the message says why, in one line."""


@dataclass(frozen=True)
class NamedClient:
    """One ``[clients.NAME]`` table."""

    name: str
    client: str
    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    password_env: str | None = None
    password_command: tuple[str, ...] | None = None
    timeout: float | None = None
    tls_verify: bool = True
    tls_ca_file: str | None = None
    proxy: str | None = field(default=None, repr=False)


def default_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/btclient/config.toml``, else ``~/.config/btclient/config.toml``."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "btclient" / "config.toml"


def load(path: str | os.PathLike[str] | None = None) -> dict[str, NamedClient]:
    """The named clients in `path` (the default file when None; no file there: none).

    A file `path` names must exist.
    """
    import tomllib

    chosen = Path(path) if path is not None else default_path()
    try:
        with open(chosen, "rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            document = tomllib.load(file)
    except FileNotFoundError:
        if path is None:
            return {}
        raise ConfigError(f"config file {chosen} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"can't read config file {chosen}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{chosen} is not valid TOML: {exc}") from None
    clients = _parse(document, chosen)
    _check_permissions(clients.values(), chosen, mode)
    return clients


def _parse(document: dict[str, Any], path: Path) -> dict[str, NamedClient]:
    unknown = set(document) - {"clients"}
    if unknown:
        raise ConfigError(f"{path}: unknown table or key {sorted(unknown)[0]!r} (named clients go in [clients.NAME])")
    tables = document.get("clients", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{path}: 'clients' must be a table of [clients.NAME] tables")
    return {name: _named_client(name, table, path) for name, table in tables.items()}


_TYPES: dict[str, tuple[type, ...]] = {
    "client": (str,),
    "url": (str,),
    "username": (str,),
    "password": (str,),
    "password_env": (str,),
    "password_command": (list,),
    "timeout": (int, float),
    "tls_verify": (bool,),
    "tls_ca_file": (str,),
    "proxy": (str,),
}


def _named_client(name: str, table: Any, path: Path) -> NamedClient:
    where = f"{path}: [clients.{name}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    if name in _CLIENTS:
        raise ConfigError(f"{where}: {name!r} is a client's name; call the named client something else")
    if name in _COMMANDS:
        raise ConfigError(f"{where}: {name!r} is a btclient command; call the named client something else")
    for key, value in table.items():
        if key not in _TYPES:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(_TYPES)})")
        if (isinstance(value, bool) and bool not in _TYPES[key]) or not isinstance(value, _TYPES[key]):
            raise ConfigError(f"{where}: {key} has the wrong type ({type(value).__name__})")
    for required in ("client", "url"):
        if required not in table:
            raise ConfigError(f"{where}: {required} is missing")
    if table["client"] not in _CLIENTS:
        raise ConfigError(f"{where}: unknown client {table['client']!r} (choose from {', '.join(_CLIENTS)})")
    given = [key for key in _PASSWORD_KEYS if key in table]
    if len(given) > 1:
        raise ConfigError(f"{where}: give one of {', '.join(_PASSWORD_KEYS)}, not {' and '.join(given)}")
    command = table.get("password_command")
    if command is not None and (not command or not all(isinstance(part, str) for part in command)):
        raise ConfigError(f"{where}: password_command must be a list of strings, the program first")
    timeout = table.get("timeout")
    if timeout is not None and not timeout > 0:
        raise ConfigError(f"{where}: timeout must be more than 0 seconds")
    return NamedClient(
        name=name,
        client=table["client"],
        url=table["url"],
        username=table.get("username"),
        password=table.get("password"),
        password_env=table.get("password_env"),
        password_command=tuple(command) if command is not None else None,
        timeout=float(timeout) if timeout is not None else None,
        tls_verify=table.get("tls_verify", True),
        tls_ca_file=table.get("tls_ca_file"),
        proxy=table.get("proxy"),
    )


def _urls_hold_password(named: NamedClient, path: Path) -> bool:
    """Whether the named client's URL or proxy URL holds a password, parsed as its API parses them."""
    from .._registry import parse_url
    from ..domain import errors
    from ..domain.url import parse_proxy_url

    try:
        in_url = parse_url(named.client, named.url).password is not None
        return in_url or (named.proxy is not None and parse_proxy_url(named.proxy).password is not None)
    except errors.ValueError as exc:  # its message masks the password
        raise ConfigError(f"{path}: [clients.{named.name}]: {exc}") from None


def _check_permissions(clients: Any, path: Path, mode: int) -> None:
    # Every URL is parsed: one the client's API would refuse is a mistake in the file.
    in_urls = [_urls_hold_password(c, path) for c in clients]
    holds_password = any(in_urls) or any(c.password is not None for c in clients)
    runs_command = any(c.password_command is not None for c in clients)
    permissions = stat.S_IMODE(mode)
    fix = f"run: chmod 600 {path}"
    if holds_password and permissions & 0o044:
        raise ConfigError(f"{path} holds a password and is readable by others (mode {permissions:04o}); {fix}")
    if runs_command and permissions & 0o022:
        raise ConfigError(f"{path} runs a password_command and is writable by others (mode {permissions:04o}); {fix}")


def read_password_file(path: str) -> str:
    """The first line of `path`, without its line break."""
    try:
        with open(path, encoding="utf-8") as file:
            return file.readline().rstrip("\r\n")
    except OSError as exc:
        raise ConfigError(f"can't read password file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"password file {path} is not UTF-8 text") from None


def named_password(named: NamedClient, environ: Mapping[str, str] | None = None) -> str | None:
    """The password the named client's table gives, if any."""
    environ = os.environ if environ is None else environ
    if named.password is not None:
        return named.password
    if named.password_env is not None:
        if named.password_env not in environ:
            raise ConfigError(f"[clients.{named.name}]: password_env {named.password_env} is not set")
        return environ[named.password_env]
    if named.password_command is not None:
        return _run_password_command(named.name, named.password_command)
    return None


def _run_password_command(name: str, command: tuple[str, ...]) -> str:
    where = f"[clients.{name}]: password_command {command[0]!r}"
    try:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=PASSWORD_COMMAND_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise ConfigError(f"{where} not found") from None
    except subprocess.TimeoutExpired:
        raise ConfigError(f"{where} did not finish within {PASSWORD_COMMAND_TIMEOUT:g} s") from None
    except OSError as exc:
        raise ConfigError(f"{where} can't run: {exc.strerror}") from None
    if done.returncode != 0:
        # Its error output, never its standard output (which may hold the password).
        said = done.stderr.strip().splitlines()
        raise ConfigError(f"{where} failed with exit status {done.returncode}" + (f": {said[-1]}" if said else ""))
    return done.stdout.partition("\n")[0].rstrip("\r")


def find_password(
    named: NamedClient | None,
    password_file: str | None,
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """The password from ``--password-file``, ``BTCLIENT_PASSWORD`` or the named client, in that order."""
    environ = os.environ if environ is None else environ
    if password_file is not None:
        return read_password_file(password_file)
    if PASSWORD_VARIABLE in environ:
        return environ[PASSWORD_VARIABLE]
    if named is not None:
        return named_password(named, environ)
    return None


def prompt_password(prompt: str, ask: Callable[[str], str] | None = None) -> str:
    """Ask for a password on the terminal, without echo."""
    if ask is None:
        import getpass

        ask = getpass.getpass
    try:
        return ask(prompt)
    except EOFError:
        raise ConfigError("no password given") from None
