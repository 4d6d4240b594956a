"""Response: the result of an operation on several torrents.

Each operation returns its own subclass, whose lists of infohashes are
declared attributes (``AddResponse.added``), so a misspelt one is a type
error, not a silent ``AttributeError`` at run time.
"""

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
    #: The operation's own lists of infohashes, in display order.
    lists: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.errors: list[errors.Error] = []
        self.warnings: list[errors.Warning] = []
        self.tasks: list[Any] = []
        for name in self.lists:
            setattr(self, name, [])

    @property
    def success(self) -> bool:
        """True when there are no errors."""
        return not self.errors

    @property
    def fields(self) -> tuple[str, ...]:
        """All attribute names, in display order."""
        return self._common + self.lists

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        for name in self.fields:
            yield name, getattr(self, name)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Response):
            return NotImplemented
        return type(self) is type(other) and dict(self) == dict(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        body = ", ".join(f"{name}={value!r}" for name, value in self)
        return f"{type(self).__name__}({body})"


class AddResponse(Response):
    """What :meth:`add` did: ``added``, ``already_added``."""

    lists = ("added", "already_added")
    added: list[str]
    already_added: list[str]


class StartResponse(Response):
    """What :meth:`start` did: ``started``, ``already_started``."""

    lists = ("started", "already_started")
    started: list[str]
    already_started: list[str]


class StopResponse(Response):
    """What :meth:`stop` did: ``stopped``, ``already_stopped``."""

    lists = ("stopped", "already_stopped")
    stopped: list[str]
    already_stopped: list[str]


class VerifyResponse(Response):
    """What :meth:`verify` did: ``verifying``, ``already_verifying``."""

    lists = ("verifying", "already_verifying")
    verifying: list[str]
    already_verifying: list[str]


class RemoveResponse(Response):
    """What :meth:`remove` did: ``removed``."""

    lists = ("removed",)
    removed: list[str]


class MoveResponse(Response):
    """What :meth:`move` did: ``moved``, ``already_moved``."""

    lists = ("moved", "already_moved")
    moved: list[str]
    already_moved: list[str]


class ReannounceResponse(Response):
    """What :meth:`reannounce` did: ``reannounced``."""

    lists = ("reannounced",)
    reannounced: list[str]


class LabelResponse(Response):
    """What :meth:`set_label` did: ``labeled``, ``already_labeled``."""

    lists = ("labeled", "already_labeled")
    labeled: list[str]
    already_labeled: list[str]


class LimitResponse(Response):
    """What :meth:`set_limits` did: ``limited``, ``already_limited``."""

    lists = ("limited", "already_limited")
    limited: list[str]
    already_limited: list[str]


class TransferResponse(Response):
    """What :func:`~aiobtclientapi.transfer` did: ``transferred``, ``already_transferred``."""

    lists = ("transferred", "already_transferred")
    transferred: list[str]
    already_transferred: list[str]
