"""Running the client daemons in containers: newer Debian releases than the machine's.

:class:`ContainerRunner` has the interface of :class:`~aiobtclientapi.testing._daemon.NativeRunner`,
so a client's :class:`~aiobtclientapi.testing._daemon.Daemon` subclass runs its daemon
in a container just by being given one: ``QbittorrentDaemon(workdir, runner=runner)``.

The images are ``aiobtclientapi-clients:<suite>``, built from Debian packages
by ``python -m aiobtclientapi.testing.images`` (no registry is needed). Containers use
the host's network, so daemons listen on 127.0.0.1 ports exactly like native
ones; the daemon's workdir is bind-mounted at the same path, so config files,
download dirs and logs are shared with the tests.

Nothing here touches Docker unless ``BTC_CONTAINERS=1`` (``make test-containers``):
:func:`runners` returns no runner otherwise, so ``make test`` never needs an engine.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from aiobtclientapi.testing._daemon import DAEMON_ENVIRONMENT, Daemon, NativeRunner, ProcessHandle, cpu_seconds_of
from aiobtclientapi.testing._targets import Target
from aiobtclientapi.testing.images import BUILD_COMMAND

# The reaper image (ryuk) can't be pulled here; containers are removed by stop().
# Set before testcontainers is imported: its config reads the environment once.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

#: Environment variable switching the container matrix on.
ENABLE_VARIABLE = "BTC_CONTAINERS"
#: Repository of the client images; the tag is the Debian suite.
IMAGE_REPOSITORY = "aiobtclientapi-clients"
#: Known suites, oldest first (test ids and ordering follow this).
SUITES = ("trixie", "forky")
#: Image label holding "package=version ..." as installed (set by images/build-images.sh).
VERSIONS_LABEL = "org.aiobtclientapi.versions"
#: Label on every container we start, to find leftovers after a killed run:
#: ``docker rm -f $(docker ps -aq --filter label=org.aiobtclientapi.test)``.
CONTAINER_LABEL = "org.aiobtclientapi.test"

#: Debian package of each client, as named by the adapters.
CLIENT_PACKAGES = {
    "transmission": "transmission-daemon",
    "qbittorrent": "qbittorrent-nox",
    "deluge": "deluged",
    "rtorrent": "rtorrent",
}

_DOCKER_TIMEOUT = 60


def enabled() -> bool:
    """True when the container matrix was asked for (``BTC_CONTAINERS=1``)."""
    return os.environ.get(ENABLE_VARIABLE) == "1"


def _docker(*args: str, timeout: float = _DOCKER_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)


@functools.cache
def docker_available() -> str | None:
    """None when a Docker engine answers here, else the reason why not."""
    if shutil.which("docker") is None:
        return "the docker command is not installed (run scripts/docker-engine.sh)"
    try:
        result = _docker("info", "--format", "{{.ServerVersion}}", timeout=20)
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 20 s"
    if result.returncode != 0 or not result.stdout.strip():
        lines = (result.stderr or result.stdout).strip().splitlines()
        why = lines[-1] if lines else "docker info failed"
        return f"no Docker engine answers ({why}); run scripts/docker-engine.sh"
    return None


def images() -> list[str]:
    """Tags of the client images built here, known suites first (oldest first)."""
    if docker_available() is not None:
        return []
    result = _docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", IMAGE_REPOSITORY)
    tags = [line for line in result.stdout.split() if line.startswith(f"{IMAGE_REPOSITORY}:")]
    order = {f"{IMAGE_REPOSITORY}:{suite}": index for index, suite in enumerate(SUITES)}
    return sorted(tags, key=lambda tag: (order.get(tag, len(order)), tag))


def upstream_version(debian_version: str) -> str:
    """The client's own version from a Debian package version.

    "1:5.1.0-1" → "5.1.0"; "4.1.0~beta2+dfsg-3+deb13u2" → "4.1.0-beta.2";
    "2.2.1~dev0+20260307-2" → "2.2.1.dev0".
    """
    version = debian_version.split(":", 1)[-1]
    version = version.rsplit("-", 1)[0] if "-" in version else version
    version = re.split(r"[+]", version, maxsplit=1)[0]
    # Debian writes pre-releases with "~" so they sort before the release;
    # Transmission itself says "4.1.0-beta.2".
    version = re.sub(r"~(alpha|beta|rc)\.?(\d+)", r"-\1.\2", version)
    version = re.sub(r"~(dev)", r".\1", version)
    return version


class ContainerProcess:
    """A daemon running as PID 1's child in a container (docker-init forwards signals).

    The container's output is copied live into ``log_path`` (appending, like a
    native daemon's log), so readiness failures and crashes are diagnosable
    from the same file.
    """

    def __init__(self, runner: ContainerRunner, argv: Sequence[str], log_path: Path, cwd: Path) -> None:
        from testcontainers.core.config import testcontainers_config
        from testcontainers.core.container import DockerContainer

        testcontainers_config.ryuk_disabled = True
        self.log_path = log_path
        self.name = f"btc-{runner.name}-{Path(argv[0]).name}-{uuid.uuid4().hex[:8]}"
        self._exit_code: int | None = None
        self._log_thread: threading.Thread | None = None
        container = (
            DockerContainer(runner.image)
            .with_name(self.name)
            .with_command(list(argv))
            .with_kwargs(
                network_mode="host",
                working_dir=str(cwd),
                # Files the daemon writes in the shared workdir belong to the test's user.
                user=f"{os.getuid()}:{os.getgid()}",
                init=True,
                labels={CONTAINER_LABEL: runner.name},
            )
            # Anything a daemon writes below $HOME lands in its workdir too.
            .with_env("HOME", str(cwd))
        )
        for name, value in DAEMON_ENVIRONMENT.items():
            container = container.with_env(name, value)
        for path in (cwd, *runner.extra_mounts):
            container = container.with_volume_mapping(str(path), str(path), "rw")
        self.container = container
        try:
            container.start()
        except Exception as exc:
            self._append_log(f"[container {self.name}] failed to start: {exc}\n".encode())
            self._remove()
            raise RuntimeError(f"Container {self.name} ({runner.image}) did not start: {exc}") from exc
        self._log_thread = threading.Thread(target=self._follow_logs, name=f"logs-{self.name}", daemon=True)
        self._log_thread.start()

    def _append_log(self, data: bytes) -> None:
        with self.log_path.open("ab") as log:
            log.write(data)

    def _follow_logs(self) -> None:
        # Ends by itself when the container stops.
        with contextlib.suppress(Exception), self.log_path.open("ab") as log:
            for chunk in self.container.get_wrapped_container().logs(stream=True, follow=True):
                log.write(chunk)
                log.flush()

    def _state(self) -> dict[str, Any] | None:
        if self._exit_code is not None:
            return None
        try:
            wrapped = self.container.get_wrapped_container()
            wrapped.reload()
        except Exception:  # removed behind our back: it is not running
            return None
        state: dict[str, Any] = wrapped.attrs["State"]
        return state

    def poll(self) -> int | None:
        if self._exit_code is not None:
            return self._exit_code
        state = self._state()
        if state is None:
            self._exit_code = -1
        elif state.get("Status") in ("exited", "dead"):
            self._exit_code = int(state.get("ExitCode", -1))
        if self._exit_code is not None and self._log_thread is not None:
            # The log stream ends with the container: let the last lines reach the log
            # file before a caller reads it to explain the exit.
            self._log_thread.join(timeout=5)
        return self._exit_code

    def kill(self) -> None:
        # `docker kill` SIGKILLs only docker-init and, on a paused container,
        # unpauses it: the thawed daemon can still answer a request it had read
        # before the kernel ends the rest of the container. So every process
        # gets its SIGKILL first, directly; on a frozen one it is pending and
        # wins as soon as it is thawed, as a native killpg() would.
        wrapped = self.container.get_wrapped_container()
        for pid in self._host_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        # A paused container can be killed; it is then no longer paused.
        with contextlib.suppress(Exception):
            wrapped.kill()

    def _host_pids(self) -> list[int]:
        """The host PIDs of the container's processes (none if it is gone)."""
        try:
            top = self.container.get_wrapped_container().top(ps_args="-o pid")
        except Exception:  # exited or removed: nothing left to kill
            return []
        column = [title.strip().upper() for title in top["Titles"]].index("PID")
        return [int(row[column]) for row in top.get("Processes") or []]

    def freeze(self) -> None:
        self.container.get_wrapped_container().pause()

    def thaw(self) -> None:
        self.container.get_wrapped_container().unpause()

    def cpu_seconds(self) -> float:
        return cpu_seconds_of(self._host_pids())

    def stop(self, timeout: float) -> None:
        if self.poll() is None:
            # SIGTERM to the daemon, SIGKILL after `timeout` seconds, like NativeProcess.
            with contextlib.suppress(Exception):
                self.container.get_wrapped_container().stop(timeout=max(1, round(timeout)))
            self._exit_code = None
            self.poll()
        if self._log_thread is not None:
            self._log_thread.join(timeout=10)
        self._remove()

    def _remove(self) -> None:
        with contextlib.suppress(Exception):
            self.container.stop(force=True)


class ContainerRunner(NativeRunner):
    """Runs daemons inside a container of one client image, on the host's network.

    Subclasses :class:`NativeRunner` only so ``Daemon(workdir, runner=...)``
    type-checks; every method is replaced.
    """

    def __init__(self, image: str, extra_mounts: Sequence[Path] = ()) -> None:
        self.image = image
        #: Test-id suffix: the Debian suite, e.g. "trixie".
        self.name = image.rsplit(":", 1)[-1]
        #: Host paths mounted (read-write, same path) besides the daemon's workdir.
        self.extra_mounts = tuple(extra_mounts)

    @classmethod
    def for_image(cls, tag: str) -> ContainerRunner:
        """Runner for ``tag``: a full image name or just the suite ("forky")."""
        image = tag if ":" in tag else f"{IMAGE_REPOSITORY}:{tag}"
        reason = docker_available()
        if reason is not None:
            raise RuntimeError(f"Can't run containers: {reason}")
        if _docker("image", "inspect", image).returncode != 0:
            raise RuntimeError(f"No image {image}; build it with {BUILD_COMMAND}")
        return cls(image)

    def __repr__(self) -> str:
        return f"ContainerRunner({self.image!r})"

    def executable(self, binary: str) -> str:
        # Installed in the image; the container's PATH finds it.
        return binary

    def output(self, argv: Sequence[str]) -> str:
        """stdout+stderr of a short command run in a throwaway container."""
        result = _docker(
            "run",
            "--rm",
            "--network",
            "host",
            "--init",
            "--label",
            f"{CONTAINER_LABEL}={self.name}",
            self.image,
            *argv,
        )
        return result.stdout + result.stderr

    def spawn(self, argv: Sequence[str], log_path: Path, cwd: Path) -> ProcessHandle:
        return ContainerProcess(self, argv, log_path, cwd)

    @functools.cached_property
    def package_versions(self) -> dict[str, str]:
        """Debian version of each client package in the image."""
        result = _docker("image", "inspect", "--format", "{{json .Config.Labels}}", self.image)
        labels = json.loads(result.stdout or "null") or {}
        text = labels.get(VERSIONS_LABEL) or self.output(
            ["dpkg-query", "-W", "-f", "${Package}=${Version} ", *CLIENT_PACKAGES.values()]
        )
        return dict(item.split("=", 1) for item in text.split() if "=" in item)

    def client_version(self, client: str) -> str:
        """Upstream version of a client ("qbittorrent" → "5.1.0") in this image."""
        return upstream_version(self.package_versions[CLIENT_PACKAGES[client]])

    def target_id(self, client: str) -> str:
        """Test id of a client in this image, e.g. "qbittorrent-5.1.0-trixie"."""
        return f"{client}-{self.client_version(client)}-{self.name}"


@functools.cache
def runners() -> list[ContainerRunner]:
    """One runner per client image when ``BTC_CONTAINERS=1``; none otherwise.

    Raises when the matrix was asked for but can't run (no engine, no image):
    a requested matrix that silently tests nothing would look like a pass.
    """
    if not enabled():
        return []
    reason = docker_available()
    if reason is not None:
        raise RuntimeError(f"{ENABLE_VARIABLE}=1 but {reason}")
    tags = images()
    if not tags:
        raise RuntimeError(f"{ENABLE_VARIABLE}=1 but no {IMAGE_REPOSITORY} image exists; run {BUILD_COMMAND}")
    return [ContainerRunner(tag) for tag in tags]


@functools.cache
def image_runners() -> list[ContainerRunner]:
    """One runner per client image built here, whatever ``BTC_CONTAINERS`` says.

    Empty when no Docker engine answers or no image is built; raises nothing
    (the pytest plugin says per client what is missing).
    """
    return [ContainerRunner(tag) for tag in images()]


def container_labels(client: str) -> list[str]:
    """``client``'s label in each image, e.g. ["qbittorrent-5.1.0-trixie", "qbittorrent-5.3.0-forky"].

    Empty unless ``BTC_CONTAINERS=1``. Cheap: reads image labels, starts nothing.
    """
    return [runner.target_id(client) for runner in runners()]


def is_container_target(target_id: str) -> bool:
    """Whether a target id names a daemon in a container (e.g. "rtorrent-0.16.17-forky-scgi")."""
    labels = [label for client in CLIENT_PACKAGES for label in container_labels(client)]
    return any(target_id == label or target_id.startswith(f"{label}-") for label in labels)


def target_param(target_id: str) -> Any:
    """``target_id`` as a pytest parameter, marked ``containers`` when it runs in a container.

    For ``pytest_generate_tests``: ``metafunc.parametrize("target", [target_param(i) for i in ids], ...)``
    lets ``pytest -m containers`` select exactly the container targets.
    """
    import pytest

    marks = [pytest.mark.containers] if is_container_target(target_id) else []
    return pytest.param(target_id, marks=marks, id=target_id)


DaemonT = TypeVar("DaemonT", bound=Daemon)
TargetT = TypeVar("TargetT", bound=Target)


@contextlib.contextmanager
def container_targets(
    client: str,
    workdir: Path,
    make_daemon: Callable[[Path, ContainerRunner], DaemonT],
    make_targets: Callable[[DaemonT], Iterable[TargetT]],
) -> Iterator[dict[str, TargetT]]:
    """Start ``client``'s daemon in every image; yield ``{target.id: target}``; stop them.

    ``make_daemon(workdir, runner)`` builds the client's Daemon (usually the
    class itself). Its ``label`` is then set to the container label (see
    :func:`container_labels`), so Targets that derive their id from
    ``daemon.label`` get ids like "qbittorrent-5.3.0-forky";
    ``make_targets(daemon)`` returns the Targets on that daemon. Each image
    gets its own workdir below ``workdir``. Yields ``{}`` unless ``BTC_CONTAINERS=1``.
    """
    started: dict[str, TargetT] = {}
    with contextlib.ExitStack() as stack:
        for runner in runners():
            label = runner.target_id(client)
            daemon_dir = workdir / label
            daemon_dir.mkdir(parents=True, exist_ok=True)
            daemon = make_daemon(daemon_dir, runner)
            daemon.label = label
            stack.callback(daemon.stop)
            daemon.start()
            for target in make_targets(daemon):
                started[target.id] = target
        yield started


@contextlib.contextmanager
def native_and_container_targets(
    client: str,
    workdir: Path,
    make_daemon: Callable[[Path, NativeRunner], DaemonT],
    make_targets: Callable[[DaemonT], Iterable[TargetT]],
) -> Iterator[dict[str, Target]]:
    """The native daemon's targets, then every container's (with ``BTC_CONTAINERS=1``).

    The native daemon's ``label`` must already name it (e.g. "deluge-2.0.3").
    """
    native_dir = workdir / "native"
    native_dir.mkdir(parents=True, exist_ok=True)
    daemon = make_daemon(native_dir, NativeRunner())
    with contextlib.ExitStack() as stack:
        stack.callback(daemon.stop)
        daemon.start()
        found: dict[str, Target] = {target.id: target for target in make_targets(daemon)}
        found.update(stack.enter_context(container_targets(client, workdir / "containers", make_daemon, make_targets)))
        yield found


def runner_params() -> list[Any]:
    """The native runner and, with ``BTC_CONTAINERS=1``, one per image (marked ``containers``),
    as pytest parameters for a client's own tests."""
    import pytest

    params = [pytest.param(NativeRunner(), id="native")]
    params += [pytest.param(runner, id=runner.name, marks=[pytest.mark.containers]) for runner in runners()]
    return params
