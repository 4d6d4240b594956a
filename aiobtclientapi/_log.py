"""Logging: structlog bound loggers over the stdlib ``aiobtclientapi`` logger.

The library never configures logging. Records go to the standard
``aiobtclientapi`` logger (which has a NullHandler), so nothing is printed
unless the host application configures logging.

structlog (and rich, which structlog imports when it is installed) costs
about 50 ms to import: :func:`get_logger` hands out a :class:`Logger` that
imports and builds its structlog logger on the first record the stdlib
logger would actually emit, so a program that logs nothing never pays for it.
"""

from __future__ import annotations

import logging
from typing import Any

LOGGER_NAME = "aiobtclientapi"
_STDLIB_LOGGER = logging.getLogger(LOGGER_NAME)
_STDLIB_LOGGER.addHandler(logging.NullHandler())


def _structlog_logger(context: dict[str, Any]) -> Any:
    """A structlog logger bound to `context`, writing to the stdlib logger.

    Built with ``wrap_logger`` so the host's global structlog configuration is
    neither needed nor changed.
    """
    import structlog

    logger = structlog.wrap_logger(
        _STDLIB_LOGGER,
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,  # exception(): the traceback as a field
            structlog.processors.KeyValueRenderer(key_order=["event", "client", "url"], drop_missing=True),
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return logger.bind(**context)


class Logger:
    """A structlog logger, built when the first record would be emitted."""

    __slots__ = ("_bound", "_context")

    def __init__(self, context: dict[str, Any]) -> None:
        self._context = context
        self._bound: Any = None

    def bind(self, **context: Any) -> Logger:
        return Logger({**self._context, **context})

    def _emit(self, level: int, method: str, event: str, fields: dict[str, Any]) -> None:
        # The same test structlog's filter_by_level makes, before anything is imported.
        if not _STDLIB_LOGGER.isEnabledFor(level):
            return
        if self._bound is None:
            self._bound = _structlog_logger(self._context)
        getattr(self._bound, method)(event, **fields)

    def debug(self, event: str, **fields: Any) -> None:
        self._emit(logging.DEBUG, "debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._emit(logging.INFO, "info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._emit(logging.WARNING, "warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._emit(logging.ERROR, "error", event, fields)

    def exception(self, event: str, **fields: Any) -> None:
        """An ERROR record with the exception being handled."""
        self._emit(logging.ERROR, "exception", event, fields)


def get_logger(**context: Any) -> Logger:
    """A logger bound to `context`. Never bind credentials."""
    return Logger(context)
