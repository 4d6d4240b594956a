"""Logging: structlog bound loggers over the stdlib ``aiobtclientapi`` logger.

The library never configures logging. Records go to the standard
``aiobtclientapi`` logger (which has a NullHandler), so nothing is printed
unless the host application configures logging.
"""

from __future__ import annotations

import logging
from typing import Any

LOGGER_NAME = "aiobtclientapi"
logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())


def get_logger(**context: Any) -> Any:
    """A structlog logger bound to `context`, writing to the stdlib logger.

    Built with ``wrap_logger`` so the host's global structlog configuration is
    neither needed nor changed. Never bind credentials.
    """
    import structlog  # lazy: keeps `import aiobtclientapi` fast

    logger = structlog.wrap_logger(
        logging.getLogger(LOGGER_NAME),
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.KeyValueRenderer(key_order=["event", "client", "url"], drop_missing=True),
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return logger.bind(**context)
