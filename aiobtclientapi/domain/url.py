"""Client URLs: one format per client, parsed and validated once."""

from __future__ import annotations

import re
import urllib.parse

import msgspec

from . import errors

#: The URL formats, as documented. Upper-case words are placeholders,
#: square brackets mark optional parts.
URL_FORMATS: dict[str, tuple[str, ...]] = {
    "deluge": ("[USERNAME:PASSWORD@]HOST[:PORT]",),
    "qbittorrent": ("[http[s]://][USERNAME:PASSWORD@]HOST[:PORT]",),
    "rtorrent": (
        "[scgi://]HOST[:PORT]",
        "[file://]SOCKET_PATH",
        "http[s]://[USERNAME:PASSWORD@]HOST[:PORT][/PATH]",
    ),
    "transmission": ("[http[s]://][USERNAME:PASSWORD@]HOST[:PORT][/PATH]",),
}

_DEFAULTS: dict[str, dict[str, object]] = {
    "deluge": {"scheme": "deluge", "port": 58846, "schemes": ("deluge",)},
    "qbittorrent": {"scheme": "http", "port": 8080, "schemes": ("http", "https")},
    "rtorrent": {"scheme": "scgi", "port": 5000, "schemes": ("scgi", "file", "http", "https")},
    "transmission": {
        "scheme": "http",
        "port": 9091,
        "path": "/transmission/rpc",
        "schemes": ("http", "https"),
    },
}

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


class ClientURL(msgspec.Struct, frozen=True, kw_only=True):
    """A parsed client URL. ``str()`` and ``repr()`` never show the password."""

    client: str
    scheme: str
    host: str = ""
    port: int | None = None
    path: str = ""
    username: str | None = None
    password: str | None = msgspec.field(default=None)

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
            return f"file://{self.path}"
        user = f"{self.username}:***@" if self.username or self.password else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.scheme}://{user}{host}{port}{self.path}"

    def __repr__(self) -> str:
        return f"ClientURL({str(self)!r})"


def parse_url(
    client: str,
    url: str,
    username: str | None = None,
    password: str | None = None,
) -> ClientURL:
    """Parse `url` in `client`'s format; `username`/`password` override the URL's."""
    if client not in _DEFAULTS:
        raise errors.ValueError(f"Unknown client: {client!r}")
    if not isinstance(url, str) or not url.strip():
        raise errors.ValueError(f"Invalid {client} URL: empty")
    defaults = _DEFAULTS[client]
    text = url.strip()
    match = _SCHEME.match(text)
    scheme = match.group(1).lower() if match else str(defaults["scheme"])
    if scheme not in defaults["schemes"]:  # type: ignore[operator]
        raise errors.ValueError(f"Invalid {client} URL: unsupported scheme: {scheme}")
    if client == "deluge" and match:
        raise errors.ValueError(f"Invalid {client} URL: no scheme allowed: {mask_password(text)}")

    if client == "rtorrent" and (scheme == "file" or (not match and "/" in text)):
        path = text[len("file://") :] if match else text
        if not path:
            raise errors.ValueError(f"Invalid {client} URL: empty socket path")
        return ClientURL(client=client, scheme="file", path=path)

    rest = text[match.end() :] if match else text
    parts = urllib.parse.urlsplit("//" + rest)
    try:
        port = parts.port
    except ValueError as exc:  # builtins.ValueError from urllib
        raise errors.ValueError(f"Invalid {client} URL: invalid port: {mask_password(text)}") from exc
    host = parts.hostname or ""
    if not host:
        raise errors.ValueError(f"Invalid {client} URL: no host: {mask_password(text)}")
    if parts.query or parts.fragment:
        raise errors.ValueError(f"Invalid {client} URL: unexpected query: {mask_password(text)}")
    path = parts.path
    if path and client in ("deluge", "qbittorrent"):
        raise errors.ValueError(f"Invalid {client} URL: no path allowed: {mask_password(text)}")
    if client == "rtorrent" and scheme == "scgi" and path:
        raise errors.ValueError(f"Invalid {client} URL: no path allowed: {mask_password(text)}")
    url_user = urllib.parse.unquote(parts.username) if parts.username is not None else None
    url_pass = urllib.parse.unquote(parts.password) if parts.password is not None else None
    if client == "rtorrent" and scheme == "scgi" and (url_user or url_pass):
        raise errors.ValueError(f"Invalid {client} URL: SCGI has no authentication")
    if port is None:
        if scheme in ("http", "https") and client == "rtorrent":
            port = 443 if scheme == "https" else 80
        elif scheme == "https" and client != "transmission" and client != "qbittorrent":
            port = 443
        else:
            port = int(defaults["port"])  # type: ignore[call-overload]
    if not path:
        if client == "transmission":
            path = str(defaults["path"])
        elif client == "rtorrent" and scheme in ("http", "https"):
            path = "/RPC2"
    return ClientURL(
        client=client,
        scheme=scheme,
        host=host,
        port=port,
        path=path,
        username=username if username is not None else url_user,
        password=password if password is not None else url_pass,
    )


def mask_password(text: str) -> str:
    """`text` with any password replaced by ***."""
    return re.sub(r"(://|^)([^/@:]*):[^/@]*@", r"\1\2:***@", text)
