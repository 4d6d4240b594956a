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
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

#: Debian package providing each binary.
PACKAGES = {
    "transmission-daemon": "transmission-daemon",
    "qbittorrent-nox": "qbittorrent-nox",
    "deluged": "deluged",
    "rtorrent": "rtorrent",
    "nginx": "nginx-light",
    "openssl": "openssl",
}

_apt_updated = False


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


class Daemon:
    """A client daemon process started for tests.

    Subclasses set :attr:`client` and implement :meth:`command` and
    :meth:`is_ready`; :meth:`prepare` writes config files.
    """

    client: str = ""
    #: Label used in test ids, e.g. "transmission-3.00".
    label: str = ""
    username = "tester"
    password = "s3cret-Pa55"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.download_dir = workdir / "downloads"
        self.download_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "daemon.log"
        self.process: subprocess.Popen[bytes] | None = None

    # --- to implement -------------------------------------------------------
    def prepare(self) -> None:
        """Write config files; called once before the first start."""

    def command(self) -> Sequence[str]:
        raise NotImplementedError

    def is_ready(self) -> bool:
        raise NotImplementedError

    @property
    def url(self) -> str:
        """URL with credentials, in the client's format."""
        raise NotImplementedError

    # --- lifecycle ------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> None:
        if self.process is None:
            self.prepare()
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            list(self.command()),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir,
            start_new_session=True,
        )
        log.close()
        try:
            wait_until(self._ready_or_dead, timeout, f"{self.client} to answer")
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"{self.client} did not start:\n{self.log_tail()}") from None
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.client} exited with {self.process.returncode}:\n{self.log_tail()}")

    def _ready_or_dead(self) -> bool:
        assert self.process is not None
        return self.process.poll() is not None or self.is_ready()

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
