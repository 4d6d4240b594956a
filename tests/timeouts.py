"""What a test that timed out reports (pytest-timeout, `timeout` in pyproject.toml).

The timeout stops the event loop where it waits, in its selector, so the
traceback says nothing of what the test waited for: the report adds where
each asyncio task was waiting. tests/conftest.py loads the hook.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Generator, Iterator
from types import FrameType, TracebackType
from typing import Any

import pytest


def _event_loop_in(traceback: TracebackType | None) -> asyncio.AbstractEventLoop | None:
    """The event loop whose frames a traceback passes through."""
    while traceback is not None:
        candidate = traceback.tb_frame.f_locals.get("self")
        if isinstance(candidate, asyncio.AbstractEventLoop):
            return candidate
        traceback = traceback.tb_next
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    """A test that timed out (pytest-timeout) reports where each asyncio task waited:
    the timeout itself only shows the event loop waiting in its selector."""
    outcome = yield
    excinfo = call.excinfo
    if excinfo is None or "from pytest-timeout" not in str(excinfo.value):
        return
    loop = _event_loop_in(excinfo.tb)
    if loop is None:
        return
    stacks = io.StringIO()
    for task in asyncio.all_tasks(loop):
        print(f"{task.get_name()}:", file=stacks)
        for frame in _awaiting_frames(task.get_coro()):
            print(f"  {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}", file=stacks)
    outcome.get_result().sections.append(("asyncio tasks at the timeout", stacks.getvalue()))


def _awaiting_frames(awaitable: object) -> Iterator[FrameType]:
    """The frames of a coroutine and of what it awaits, outermost first
    (Task.print_stack shows only the outermost)."""
    while awaitable is not None:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        if frame is not None:
            yield frame
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)
