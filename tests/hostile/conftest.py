"""The bounds every hostile-peer case is held to, and the pieces its peers are made of.

The peer runs here, in the test's event loop; the client's calls run in a
new process for each case (tests/hostile/_child.py), which measures them:
free memory is handed back to the system, VmRSS is read, the peak (VmHWM) is
reset through /proc/self/clear_refs, the call runs, and the growth is VmHWM
afterwards minus VmRSS before. What grows is what the client holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import gc
import json
import re
import signal
import ssl
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.peers import StreamHandler, self_signed_certificate

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

Handler = StreamHandler
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
    """Collects what is wrong with the calls of one test, and fails the test at the end."""

    def __init__(self, test: str) -> None:
        self.test = test
        self.problems: list[str] = []

    def judge(self, label: str, m: Measurement, problems: list[str]) -> None:
        RECORDS.append(Record(self.test, label, m, not problems))
        self.problems += problems

    def verdict(self) -> None:
        if self.problems:
            pytest.fail("\n".join(self.problems), pytrace=False)


@pytest.fixture
def probe(request: pytest.FixtureRequest) -> Probe:
    reason = why_no_peak_reset()
    if reason is not None:
        pytest.skip(reason)
    return Probe(request.node.nodeid.split("::", 1)[-1])


# --- the calls, each case in a fresh process ----------------------------------------------------------
#: The child process may map this much, so that a decoder building gigabytes can't hurt the machine.
CHILD_MEMORY_CAP = 2 * 1024**3
#: The child is killed after this long (it imports, connects, and makes two calls).
CHILD_DEADLINE = 90.0


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


async def calls_in_a_child(client: str, url: str, timeout: float) -> list[dict[str, Any]]:
    """get_infohashes() and stop() of an API object for `client` at `url`, made by tests/hostile/_child.py.

    Each case's calls run in a new process: the peak RSS of a process that
    ran hundreds of tests before depends on what they left in the allocator,
    and a decoder that recurses without limit would kill pytest itself.
    """
    root = Path(__file__).resolve().parents[2]
    started = time.monotonic()
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-X", "faulthandler", "-m", "tests.hostile._child",
        client, url, str(timeout), str(CHILD_MEMORY_CAP),
        cwd=root, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(child.communicate(), CHILD_DEADLINE)
    except TimeoutError:
        child.kill()
        await child.wait()
        pytest.fail(f"the child process did not finish within {CHILD_DEADLINE:g} s", pytrace=False)
    assert child.returncode is not None
    if child.returncode != 0:
        how = _signal_name(child.returncode) if child.returncode < 0 else f"exit status {child.returncode}"
        stderr = err.decode(errors="replace")[-3000:]
        pytest.fail(
            f"the child process making the calls died ({how}) after {time.monotonic() - started:.1f} s:\n{stderr}",
            pytrace=False,
        )
    results: list[dict[str, Any]] = json.loads(out.decode().splitlines()[-1])
    return results


def judge_child_results(
    probe: Probe, results: list[dict[str, Any]], expected: ErrorClasses, timeout: float, match: str | None = None
) -> None:
    """get_infohashes() must raise `expected`, stop() report one such error; within the bounds.

    `match`: a pattern the error message must hold (which limit it hit).
    """
    names = {c.__name__ for c in (expected if isinstance(expected, tuple) else (expected,))}
    for result in results:
        label = result["label"]
        errors = [result["error"]] if "error" in result else result.get("response_errors", [])
        shown = ", ".join(error["classes"][0] if error["classes"] else error["type"] for error in errors)
        m = Measurement(
            result["seconds"], result["growth"], described=shown if "error" in result else f"Response(errors=[{shown}])"
        )
        problems: list[str] = []
        if label == "get_infohashes" and "error" not in result:
            problems.append(f"{label}: returned {result.get('returned')!r} instead of raising {_names(expected)}")
        if label == "stop" and ("error" in result or len(errors) != 1 or result.get("success")):
            problems.append(f"{label}: expected a Response holding one error, got {result}")
        for error in errors:
            if "Error" not in error["classes"]:
                problems.append(f"{label}: {error['type']} escaped (not ours): {error['message']:.300}")
            elif not names & set(error["classes"]):
                problems.append(f"{label}: {error['type']} ({error['message']:.300}), expected {_names(expected)}")
            elif match is not None and not re.search(match, error["message"], re.IGNORECASE):
                problems.append(f"{label}: {error['message']!r:.300} doesn't say which limit (/{match}/)")
        probe.judge(label, m, problems + problems_with_bounds(m, timeout, label))


async def check_api(
    probe: Probe, client: str, url: str, expected: ErrorClasses, timeout: float, match: str | None = None
) -> None:
    """The two kinds of call against a hostile peer: a listing raises, a multi-torrent operation reports."""
    judge_child_results(probe, await calls_in_a_child(client, url, timeout), expected, timeout, match)
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
