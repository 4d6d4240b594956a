"""make docs: a Griffe extension that turns the docstrings' reST markup into Markdown.

The docstrings are written for ``help()`` and the source: ``:class:`~x.Name```
roles and ``::`` literal blocks. mkdocstrings renders Markdown, so before it
does, each role becomes a link to the public name it points at (an object of
``aiobtclientapi.__all__`` or a method of ``APIBase``, the ones the reference
pages render) or else plain code, and a ``::`` that opens a literal block
becomes a ``:`` (or nothing when it stands alone).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

import aiobtclientapi
from aiobtclientapi.application.api import APIBase

_ROLE = re.compile(r":(?:class|meth|func|data|attr|mod|exc|obj):`(~?)([^`]+)`")
_PUBLIC = frozenset(aiobtclientapi.__all__)
_METHODS = frozenset(name for name in dir(APIBase) if not name.startswith("_"))


def _role(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2)
    name = target.rsplit(".", 1)[-1]
    shown = name if short or target.startswith(".") else target
    if name in _PUBLIC:
        return f"[`{shown}`][aiobtclientapi.{name}]"
    if name in _METHODS and "." not in target.lstrip("~"):
        return f"[`{shown}()`][aiobtclientapi.APIBase.{name}]"
    return f"`{shown}`"


def to_markdown(text: str) -> str:
    """`text` with its reST roles and ``::`` markers in Markdown."""
    text = _ROLE.sub(_role, text)
    lines = []
    for line in text.split("\n"):
        if line.strip() == "::":
            continue
        lines.append(line[:-1] if line.endswith("::") else line)
    return "\n".join(lines)


class RestRoles(griffe.Extension):
    """Rewrites every docstring Griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)

    def on_attribute_instance(self, *, attr: griffe.Attribute, **kwargs: Any) -> None:
        # Runs after griffe_sphinx, which makes docstrings of ``#:`` comments.
        if attr.docstring is not None:
            attr.docstring.value = to_markdown(attr.docstring.value)
