"""How btclient prints calls and results."""

from __future__ import annotations

import base64
import math
import pprint
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
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
    import enum

    import msgspec

    from ..domain.response import Response

    if isinstance(result, Response):
        for name, value in result:
            print(f">>> {name.upper():>{FIELD_WIDTH}}: {value!r}", file=out)
    elif isinstance(result, msgspec.Struct):  # a Session: one field per line, like a Response
        for name in result.__struct_fields__:
            value = getattr(result, name)
            if isinstance(value, dict):
                value = {key.value if isinstance(key, enum.Enum) else key: item for key, item in value.items()}
            print(f">>> {name.upper():>{FIELD_WIDTH}}: {value!r}", file=out)
    elif isinstance(result, bytes):
        print(f">>> {len(result)} bytes (--output FILE saves them)", file=out)
    elif isinstance(result, (list, tuple)):
        for item in result:
            print(f">>> * {item}", file=out)
    elif isinstance(result, str):
        print(f">>> {result}", file=out)
    else:
        for line in pprint.pformat(result, sort_dicts=False).splitlines():
            print(f">>> {line}", file=out)


# --- --json -------------------------------------------------------------------------------
# Encodings (documented in README.md): enums as their values, datetimes as RFC 3339 / ISO 8601
# strings in UTC, timedeltas as seconds (a number: easier to compute with than msgspec's ISO
# durations), a ratio of infinity as the string "inf" (null already means "the client has no
# such value"; msgspec.json.decode(..., strict=False) reads "inf" back as a float), fields that
# were not asked for left out, errors and warnings as {"type", "message", ...their attributes}.


def _exception(exc: BaseException) -> dict[str, Any]:
    encoded: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    for name, value in vars(exc).items():
        if not name.startswith("_") and isinstance(value, str | int | float | bool | type(None)):
            encoded[name] = value
    return encoded


def _enc_hook(value: Any) -> Any:
    from ..domain.response import Response

    if isinstance(value, Response):
        return dict(value)
    if isinstance(value, BaseException):
        return _exception(value)
    return repr(value)  # asyncio tasks, and whatever else a raw reply holds


def _finish(value: Any) -> Any:
    """What msgspec left as it is, in the encodings above."""
    if isinstance(value, dict):
        return {key: _finish(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finish(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        return int(seconds) if seconds.is_integer() else seconds
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return base64.b64encode(value).decode()
    return value


def to_json(value: Any) -> str:
    """`value` (a Response, Torrents, events, a raw reply) as one line of JSON."""
    import msgspec

    builtins = msgspec.to_builtins(value, builtin_types=(timedelta, bytes), enc_hook=_enc_hook)
    return msgspec.json.encode(_finish(builtins)).decode()


def event_json(event: Any, when: datetime) -> str:
    """A watch() event as one JSON line, with the (UTC) time it was seen."""
    import msgspec

    encoded = msgspec.to_builtins(event, builtin_types=(timedelta, bytes), enc_hook=_enc_hook)
    return to_json({"type": encoded.pop("type"), "time": when, **encoded})


def error_json(exc: BaseException) -> str:
    return to_json({"error": _exception(exc)})
