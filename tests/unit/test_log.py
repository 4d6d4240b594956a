"""The library's logger: silent and structlog-free until the host lets a record through."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from aiobtclientapi._log import LOGGER_NAME, get_logger


def test_records_are_rendered_by_structlog_with_the_bound_context(caplog: pytest.LogCaptureFixture) -> None:
    log = get_logger(client="transmission", url="http://localhost").bind(attempt=2)
    with caplog.at_level(logging.DEBUG, logger=LOGGER_NAME):
        log.debug("request", status=200)
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("callback failed")
    debug, error = caplog.records
    assert debug.levelno == logging.DEBUG
    assert debug.getMessage().startswith("event='request' client='transmission' url='http://localhost' ")
    assert "attempt=2" in debug.getMessage() and "status=200" in debug.getMessage()
    assert error.levelno == logging.ERROR
    assert "RuntimeError: boom" in error.getMessage()


def test_a_logger_below_its_level_emits_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER_NAME):
        get_logger(client="deluge").debug("request")
        get_logger(client="deluge").warning("slow")
    assert [record.levelno for record in caplog.records] == [logging.WARNING]


def test_nothing_logged_imports_no_structlog() -> None:
    probe = (
        "import sys\n"
        "from aiobtclientapi._log import get_logger\n"
        "log = get_logger(client='x')\n"
        "log.debug('request', status=200)\n"
        "log.info('connected')\n"
        "print('structlog' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
