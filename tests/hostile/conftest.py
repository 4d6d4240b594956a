"""The bounds every hostile-peer case is held to, and the pieces its peers are made of.

Memory is measured in this process, honestly: free memory is handed back to
the system, VmRSS is read, the peak (VmHWM) is reset through
/proc/self/clear_refs, the call runs, and the growth is VmHWM afterwards minus
VmRSS before. A peer's own payload is built before the measurement starts and
sent in slices of it, so what grows is what the client holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import gc
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import aiobtclientapi
from tests.peers import self_signed_certificate

#: The peak RSS may grow by less than this while a call runs.
MEMORY_BUDGET = 100 * 1024 * 1024
#: A call may take this much longer than the configured timeout.
TIME_SLACK = 1.0
#: Not a torrent any peer knows; stop() is asked to stop it.
INFOHASH = "0123456789abcdef0123456789abcdef01234567"
#: A slow-dripping peer sends one byte this often.
DRIP_INTERVAL = 0.05
#: Bytes written per slice by a peer sending a large payload.
SLICE = 64 * 1024

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
ErrorClasses = type[Exception] | tuple[type[Exception], ...]


# --- memory ---------------------------------------------------------------------------------------
def status_kib(field: str) -> int:
    """A `kB` field of /proc/self/status (VmRSS, VmHWM)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(f"no {field} in /proc/self/status")


def reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux: "5" to /proc/self/clear_refs)."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def why_no_peak_reset() -> str | None:
    """Why the peak RSS can't be measured here, or None if it can."""
    try:
        reset_peak()
        status_kib("VmHWM")
        status_kib("VmRSS")
    except (OSError, LookupError) as exc:
        return f"the peak RSS can't be reset and read here (/proc/self/clear_refs, /proc/self/status): {exc}"
    return None


#: glibc's mallopt() parameters, and their initial values.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _INITIAL_THRESHOLD = -1, -3, 128 * 1024
_allocator_settled = False


def settle_allocator() -> None:
    """Fix glibc's mmap and trim thresholds at their initial 128 KiB.

    glibc raises both the first time a large block is freed (up to 32 and 64
    MiB): from then on a buffer under 32 MiB grows inside the heap, copied on
    every move, and freed heap stays resident. Whether that happened yet
    depends on the tests run before in this process, so the same call would
    measure 65 MiB alone and 125 MiB after others. Fixed thresholds measure
    every case as a fresh process would: what the client holds at its peak.
    """
    global _allocator_settled
    if not _allocator_settled:
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None)
            libc.mallopt(_M_MMAP_THRESHOLD, _INITIAL_THRESHOLD)
            libc.mallopt(_M_TRIM_THRESHOLD, _INITIAL_THRESHOLD)
        _allocator_settled = True


def release_free_memory() -> None:
    """Collect garbage and hand free heap back to the system, so RSS is what is in use."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)  # glibc


@dataclasses.dataclass
class Measurement:
    """One call: what it returned or raised, how long it took, how much the peak RSS grew."""

    seconds: float
    growth: int  # bytes
    result: Any = None
    error: Exception | None = None
    #: What happened, where the call ran elsewhere (in a child process).
    described: str | None = None

    @property
    def outcome(self) -> str:
        if self.described is not None:
            return self.described
        if self.error is not None:
            return type(self.error).__name__
        errors = getattr(self.result, "errors", None)
        if errors is not None:
            return "Response(errors=[" + ", ".join(type(e).__name__ for e in errors) + "])"
        return f"returned {type(self.result).__name__}"


async def measure(call: Callable[[], Awaitable[Any]]) -> Measurement:
    """Run `call()`, catching any exception, with its time and peak RSS growth."""
    settle_allocator()
    release_free_memory()
    before = status_kib("VmRSS")
    reset_peak()
    started = time.monotonic()
    result: Any = None
    error: Exception | None = None
    try:
        result = await call()
    except Exception as exc:
        error = exc
    seconds = time.monotonic() - started
    growth = (status_kib("VmHWM") - before) * 1024
    return Measurement(seconds, growth, result, error)


# --- verdicts --------------------------------------------------------------------------------------
def _names(classes: ErrorClasses) -> str:
    return " or ".join(c.__name__ for c in (classes if isinstance(classes, tuple) else (classes,)))


def problems_with_error(error: BaseException | None, expected: ErrorClasses, what: str) -> list[str]:
    if error is None:
        return [f"{what}: no error, expected {_names(expected)}"]
    if not isinstance(error, aiobtclientapi.Error):
        return [f"{what}: {type(error).__module__}.{type(error).__name__} escaped (not ours): {error!r:.300}"]
    if not isinstance(error, expected):
        return [f"{what}: {type(error).__name__} ({error}), expected {_names(expected)}"]
    return []


def problems_with_bounds(m: Measurement, timeout: float, what: str) -> list[str]:
    problems = []
    if m.seconds >= timeout + TIME_SLACK:
        problems.append(f"{what}: took {m.seconds:.2f} s, more than the timeout {timeout:g} s + {TIME_SLACK:g} s")
    if m.growth >= MEMORY_BUDGET:
        problems.append(f"{what}: peak RSS grew by {m.growth / 2**20:.0f} MiB, not under {MEMORY_BUDGET / 2**20:.0f}")
    return problems


@dataclasses.dataclass
class Record:
    test: str
    label: str
    measurement: Measurement
    ok: bool


#: Every measured call of the session, for the summary.
RECORDS: list[Record] = []


class Probe:
    """Measures the calls of one test, collects what is wrong with them, and fails the test at the end."""

    def __init__(self, test: str) -> None:
        self.test = test
        self.problems: list[str] = []

    def judge(self, label: str, m: Measurement, problems: list[str]) -> None:
        RECORDS.append(Record(self.test, label, m, not problems))
        self.problems += problems

    async def expect_raises(
        self, label: str, call: Callable[[], Awaitable[Any]], expected: ErrorClasses, timeout: float
    ) -> Measurement:
        """`call()` must raise `expected`, within the bounds."""
        m = await measure(call)
        problems = problems_with_error(m.error, expected, label)
        if m.error is None:
            problems = [f"{label}: returned {m.result!r:.200} instead of raising {_names(expected)}"]
        self.judge(label, m, problems + problems_with_bounds(m, timeout, label))
        return m

    async def expect_reported(
        self, label: str, call: Callable[[], Awaitable[Any]], expected: ErrorClasses, timeout: float
    ) -> Measurement:
        """`call()` (a multi-torrent operation) must return a Response holding one `expected` error."""
        m = await measure(call)
        problems: list[str] = []
        if m.error is not None:
            problems.append(f"{label}: raised {type(m.error).__name__} ({m.error!s:.300}) instead of reporting it")
        elif not isinstance(m.result, aiobtclientapi.Response):
            problems.append(f"{label}: returned {m.result!r:.200}, not a Response")
        elif m.result.success or len(m.result.errors) != 1:
            problems.append(f"{label}: expected one error in the Response, got {m.result!r:.300}")
        else:
            problems += problems_with_error(m.result.errors[0], expected, label)
        self.judge(label, m, problems + problems_with_bounds(m, timeout, label))
        return m

    def verdict(self) -> None:
        if self.problems:
            pytest.fail("\n".join(self.problems), pytrace=False)


@pytest.fixture
def probe(request: pytest.FixtureRequest) -> Probe:
    reason = why_no_peak_reset()
    if reason is not None:
        pytest.skip(reason)
    return Probe(request.node.nodeid.split("::", 1)[-1])


async def check_api(probe: Probe, api: aiobtclientapi.APIBase, expected: ErrorClasses, timeout: float) -> None:
    """The two kinds of call against a hostile peer: a listing raises, a multi-torrent operation reports."""
    try:
        await probe.expect_raises("get_infohashes", api.get_infohashes, expected, timeout)
        await probe.expect_reported("stop", lambda: api.stop(INFOHASH), expected, timeout)
    finally:
        await api.disconnect()
    probe.verdict()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not RECORDS or config.get_verbosity() < 0:
        return
    terminalreporter.section("hostile peers: time and peak RSS growth per call")
    for record in RECORDS:
        m = record.measurement
        terminalreporter.write_line(
            f"{'ok ' if record.ok else 'BAD'} {m.seconds:6.2f} s {m.growth / 2**20:7.1f} MiB  "
            f"{record.test} {record.label}: {m.outcome}"
        )


# --- peers ----------------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def serve(handler: Handler, *, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """Run `handler` for every connection to a free loopback port until the block ends; yields the port.

    The client giving up on the peer is expected: socket errors end a handler quietly.
    """
    handlers: set[asyncio.Task[Any]] = set()

    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            handlers.add(task)
        try:
            await handler(reader, writer)
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass  # the block ended while the peer was still sending: over, and nothing to report
        finally:
            writer.close()

    server = await asyncio.start_server(guarded, "127.0.0.1", 0, ssl=ssl_context)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


async def send(writer: asyncio.StreamWriter, data: bytes) -> None:
    """Write `data` in slices of it, waiting for the client to take each."""
    with memoryview(data) as view:
        for start in range(0, len(data), SLICE):
            writer.write(view[start : start + SLICE])
            await writer.drain()


async def drip(writer: asyncio.StreamWriter, data: bytes) -> None:
    """Write `data` one byte every DRIP_INTERVAL: far slower than any timeout here lets it finish."""
    for byte in data:
        writer.write(bytes((byte,)))
        await writer.drain()
        await asyncio.sleep(DRIP_INTERVAL)  # the peer's pace, not a wait for anything


async def endless(writer: asyncio.StreamWriter, filler: bytes, limit: int = 256 * 1024 * 1024) -> None:
    """Write `filler` over and over (`limit` bytes at most), until the client hangs up."""
    chunk = filler * (SLICE // len(filler) or 1)
    sent = 0
    while sent < limit:
        writer.write(chunk)
        await writer.drain()
        sent += len(chunk)


@pytest.fixture(scope="session")
def peer_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate and its key, for TLS peers."""
    return self_signed_certificate(tmp_path_factory.mktemp("hostile-cert"))


@pytest.fixture(scope="session")
def server_tls(peer_cert: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(peer_cert[0]), str(peer_cert[1]))
    return context
