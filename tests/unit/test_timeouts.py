"""The report of a test that timed out names where its asyncio tasks waited."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_a_timed_out_test_reports_where_its_tasks_wait(pytester: pytest.Pytester) -> None:
    pytester.makeconftest("from tests.timeouts import pytest_runtest_makereport  # noqa: F401")
    pytester.makepyfile(
        """
        import asyncio

        import pytest


        async def waits_for_the_daemon():
            await asyncio.Event().wait()


        @pytest.mark.timeout(0.5)
        async def test_hangs():
            await waits_for_the_daemon()


        async def test_after():
            await asyncio.sleep(0)
        """
    )
    result = pytester.runpytest(
        "-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function", "-o", "timeout_method=signal"
    )
    # The one that hangs fails, and the run goes on.
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*- asyncio tasks at the timeout -*",
            "*:*",
            "*.py:* in test_hangs",
            "*.py:* in waits_for_the_daemon",
            "*asyncio/locks.py:* in wait",
        ]
    )
