"""XML-RPC replies: what parsing costs per element stays under ELEMENT_COST."""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest

from aiobtclientapi.adapters.rtorrent import _transport

COUNT = 20_000
HEAD = b"<?xml version='1.0'?><methodResponse><params><param><value>"
TAIL = b"</value></param></params></methodResponse>"

#: The values costing the most memory per element, each with its element count.
DENSE = {
    "untyped strings": (b"<value>ab</value>", 1),
    "strings": (b"<value><string>ab</string></value>", 2),
    "empty structs": (b"<value><struct></struct></value>", 2),
    "empty arrays": (b"<value><array><data></data></array></value>", 3),
    "i8": (b"<value><i8>100000</i8></value>", 2),
    "doubles": (b"<value><double>1.5</double></value>", 2),
}


def parsed_and_peak(body: bytes) -> tuple[Any, int]:
    """The parsed reply and the peak memory the parse took."""
    tracemalloc.start()
    try:
        parsed = _transport.parse_reply(body, "test")
        return parsed, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("shape", DENSE)
def test_parsing_costs_less_than_element_cost_each(shape: str) -> None:
    value, elements = DENSE[shape]
    body = HEAD + b"<array><data>" + value * COUNT + b"</data></array>" + TAIL
    parsed, peak = parsed_and_peak(body)
    assert len(parsed) == COUNT
    assert peak <= COUNT * elements * _transport.ELEMENT_COST + len(body), peak / (COUNT * elements)


def test_members_cost_less_than_element_cost_each() -> None:
    members = b"".join(b"<member><name>k%d</name><value>1</value></member>" % i for i in range(COUNT))
    body = HEAD + b"<struct>" + members + b"</struct>" + TAIL
    parsed, peak = parsed_and_peak(body)
    assert len(parsed) == COUNT
    assert peak <= COUNT * 3 * _transport.ELEMENT_COST + len(body), peak / (COUNT * 3)
