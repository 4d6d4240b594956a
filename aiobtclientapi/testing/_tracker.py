"""A BitTorrent tracker on loopback that answers every announce with no peers.

Test torrents need a tracker: rTorrent refuses private torrents without one.
The tracker must also answer. Debian 12's deluged 2.0.3 with libtorrent 2.0
can segfault when it handles a tracker error: its handler reads the alert after
libtorrent has freed it. An unreachable tracker would therefore crash the
daemon under test at random.
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Bencoded replies: no peers, no re-announce within a test session.
_ANNOUNCE_REPLY = b"d8:completei0e10:incompletei0e8:intervali3600e12:min intervali3600e5:peers0:e"
_SCRAPE_REPLY = b"d5:filesdee"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        body = {"/announce": _ANNOUNCE_REPLY, "/scrape": _SCRAPE_REPLY}.get(path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # every daemon announces every torrent: too much for a test log


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # A daemon given a thousand torrents announces them all at once: the
    # default listen backlog of 5 is far too short for that.
    request_queue_size = 1024

    def handle_error(self, request: object, client_address: object) -> None:
        # A daemon that hangs up before reading its reply (it is being stopped,
        # or gave up on the announce) is no error of the tracker's.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


_lock = threading.Lock()
_server: _Server | None = None


def announce_url() -> str:
    """The announce URL of this process's tracker, started on first use.

    It runs in a daemon thread until the process ends: daemons announce
    "stopped" while a test session shuts them down.
    """
    global _server
    with _lock:
        if _server is None:
            _server = _Server(("127.0.0.1", 0), _Handler)
            threading.Thread(target=_server.serve_forever, name="test-tracker", daemon=True).start()
        host, port = _server.server_address[:2]
    return f"http://{host!s}:{port}/announce"
