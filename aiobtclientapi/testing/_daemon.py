"""Shared machinery for starting real client daemons in tests.

Each client has a module beside this one with a :class:`Daemon` subclass that
knows how to configure and start it on free loopback ports in a temp dir.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Protocol

import pytest

#: Debian package providing each binary.
PACKAGES = {
    "transmission-daemon": "transmission-daemon",
    "qbittorrent-nox": "qbittorrent-nox",
    "deluged": "deluged",
    "rtorrent": "rtorrent",
    "nginx": "nginx-light",
    "openssl": "openssl",
    "microsocks": "microsocks",
    "tinyproxy": "tinyproxy",
    "danted": "dante-server",
}

#: Set for every daemon: one written in Python (deluged) that crashes in
#: native code writes its Python stack into its log.
DAEMON_ENVIRONMENT = {"PYTHONFAULTHANDLER": "1"}

_apt_updated = False


#: Signals that mean the daemon crashed, rather than was stopped or killed.
CRASH_SIGNALS = frozenset({signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGILL, signal.SIGFPE})


def ending_signal(code: int) -> signal.Signals | None:
    """The signal that ended a process, from its exit code: -N natively, 128 + N
    from docker-init in a container; None for a plain exit."""
    number = -code if code < 0 else code - 128 if code > 128 else 0
    try:
        return signal.Signals(number) if number else None
    except ValueError:
        return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_binary(binary: str) -> str:
    """Path of `binary`; installs its Debian package when missing and running as root.

    Fails the test (not skips) with the exact install command otherwise.
    """
    path = shutil.which(binary)
    if path:
        return path
    package = PACKAGES.get(binary, binary)
    command = ["apt-get", "install", "-y", "--no-install-recommends", package]
    if os.geteuid() == 0:
        global _apt_updated
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        if not _apt_updated:
            subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
            _apt_updated = True
        subprocess.run(command, check=False, env=env)
        path = shutil.which(binary)
        if path:
            return path
    pytest.fail(f"{binary} is not installed; install it with: sudo {' '.join(command)}")


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `predicate` with backoff until it is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"Timed out after {timeout}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (None once the process is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def cpu_seconds_of(pids: Iterable[int]) -> float:
    """User + system CPU seconds the live processes `pids` have used, all their threads'."""
    ticks = 0
    for pid in pids:
        fields = _proc_stat(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def group_pids(pgid: int) -> list[int]:
    """The live processes of process group `pgid`."""
    pids = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    return [pid for pid in pids if (fields := _proc_stat(pid)) is not None and int(fields[2]) == pgid]


class ProcessHandle(Protocol):
    """A running daemon, native or in a container."""

    def poll(self) -> int | None: ...

    def stop(self, timeout: float) -> None: ...

    def kill(self) -> None:
        """SIGKILL the daemon (frozen or not), without waiting."""

    def freeze(self) -> None:
        """Stop the daemon's process without ending it: it reads and answers nothing."""

    def thaw(self) -> None:
        """Let a frozen daemon go on."""

    def cpu_seconds(self) -> float:
        """CPU seconds the daemon's processes have used so far (for benchmarks)."""


class NativeProcess:
    """A daemon started as a local process in its own process group."""

    def __init__(self, argv: Sequence[str], log_path: Path, cwd: Path) -> None:
        with log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                list(argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
                env={**os.environ, **DAEMON_ENVIRONMENT},
                start_new_session=True,
            )

    def poll(self) -> int | None:
        return self.popen.poll()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)

    def freeze(self) -> None:
        os.kill(self.popen.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.popen.pid, signal.SIGCONT)

    def cpu_seconds(self) -> float:
        return cpu_seconds_of(group_pids(self.popen.pid))

    def stop(self, timeout: float) -> None:
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=5)


class NativeRunner:
    """Runs daemons from the machine's Debian packages."""

    name = "native"

    def executable(self, binary: str) -> str:
        return require_binary(binary)

    def output(self, argv: Sequence[str]) -> str:
        """stdout+stderr of a short command (e.g. ``--version``)."""
        result = subprocess.run(list(argv), capture_output=True, text=True, timeout=30, check=False)
        return result.stdout + result.stderr

    def spawn(self, argv: Sequence[str], log_path: Path, cwd: Path) -> ProcessHandle:
        return NativeProcess(argv, log_path, cwd)


class Daemon:
    """A client daemon process started for tests.

    Subclasses set :attr:`client` and implement :meth:`command` and
    :meth:`is_ready`; :meth:`prepare` writes config files. Executables are
    named through ``self.runner.executable(name)`` and versions read with
    ``self.runner.output([...])`` so the same class runs a daemon natively
    or in a container (another runner).
    """

    client: str = ""
    #: Label used in test ids, e.g. "transmission-3.00".
    label: str = ""
    username = "tester"
    password = "s3cret-Pa55"

    def __init__(self, workdir: Path, runner: NativeRunner | None = None) -> None:
        self.runner = runner or NativeRunner()
        self.workdir = workdir
        self.download_dir = workdir / "downloads"
        self.download_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "daemon.log"
        self.process: ProcessHandle | None = None

    # --- to implement -------------------------------------------------------
    def prepare(self) -> None:
        """Write config files; called once before the first start."""

    def command(self) -> Sequence[str]:
        raise NotImplementedError

    def clear_leftovers(self) -> None:
        """Remove what a killed daemon left behind that would stop the next one starting."""

    def is_ready(self) -> bool:
        raise NotImplementedError

    @property
    def url(self) -> str:
        """URL with credentials, in the client's format."""
        raise NotImplementedError

    # --- lifecycle ------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> None:
        """Start the daemon and wait until it answers.

        A daemon that crashes while starting is started once more, with a
        warning that shows its log: Deluge 2.2 sometimes does, loading a long
        state file (README, "Client bugs worth knowing"), and a service
        manager would restart it. A second crash, or any other exit, raises.
        """
        if self.process is None:
            self.prepare()
        for attempt in (1, 2):
            if self.process is not None:
                # The last process ended (killed, crashed or stopped): its
                # container, if it ran in one, is removed before the next starts.
                self.process.stop(timeout=15)
            self.clear_leftovers()
            self.process = self.runner.spawn(self.command(), self.log_path, self.workdir)
            try:
                wait_until(self._ready_or_dead, timeout, f"{self.client} to answer")
            except RuntimeError:
                self.stop()
                raise RuntimeError(f"{self.client} did not start:\n{self.log_tail()}") from None
            code = self.process.poll()
            if code is None:
                return
            crash = ending_signal(code)
            if crash is None or crash not in CRASH_SIGNALS or attempt == 2:
                raise RuntimeError(f"{self.client} exited with {code}:\n{self.log_tail()}")
            warnings.warn(
                f"{self.label or self.client} crashed with {crash.name} while starting and was started again;"
                f" the end of its log:\n{self.log_tail(24)}",
                stacklevel=2,
            )

    def _ready_or_dead(self) -> bool:
        assert self.process is not None
        return self.process.poll() is not None or self.is_ready()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=15)

    def restart(self) -> None:
        self.stop()
        self.start()

    def saving_state(self) -> bool:
        """Whether the daemon is writing its state file now (a graceful stop
        then may not save what changed since); false where nothing tells."""
        return False

    # --- faults (native or container alike) -----------------------------------
    def kill(self) -> None:
        """SIGKILL the daemon (frozen or not) and wait until it is gone; :meth:`start` brings it back."""
        process = self.process
        assert process is not None
        process.kill()
        wait_until(lambda: process.poll() is not None, 15, f"{self.client} to exit")

    def freeze(self) -> None:
        """Stop the daemon's process without ending it: it reads and answers nothing."""
        assert self.process is not None
        self.process.freeze()

    def thaw(self) -> None:
        """Let a frozen daemon go on."""
        assert self.process is not None
        self.process.thaw()

    def cpu_seconds(self) -> float:
        """CPU seconds the running daemon has used so far (for benchmarks)."""
        assert self.process is not None
        return self.process.cpu_seconds()

    def revive(self) -> str | None:
        """Start the daemon again if it has exited; None if it runs, else how it ended.

        A daemon that crashes must fail the test it crashed in, with its log,
        and not every test after it with "connection refused".
        """
        if self.process is None or (code := self.process.poll()) is None:
            return None
        by = ending_signal(code)
        ending = f"was killed by {by.name}" if by is not None else f"exited with {code}"
        report = f"{self.label or self.client} {ending}; the end of its log:\n{self.log_tail()}"
        self.start()
        return report

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
