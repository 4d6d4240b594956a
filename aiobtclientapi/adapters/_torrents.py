"""Turning an adapter's listing rows into domain Torrents: the loop a listing runs per torrent.

A listing of 10,000 torrents calls it 10,000 times, so it must cost little
next to decoding the reply. Passing a row's values as ``**values`` costs
more than the decoding (a dict per row); naming each keyword in the call
costs almost nothing. So the call is written out once per set of attributes
and compiled, as :mod:`dataclasses` writes ``__init__``: from static tables
of identifiers only, checked before any source is made.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from ..domain.torrent import Torrent

R = TypeVar("R")


class TorrentMaker(Generic[R]):
    """``maker(infohash, row)``: a Torrent with just `attributes` set, from a row of one shape.

    `fields`: attributes whose value is a row field as it is (attribute →
    field name); `values`: how every other attribute is computed from a row.
    Make one per listing (or cache it per set of attributes), call it per row.
    """

    def __init__(
        self,
        attributes: frozenset[str],
        fields: Mapping[str, str],
        values: Mapping[str, Callable[[R], Any]],
    ) -> None:
        unknown = attributes - fields.keys() - values.keys()
        if unknown:
            raise KeyError(", ".join(sorted(unknown)))
        names = sorted(attributes)
        not_fields = set(names) - set(Torrent.__struct_fields__)
        if not_fields:
            raise KeyError(", ".join(sorted(not_fields)))
        for name in (fields[name] for name in names if name in fields):
            if not name.isidentifier() or keyword.iskeyword(name):
                raise ValueError(f"not a plain field name: {name!r}")
        namespace: dict[str, Any] = {"Torrent": Torrent}
        arguments = ["infohash=infohash"]
        for index, name in enumerate(names):
            if name in fields:
                arguments.append(f"{name}=row.{fields[name]}")
            else:
                namespace[f"compute_{index}"] = values[name]
                arguments.append(f"{name}=compute_{index}(row)")
        source = f"def make(infohash, row):\n    return Torrent({', '.join(arguments)})\n"
        exec(compile(source, f"<TorrentMaker {','.join(names)}>", "exec"), namespace)
        self._make: Callable[[str, R], Torrent] = namespace["make"]
        self.attributes = attributes

    def __call__(self, infohash: str, row: R) -> Torrent:
        return self._make(infohash, row)
