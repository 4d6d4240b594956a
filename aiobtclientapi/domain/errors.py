"""Errors and warnings raised or reported by aiobtclientapi.

Every failure the library knows about is an :class:`Error`; everything that
did not happen as planned but is not a failure is a :class:`Warning`. Names
that shadow built-ins also subclass the built-in, so ``except ValueError``
keeps working.

::

    Error
     +-- ValueError                 (also builtins.ValueError)
     +-- ReadError                  a file could not be read
     +-- NotImplementedError        (also builtins.NotImplementedError)
     +-- ConnectionError            (also builtins.ConnectionError)
     |    +-- TimeoutError          (also builtins.TimeoutError)
     |    +-- AuthenticationError
     +-- ResponseError              the client refused or failed a request
          +-- NoSuchTorrentError
          +-- InvalidTorrentError
          +-- AddTorrentError
          +-- StartTorrentError
          +-- StopTorrentError
          +-- VerifyTorrentError
          +-- RemoveTorrentError
          +-- MoveTorrentError
          +-- ReannounceTorrentError
          +-- LabelTorrentError
          +-- LimitTorrentError
          +-- TransferTorrentError
          +-- SessionError          global limits, the session's figures

    Warning                         (also builtins.Warning)
     +-- TorrentWarning             carries ``infohash`` and ``name``
          +-- TorrentAlreadyAdded
          +-- TorrentAlreadyStarted
          +-- TorrentAlreadyStopped
          +-- TorrentAlreadyVerifying
          +-- TorrentAlreadyMoved
          +-- TorrentAlreadyLabeled
          +-- TorrentAlreadyLimited
          +-- TorrentAlreadyTransferred

Errors and warnings compare equal when they are of the same class and have
the same message, so a Response can be compared in tests.
"""

from __future__ import annotations

import builtins
from typing import Any, TypeVar

M = TypeVar("M", bound="_Message")


def _rebuild(cls: type[M], message: str, state: dict[str, Any]) -> M:
    """An instance of `cls` with `message` and the attributes in `state`, its constructor bypassed."""
    error = cls.__new__(cls)
    _Message.__init__(error, message)
    error.__dict__.update(state)
    return error


class _Message(Exception):
    """One message; equal to another of the same class with the same message.

    Pickled and copied as message and attributes: subclasses whose
    constructor builds the message (``NoSuchTorrentError(infohash)``) come
    back as they were.
    """

    def __init__(self, message: object) -> None:
        # One argument only: OSError subclasses would read two as (errno, strerror).
        super().__init__(str(message))

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), str(self), dict(self.__dict__)))

    def with_message(self: M, message: str) -> M:
        """A copy of this error or warning (same class and attributes) saying `message`."""
        copy = _rebuild(type(self), message, dict(self.__dict__))
        copy.__cause__ = self.__cause__
        return copy

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash((type(self), str(self)))


class Error(_Message):
    """Base class of every error aiobtclientapi raises or reports."""


class ValueError(Error, builtins.ValueError):
    """Invalid argument: client name, URL, infohash, option."""


class ReadError(Error):
    """A local file (e.g. a .torrent) could not be read."""


class NotImplementedError(Error, builtins.NotImplementedError):
    """The client or adapter does not support this operation."""


class ConnectionError(Error, builtins.ConnectionError):
    """The client could not be reached or the connection broke."""


class TimeoutError(ConnectionError, builtins.TimeoutError):
    """The client did not answer within the configured timeout."""


class AuthenticationError(ConnectionError):
    """The client refused the credentials."""


class ResponseError(Error):
    """The client answered, but refused or failed the request."""


class NoSuchTorrentError(ResponseError):
    """No torrent with this infohash is known to the client."""

    def __init__(self, infohash: str) -> None:
        super().__init__(f"No such torrent: {infohash}")
        self.infohash = infohash


class InvalidTorrentError(ResponseError):
    """Not a valid torrent: bad file, bad magnet, bad infohash."""


class AddTorrentError(ResponseError):
    """The client did not add a torrent."""


class StartTorrentError(ResponseError):
    """The client did not start a torrent."""


class StopTorrentError(ResponseError):
    """The client did not stop a torrent."""


class VerifyTorrentError(ResponseError):
    """The client did not verify a torrent."""


class RemoveTorrentError(ResponseError):
    """The client did not remove a torrent (or its data)."""


class MoveTorrentError(ResponseError):
    """The client did not move a torrent's data."""


class ReannounceTorrentError(ResponseError):
    """The client did not announce a torrent to its trackers."""


class LabelTorrentError(ResponseError):
    """The client did not set a torrent's label."""


class LimitTorrentError(ResponseError):
    """The client did not set a torrent's rate limits."""


class TransferTorrentError(ResponseError):
    """A torrent was not moved from one client to another."""


class SessionError(ResponseError):
    """The client did not report or change its session's settings."""


class Warning(_Message, builtins.Warning):
    """Base class of every warning aiobtclientapi reports."""


class TorrentWarning(Warning):
    """A warning about one torrent."""

    _template = "{name}"

    def __init__(self, infohash: str, name: str | None = None) -> None:
        self.infohash = infohash
        self.name = name or infohash
        super().__init__(self._template.format(name=self.name))


class TorrentAlreadyAdded(TorrentWarning):
    """The torrent was already added."""

    _template = "Torrent already added: {name}"


class TorrentAlreadyStarted(TorrentWarning):
    """The torrent was already started."""

    _template = "Torrent already started: {name}"


class TorrentAlreadyStopped(TorrentWarning):
    """The torrent was already stopped."""

    _template = "Torrent already stopped: {name}"


class TorrentAlreadyVerifying(TorrentWarning):
    """The torrent was already being verified."""

    _template = "Torrent already verifying: {name}"


class TorrentAlreadyMoved(TorrentWarning):
    """The torrent's data was already in that location."""

    _template = "Torrent already in that location: {name}"


class TorrentAlreadyLabeled(TorrentWarning):
    """The torrent already had that label."""

    _template = "Torrent already has that label: {name}"


class TorrentAlreadyLimited(TorrentWarning):
    """The torrent already had those rate limits."""

    _template = "Torrent already has those limits: {name}"


class TorrentAlreadyTransferred(TorrentWarning):
    """The target client already had the torrent, complete, as the transfer leaves it."""

    _template = "Torrent already transferred: {name}"
