"""Paths as a daemon sees them: absolute or not, normalized, mapped between daemons.

A daemon may run on POSIX or on Windows, so a path is a string here, never
an ``os.path`` of the machine we run on.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping

from . import errors

#: Prefix replacements, longest prefix first: see :func:`parse_path_map`.
PathMap = tuple[tuple[str, str], ...]


def is_absolute(path: str) -> bool:
    """Whether `path` is absolute on a POSIX or a Windows daemon ("/x", "C:\\x", "C:/x")."""
    return path.startswith("/") or (len(path) > 2 and path[1] == ":" and path[2] in "\\/")


def normalized(path: str) -> str:
    """`path` without trailing separators or "." / ".." parts, for comparing what clients report."""
    if path.startswith("/"):
        return posixpath.normpath(path)
    return path.rstrip("\\/") or path


def _separator(path: str) -> str:
    return "/" if path.startswith("/") or "\\" not in path else "\\"


def joined(folder: str, name: str) -> str:
    """`name` inside `folder`, with the folder's own separator."""
    folder = normalized(folder)
    separator = _separator(folder)
    return folder + name if folder.endswith(separator) else folder + separator + name


def parse_path_map(path_map: Mapping[str, str] | None) -> PathMap:
    """Validated ``{old prefix: new prefix}`` pairs, longest old prefix first.

    Both sides are absolute folders. Raises :class:`~errors.ValueError`.
    """
    rules: list[tuple[str, str]] = []
    for old, new in (path_map or {}).items():
        for side in (old, new):
            if not isinstance(side, str) or not is_absolute(side):
                raise errors.ValueError(f"Invalid path map {old!r}={new!r}: both sides must be absolute paths")
        rules.append((normalized(old), normalized(new)))
    return tuple(sorted(rules, key=lambda rule: len(rule[0]), reverse=True))


def map_path(path: str, rules: PathMap) -> str:
    """`path` with the longest matching prefix of `rules` replaced; whole folder
    names only ("/data" maps "/data/x", not "/database")."""
    path = normalized(path)
    for old, new in rules:
        if path == old:
            return new
        separator = _separator(old)
        prefix = old if old.endswith(separator) else old + separator
        if path.startswith(prefix):
            rest = path[len(prefix) :]
            if _separator(new) != separator:
                rest = rest.replace(separator, _separator(new))
            return joined(new, rest)
    return path
