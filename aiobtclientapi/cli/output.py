"""How btclient prints calls and results."""

from __future__ import annotations

import pprint
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from ..domain.url import mask_uri

#: Response field names are right-aligned to this width.
FIELD_WIDTH = 18


def _masked(value: Any) -> Any:
    """An argument as btclient shows it: passwords in URLs and magnet URIs masked."""
    return mask_uri(value) if isinstance(value, str) else value


def format_call(method: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    """The call as btclient shows it, passwords in URL arguments masked."""
    parts = [repr(_masked(arg)) for arg in args] + [f"{key}={_masked(value)!r}" for key, value in kwargs.items()]
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
