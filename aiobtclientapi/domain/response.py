"""Response: the result of an operation on several torrents."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from . import errors


class Response:
    """What happened to each torrent of one operation.

    ``success`` is True only if there are no errors. ``errors`` and
    ``warnings`` hold :class:`~errors.Error` and :class:`~errors.Warning`
    instances, ``tasks`` holds the asyncio tasks the operation left running
    (see the operation's documentation). Every operation adds its own lists
    of infohashes, e.g. ``stopped`` and ``already_stopped``; they are in
    ``fields`` in the order they are printed.
    """

    _common: ClassVar[tuple[str, ...]] = ("success", "warnings", "errors", "tasks")

    def __init__(self, *names: str) -> None:
        self.errors: list[errors.Error] = []
        self.warnings: list[errors.Warning] = []
        self.tasks: list[Any] = []
        self._names = names
        for name in names:
            setattr(self, name, [])

    @property
    def success(self) -> bool:
        return not self.errors

    @property
    def fields(self) -> tuple[str, ...]:
        """All attribute names, in display order."""
        return self._common + self._names

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        for name in self.fields:
            yield name, getattr(self, name)

    def __getattr__(self, name: str) -> Any:
        # Only reached for names that aren't set: the operation has no such list.
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Response):
            return NotImplemented
        return dict(self) == dict(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        body = ", ".join(f"{name}={value!r}" for name, value in self)
        return f"Response({body})"
