"""make demo: a throwaway Transmission daemon, a generated torrent, btclient calls.

Everything lives in a temp dir and is removed at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import torf

BIN = Path(sys.executable).parent
USER, PASSWORD = "demo", "demo-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_daemon(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.05
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/transmission/rpc", timeout=1)
        except urllib.error.HTTPError:
            return  # 401/409: it answers
        except OSError:
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
    raise SystemExit("transmission-daemon did not start")


def btclient(*args: str) -> None:
    print(f"$ btclient {' '.join(args)}", flush=True)
    subprocess.run([str(BIN / "btclient"), *args], check=False)
    print(flush=True)


def main() -> None:
    daemon_binary = shutil.which("transmission-daemon")
    if not daemon_binary:
        raise SystemExit("transmission-daemon is missing: run scripts/install-daemons.sh")
    with tempfile.TemporaryDirectory(prefix="btclient-demo-") as tmp:
        root = Path(tmp)
        downloads = root / "downloads"
        downloads.mkdir()
        content = downloads / "demo-content"
        content.write_bytes(os.urandom(1024 * 1024))
        torrent = torf.Torrent(path=content, private=True, created_by=None)
        torrent.generate()
        torrent_path = root / "demo.torrent"
        torrent.write(torrent_path)
        infohash = str(torrent.infohash)

        port = free_port()
        process = subprocess.Popen(
            [
                daemon_binary,
                "-f",
                "-g",
                str(root / "config"),
                "-p",
                str(port),
                "--rpc-bind-address",
                "127.0.0.1",
                "-t",
                "-u",
                USER,
                "-v",
                PASSWORD,
                "-w",
                str(downloads),
                "-P",
                str(free_port()),
                "--no-dht",
                "--no-portmap",
                "--no-lpd",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_for_daemon(port)
            url = f"{USER}:{PASSWORD}@localhost:{port}"
            btclient("transmission", url, "add", str(torrent_path), "stopped=true", f"location={downloads}")
            btclient("transmission", url, "get_infohashes")
            btclient("transmission", url, "verify", infohash)
            btclient("transmission", url, "verify_wait", infohash)
            btclient("transmission", url, "start", infohash)
            btclient("transmission", url, "stop", infohash)
            btclient("transmission", url, "stop", infohash)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)


if __name__ == "__main__":
    main()
