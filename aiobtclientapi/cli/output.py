"""How btclient prints calls and results."""

from __future__ import annotations

import pprint
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

#: Response field names are right-aligned to this width.
FIELD_WIDTH = 18


def format_call(method: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    parts = [repr(arg) for arg in args] + [f"{key}={value!r}" for key, value in kwargs.items()]
    return f"{method}({', '.join(parts)})"


def print_result(result: Any, out: TextIO) -> None:
    from ..domain.response import Response

    if isinstance(result, Response):
        for name, value in result:
            print(f">>> {name.upper():>{FIELD_WIDTH}}: {value!r}", file=out)
    elif isinstance(result, (list, tuple)):
        for item in result:
            print(f">>> * {item}", file=out)
    elif isinstance(result, str):
        print(f">>> {result}", file=out)
    else:
        for line in pprint.pformat(result, sort_dicts=False).splitlines():
            print(f">>> {line}", file=out)
