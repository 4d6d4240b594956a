"""Which client daemons can run here, and starting one of them on its own.

The pytest plugin (:mod:`aiobtclientapi.testing.plugin`) offers each client
from the machine's Debian package when it is installed, else from a client
image (built from Debian's packages by ``python -m aiobtclientapi.testing.images``) when a
Docker engine answers; with containers asked for, every image's version too.
Whatever can't run is described, so that a test skipped for it says why.

Listing runs ``--version`` commands and ``docker`` queries, never a daemon.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from aiobtclientapi.testing import _containers
from aiobtclientapi.testing._containers import CLIENT_PACKAGES, IMAGE_REPOSITORY, ContainerRunner
from aiobtclientapi.testing._daemon import Daemon, NativeRunner
from aiobtclientapi.testing._targets import Target
from aiobtclientapi.testing.images import BUILD_COMMAND

#: The clients a daemon can be started for, in the order tests run on them.
CLIENTS = ("deluge", "qbittorrent", "rtorrent", "transmission")

#: The executable each client's daemon runs (also the name of its Debian package).
BINARIES = {
    "deluge": "deluged",
    "qbittorrent": "qbittorrent-nox",
    "rtorrent": "rtorrent",
    "transmission": "transmission-daemon",
}


@dataclass(frozen=True)
class DaemonChoice:
    """One daemon that can run here: a client's version, natively or from an image."""

    client: str
    #: The client's own version, e.g. "3.00".
    version: str
    #: None for the machine's package, else the image, e.g. "aiobtclientapi-clients:forky".
    image: str | None = None

    @property
    def id(self) -> str:
        """Test id: "transmission-3.00", or "transmission-4.1.0-forky" for an image's."""
        if self.image is None:
            return f"{self.client}-{self.version}"
        return f"{self.client}-{self.version}-{self.image.rsplit(':', 1)[-1]}"

    @property
    def where(self) -> str:
        return "the installed package" if self.image is None else f"image {self.image}"


@dataclass(frozen=True)
class Unavailable:
    """A client (or its container versions) that can't run here, and why."""

    #: Test id: the client's name, or e.g. "qbittorrent-containers".
    id: str
    #: What is missing and what to do about it, starting with the client's name.
    reason: str


def native_version(client: str) -> str | None:
    """The version of ``client``'s installed package; None when it isn't installed.

    Checked with :func:`shutil.which` first: nothing here installs a package.
    """
    if shutil.which(BINARIES[client]) is None:
        return None
    return _native_versions[client]()


def _transmission_version() -> str:
    from aiobtclientapi.testing._transmission import native_version

    return native_version()


def _qbittorrent_version() -> str:
    from aiobtclientapi.testing._qbittorrent import _version

    return _version()


def _deluge_version() -> str:
    from aiobtclientapi.testing._deluge import _native_version

    return _native_version()


def _rtorrent_version() -> str:
    from aiobtclientapi.testing._rtorrent import rtorrent_version

    return rtorrent_version()


_native_versions: dict[str, Callable[[], str]] = {
    "deluge": _deluge_version,
    "qbittorrent": _qbittorrent_version,
    "rtorrent": _rtorrent_version,
    "transmission": _transmission_version,
}


def docker_problem() -> tuple[str, str] | None:
    """Why no client image can run here and what to do about it; None when one can."""
    if shutil.which("docker") is None:
        return "no docker command", "install Docker"
    if _containers.docker_available() is not None:
        return "no Docker engine answers", "start Docker"
    if not _containers.image_runners():
        return f"no {IMAGE_REPOSITORY} image", f"build them with {BUILD_COMMAND} (as root, with debootstrap)"
    return None


def image_choices(client: str) -> list[DaemonChoice]:
    """``client`` in each image built here, oldest Debian suite first (none without Docker)."""
    found = []
    for runner in _containers.image_runners():
        if CLIENT_PACKAGES[client] in runner.package_versions:
            found.append(DaemonChoice(client, runner.client_version(client), runner.image))
    return found


@functools.cache
def choices(client: str, containers: bool) -> tuple[DaemonChoice | Unavailable, ...]:
    """The daemons of ``client`` to test on: the package's, else an image's; with
    ``containers`` every image's too. What can't run comes as :class:`Unavailable`."""
    binary = BINARIES[client]
    native = native_version(client)
    found: list[DaemonChoice | Unavailable] = []
    if native is not None:
        found.append(DaemonChoice(client, native))
        if not containers:
            return tuple(found)
    problem = docker_problem()
    in_images = [] if problem is not None else image_choices(client)
    if problem is None and not in_images:
        problem = f"no {IMAGE_REPOSITORY} image holds {binary}", "build the images with a Debian suite that packages it"
    if problem is not None:
        what, hint = problem
        if native is None:
            reason = f"{client}: {binary} not installed and {what} (install the Debian package {binary}, or {hint})"
            return (Unavailable(client, reason),)
        return (*found, Unavailable(f"{client}-containers", f"{client} in containers: {what} ({hint})"))
    # Without containers asked for, one image stands in for the missing package.
    found += in_images if containers else in_images[:1]
    return tuple(found)


def choose(client: str, version: str | None) -> DaemonChoice | Unavailable:
    """The daemon for ``bt_daemon(client, version)``: the package's when it has
    that version (or any, for None), else the first image that has it."""
    binary = BINARIES[client]
    native = native_version(client)
    if native is not None and version in (None, native):
        return DaemonChoice(client, native)
    problem = docker_problem()
    in_images = [] if problem is not None else image_choices(client)
    for choice in in_images:
        if version in (None, choice.version):
            return choice
    wanted = f"{client} {version}" if version is not None else client
    here = [f"{native} (installed package)"] if native is not None else []
    here += [f"{choice.version} ({choice.where})" for choice in in_images]
    if here:
        return Unavailable(wanted, f"{wanted}: not available here; there are {', '.join(here)}")
    what, hint = problem or (f"no {IMAGE_REPOSITORY} image holds {binary}", "build the images")
    return Unavailable(
        wanted, f"{wanted}: {binary} not installed and {what} (install the Debian package {binary}, or {hint})"
    )


def _daemon_and_target(
    client: str, workdir: Path, runner: NativeRunner, label: str
) -> tuple[Daemon, Callable[[], Target]]:
    """``client``'s daemon (not started yet), and what makes the target on it once it runs."""
    if client == "transmission":
        from aiobtclientapi.testing._transmission import TransmissionDaemon, TransmissionTarget

        transmission = TransmissionDaemon(workdir, runner)
        transmission.label = label
        return transmission, lambda: TransmissionTarget(label, transmission)
    if client == "qbittorrent":
        from aiobtclientapi.testing._qbittorrent import QbittorrentDaemon, QbittorrentTarget

        qbittorrent = QbittorrentDaemon(workdir, runner)
        qbittorrent.label = label
        return qbittorrent, lambda: QbittorrentTarget(qbittorrent)
    if client == "deluge":
        from aiobtclientapi.testing._deluge import DelugeDaemon, DelugeTarget

        deluge = DelugeDaemon(workdir, runner)
        deluge.label = label
        return deluge, lambda: DelugeTarget(deluge)
    if client == "rtorrent":
        from aiobtclientapi.testing._rtorrent import RtorrentDaemon, RtorrentTarget

        # SCGI over TCP: the one transport every rTorrent has, with nothing in front.
        rtorrent = RtorrentDaemon(workdir, runner, socket_file=False)
        rtorrent.label = label
        return rtorrent, lambda: RtorrentTarget("scgi", rtorrent)
    raise LookupError(f"No client {client!r}")


@contextlib.contextmanager
def started_target(choice: DaemonChoice, workdir: Path) -> Iterator[Target]:
    """Start the daemon ``choice`` names in ``workdir``; yield its target; stop it."""
    runner = NativeRunner() if choice.image is None else ContainerRunner(choice.image)
    daemon, make_target = _daemon_and_target(choice.client, workdir, runner, choice.id)
    try:
        daemon.start()
        yield make_target()
    finally:
        daemon.stop()
