"""Client URLs: one format per client, parsed and validated once."""

from __future__ import annotations

import contextlib
import re
import urllib.parse

import msgspec

from . import errors


class SchemeRules(msgspec.Struct, frozen=True, kw_only=True):
    """What one URL scheme of a client allows.

    ``port``: the default port. ``path``: the default path, or ``None`` when
    the URL may have no path. ``auth``: whether credentials are allowed.
    ``socket``: the URL is a unix socket path, not host and port.
    """

    port: int | None = None
    path: str | None = None
    auth: bool = True
    socket: bool = False


class UrlRules(msgspec.Struct, frozen=True, kw_only=True):
    """One client's URL format: its schemes and their defaults.

    ``formats`` documents it (upper-case words are placeholders, square
    brackets mark optional parts). ``scheme_prefix``: whether a URL may
    start with ``scheme://``; without one it has ``default_scheme``, or the
    socket scheme when it has a ``/`` and the client has one.
    """

    client: str
    formats: tuple[str, ...]
    default_scheme: str
    schemes: dict[str, SchemeRules]
    scheme_prefix: bool = True

    @property
    def socket_scheme(self) -> str | None:
        return next((name for name, rules in self.schemes.items() if rules.socket), None)


_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


class ClientURL:
    """A parsed client URL. Immutable.

    The password never shows: ``str()`` and ``repr()`` mask it, and the class
    is deliberately not a dataclass or Struct, so encoders (msgspec, json)
    and pretty-printers (rich, pprint) refuse it or show its ``repr()``.
    """

    __slots__ = ("client", "host", "password", "path", "port", "scheme", "username")

    client: str
    scheme: str
    host: str
    port: int | None
    path: str
    username: str | None
    password: str | None

    def __init__(
        self,
        *,
        client: str,
        scheme: str,
        host: str = "",
        port: int | None = None,
        path: str = "",
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        for name, value in (
            ("client", client),
            ("scheme", scheme),
            ("host", host),
            ("port", port),
            ("path", path),
            ("username", username),
            ("password", password),
        ):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _key(self) -> tuple[object, ...]:
        return (self.client, self.scheme, self.host, self.port, self.path, self.username, self.password)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ClientURL) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __copy__(self) -> ClientURL:
        return self  # immutable

    def __deepcopy__(self, memo: dict[int, object]) -> ClientURL:
        return self

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("ClientURL holds a password: it is not pickled")

    @property
    def is_socket(self) -> bool:
        return self.scheme == "file"

    @property
    def base(self) -> str:
        """scheme://host:port (no credentials, no path)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def __str__(self) -> str:
        if self.is_socket:
            # A socket path is shown as given, except what looks like credentials:
            # "user:pass@host:5000/RPC2" without a scheme is a socket path for
            # rTorrent, and its password must not show.
            return f"file://{mask_password(self.path)}"
        user = f"{self.username}:***@" if self.username or self.password else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{user}{host}{port}{self.path}"

    def __repr__(self) -> str:
        return f"ClientURL({str(self)!r})"


def parse_client_url(
    rules: UrlRules,
    url: str,
    username: str | None = None,
    password: str | None = None,
) -> ClientURL:
    """Parse `url` by a client's `rules`; `username`/`password` override the URL's."""
    client = rules.client
    if not isinstance(url, str) or not url.strip():
        raise errors.ValueError(f"Invalid {client} URL: empty")
    text = url.strip()
    match = _SCHEME.match(text)
    scheme = match.group(1).lower() if match else rules.default_scheme
    if scheme not in rules.schemes:
        raise errors.ValueError(f"Invalid {client} URL: unsupported scheme: {scheme}")
    if match and not rules.scheme_prefix:
        raise errors.ValueError(f"Invalid {client} URL: no scheme allowed: {mask_password(text)}")

    socket_scheme = rules.socket_scheme
    if socket_scheme is not None and (scheme == socket_scheme or (not match and "/" in text)):
        path = text[match.end() :] if match else text
        if not path:
            raise errors.ValueError(f"Invalid {client} URL: empty socket path")
        return ClientURL(client=client, scheme=socket_scheme, path=path)

    scheme_rules = rules.schemes[scheme]
    rest = text[match.end() :] if match else text
    # urllib's errors are suppressed and ours raised afterwards, so that theirs
    # are neither cause nor context: their messages quote parts of the URL, and
    # a password holding "/", "?" or "#" ends up there ("Port could not be cast
    # to integer value as '<part of the password>'").
    problem = "invalid host"  # builtins.ValueError from urllib, e.g. "[::1"
    with contextlib.suppress(ValueError):
        parts = urllib.parse.urlsplit("//" + rest)
        problem = "invalid port"
        port = parts.port
        problem = ""
    if problem:
        raise errors.ValueError(f"Invalid {client} URL: {problem}: {mask_password(text)}")
    host = parts.hostname or ""
    if not host:
        raise errors.ValueError(f"Invalid {client} URL: no host: {mask_password(text)}")
    if parts.query or parts.fragment:
        raise errors.ValueError(f"Invalid {client} URL: unexpected query: {mask_password(text)}")
    path = parts.path
    if path and scheme_rules.path is None:
        raise errors.ValueError(f"Invalid {client} URL: no path allowed: {mask_password(text)}")
    url_user = urllib.parse.unquote(parts.username) if parts.username is not None else None
    url_pass = urllib.parse.unquote(parts.password) if parts.password is not None else None
    if not scheme_rules.auth and (url_user or url_pass):
        raise errors.ValueError(f"Invalid {client} URL: {scheme.upper()} has no authentication")
    return ClientURL(
        client=client,
        scheme=scheme,
        host=host,
        port=port if port is not None else scheme_rules.port,
        path=path or scheme_rules.path or "",
        username=username if username is not None else url_user,
        password=password if password is not None else url_pass,
    )


#: Proxy URLs: ``socks5://``, ``socks4://`` or ``http://`` (HTTP CONNECT), a port always.
PROXY_URL_RULES = UrlRules(
    client="proxy",
    formats=(
        "socks5://[USERNAME:PASSWORD@]HOST:PORT",
        "socks4://[USERNAME@]HOST:PORT",
        "http://[USERNAME:PASSWORD@]HOST:PORT",
    ),
    default_scheme="",
    schemes={"socks5": SchemeRules(), "socks4": SchemeRules(), "http": SchemeRules()},
)


def parse_proxy_url(url: str) -> ClientURL:
    """Parse a proxy URL (see :data:`PROXY_URL_RULES`); its ``client`` is ``"proxy"``."""
    if not isinstance(url, str) or not _SCHEME.match(url.strip()):
        shown = mask_password(url) if isinstance(url, str) else repr(url)
        raise errors.ValueError(f"Invalid proxy URL: scheme missing (socks5://, socks4:// or http://): {shown}")
    text = url.strip()
    proxy = parse_client_url(PROXY_URL_RULES, text.removesuffix("/") if text.count("/") == 3 else text)
    if proxy.port is None:
        raise errors.ValueError(f"Invalid proxy URL: port missing: {proxy}")
    if proxy.scheme == "socks4" and proxy.password is not None:
        raise errors.ValueError(f"Invalid proxy URL: SOCKS4 has a user ID but no password: {proxy}")
    return proxy


def mask_password(text: str) -> str:
    """`text` (a URL as given) with any password replaced by ***.

    The credentials are everything between the scheme and the last ``@``, so
    a password holding ``/``, ``:`` or ``@`` (unescaped) is masked whole; at
    worst more than the password is.
    """
    scheme, separator, rest = text.partition("://")
    if not separator:
        scheme, rest = "", text
    credentials, at, location = rest.rpartition("@")
    if not at or ":" not in credentials:
        return text
    username = credentials.split(":", 1)[0]
    return f"{scheme}{separator}{username}:***@{location}"


def mask_uri(text: str) -> str:
    """`text` (a URL, a magnet URI or a path, as a caller gave it) with its passwords masked.

    A URL's password is masked as by :func:`mask_password`; in a magnet URI,
    the passwords of the URLs in its parameters (``tr=``, ``ws=``, ``xs=``, ...)
    are. Anything else is returned as it is.
    """
    if text[:7].lower() == "magnet:":
        head, question, query = text.partition("?")
        if not question:
            return text
        params = []
        for param in query.split("&"):
            key, equals, value = param.partition("=")
            url = urllib.parse.unquote_plus(value)
            masked = mask_password(url) if "://" in url else url
            params.append(param if masked == url else f"{key}{equals}{urllib.parse.quote(masked, safe=':/*@')}")
        return f"{head}?{'&'.join(params)}"
    return mask_password(text) if "://" in text else text
