"""The container runner against the real Docker engine and client images.

Runs only with ``BTC_CONTAINERS=1`` (``make test-containers`` starts the engine
and builds the images first).
"""

from __future__ import annotations

import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from aiobtclientapi.testing import _containers
from aiobtclientapi.testing._containers import ContainerRunner
from aiobtclientapi.testing._daemon import Daemon, free_port, port_open, wait_until
from aiobtclientapi.testing._targets import Target

pytestmark = [
    pytest.mark.containers,
    pytest.mark.skipif(not _containers.enabled(), reason="container matrix: run make test-containers"),
]

#: What each image must contain (the versions the container matrix exists for).
EXPECTED_VERSIONS = {
    "trixie": {
        "transmission": "4.1.0-beta.2",
        "qbittorrent": "5.1.0",
        "deluge": "2.2.0",
        "rtorrent": "0.9.8",
    },
    "forky": {
        "transmission": "4.1.3",
        "qbittorrent": "5.3.0",
        "deluge": "2.2.1.dev0",
        "rtorrent": "0.16.17",
    },
}


class TransmissionProbe(Daemon):
    """Bare transmission-daemon (no auth): enough to see the runner work."""

    client = "transmission"

    def __init__(self, workdir: Path, runner: ContainerRunner) -> None:
        super().__init__(workdir, runner)
        self.rpc_port = free_port()
        self.peer_port = free_port()
        self.config_dir = workdir / "config"

    def command(self) -> Sequence[str]:
        return [
            self.runner.executable("transmission-daemon"),
            "--foreground",
            "--config-dir",
            str(self.config_dir),
            "--port",
            str(self.rpc_port),
            "--rpc-bind-address",
            "127.0.0.1",
            "--peerport",
            str(self.peer_port),
            "--no-auth",
            "--download-dir",
            str(self.download_dir),
        ]

    def is_ready(self) -> bool:
        return port_open(self.rpc_port)

    def rpc_status(self) -> tuple[int, dict[str, str]]:
        """Status and headers of a bare request to the RPC endpoint, from the host."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.rpc_port}/transmission/rpc")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers)


def container_exists(name: str) -> bool:
    result = subprocess.run(
        ["docker", "ps", "-a", "--quiet", "--filter", f"name=^{name}$"],
        capture_output=True,
        text=True,
        check=True,
    )
    return bool(result.stdout.strip())


@pytest.fixture(params=list(_containers.SUITES))
def runner(request: pytest.FixtureRequest) -> ContainerRunner:
    return ContainerRunner.for_image(request.param)


@pytest.fixture
def probe(runner: ContainerRunner, tmp_path: Path) -> Iterator[TransmissionProbe]:
    daemon = TransmissionProbe(tmp_path, runner)
    yield daemon
    daemon.stop()


def test_engine_and_images_are_there() -> None:
    assert _containers.docker_available() is None
    assert _containers.images() == [f"{_containers.IMAGE_REPOSITORY}:{suite}" for suite in _containers.SUITES]
    assert [runner.name for runner in _containers.runners()] == list(_containers.SUITES)


def test_image_has_the_expected_client_versions(runner: ContainerRunner) -> None:
    expected = EXPECTED_VERSIONS[runner.name]
    assert {client: runner.client_version(client) for client in expected} == expected
    assert runner.target_id("qbittorrent") == f"qbittorrent-{expected['qbittorrent']}-{runner.name}"


def test_output_runs_a_command_in_the_image(runner: ContainerRunner) -> None:
    version = EXPECTED_VERSIONS[runner.name]["transmission"]
    assert f"transmission-daemon {version}" in runner.output(["transmission-daemon", "--version"])
    assert runner.executable("transmission-daemon") == "transmission-daemon"


def test_daemon_answers_on_loopback_and_shares_its_workdir(probe: TransmissionProbe) -> None:
    probe.start()
    assert probe.process is not None
    assert probe.process.poll() is None

    status, headers = probe.rpc_status()
    assert status == 409
    assert headers["X-Transmission-Session-Id"]

    # The daemon writes its config below the bind-mounted workdir, at the same path.
    wait_until(lambda: (probe.config_dir / "settings.json").exists(), 10, "settings.json")
    assert (probe.config_dir / "settings.json").stat().st_uid == os.getuid()
    # The container's output reaches the log file while it runs (Transmission
    # itself flushes its log queue about once a second).
    wait_until(lambda: "Listening for RPC" in probe.log_path.read_text(), 10, "the daemon's log")

    name = probe.process.name  # type: ignore[attr-defined]
    probe.stop()
    assert probe.process.poll() == 0
    assert not container_exists(name)
    assert not port_open(probe.rpc_port)
    # Written at shutdown: the final settings carry the port we gave.
    assert f'"rpc-port": {probe.rpc_port}' in (probe.config_dir / "settings.json").read_text()


def test_restart_runs_a_new_container_on_the_same_workdir(probe: TransmissionProbe) -> None:
    probe.start()
    first = probe.process
    probe.restart()
    assert probe.process is not first
    assert first is not None and first.poll() == 0
    assert probe.rpc_status()[0] == 409
    # One log, appended to by both containers.
    wait_until(lambda: probe.log_path.read_text().count("Listening for RPC") == 2, 10, "the second daemon's log")


def test_a_killed_daemon_is_removed_when_it_is_started_again(probe: TransmissionProbe) -> None:
    probe.start()
    killed = probe.process
    name = killed.name  # type: ignore[union-attr]
    probe.kill()
    assert container_exists(name)  # exited, with its state and log still there
    probe.start()
    assert not container_exists(name)
    assert probe.process is not killed
    assert probe.rpc_status()[0] == 409


def test_daemon_exiting_early_reports_its_exit_code_and_log(runner: ContainerRunner, tmp_path: Path) -> None:
    log_path = tmp_path / "daemon.log"
    handle = runner.spawn(["transmission-daemon", "--no-such-option"], log_path, tmp_path)
    try:
        wait_until(lambda: handle.poll() is not None, 30, "transmission-daemon to exit")
        assert handle.poll() != 0
        assert "no-such-option" in log_path.read_text()
    finally:
        handle.stop(timeout=5)


def test_missing_executable_exits_127_with_the_reason_in_the_log(runner: ContainerRunner, tmp_path: Path) -> None:
    # docker-init execs the command, so the container starts and exits at once,
    # which Daemon.start() reports with the log.
    log_path = tmp_path / "daemon.log"
    handle = runner.spawn(["no-such-daemon"], log_path, tmp_path)
    try:
        wait_until(lambda: handle.poll() is not None, 30, "the container to exit")
        assert handle.poll() == 127
        assert "no-such-daemon" in log_path.read_text()
    finally:
        handle.stop(timeout=5)
    assert not container_exists(handle.name)  # type: ignore[attr-defined]


def test_container_that_cannot_start_raises_and_logs_why(tmp_path: Path) -> None:
    runner = ContainerRunner(f"{_containers.IMAGE_REPOSITORY}:no-such-suite")
    log_path = tmp_path / "daemon.log"
    with pytest.raises(RuntimeError, match="did not start"):
        runner.spawn(["transmission-daemon", "--foreground"], log_path, tmp_path)
    assert "no-such-suite" in log_path.read_text()
    listing = subprocess.run(
        ["docker", "ps", "-a", "--quiet", "--filter", f"label={_containers.CONTAINER_LABEL}=no-such-suite"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert listing.stdout.strip() == ""


def test_for_image_refuses_a_missing_image() -> None:
    with pytest.raises(RuntimeError, match=r"python -m aiobtclientapi\.testing\.images"):
        ContainerRunner.for_image("no-such-suite")


class ProbeTarget(Target):
    client = "transmission"
    daemon: TransmissionProbe

    def __init__(self, daemon: TransmissionProbe) -> None:
        self.id = daemon.label
        self.daemon = daemon


def test_container_targets_start_one_daemon_per_image(tmp_path: Path) -> None:
    expected_ids = [f"transmission-{EXPECTED_VERSIONS[suite]['transmission']}-{suite}" for suite in _containers.SUITES]
    assert _containers.container_labels("transmission") == expected_ids
    with _containers.container_targets(
        "transmission", tmp_path, TransmissionProbe, lambda daemon: [ProbeTarget(daemon)]
    ) as targets:
        assert list(targets) == expected_ids
        probes = {target_id: target for target_id, target in targets.items() if isinstance(target, ProbeTarget)}
        assert list(probes) == expected_ids
        for target_id, target in probes.items():
            assert target.daemon.rpc_status()[0] == 409
            assert target.daemon.workdir == tmp_path / target_id
    for target in probes.values():
        assert target.daemon.process is not None
        assert target.daemon.process.poll() == 0
        assert not port_open(target.daemon.rpc_port)
        # The daemon really was the one from that image (it names itself at shutdown).
        version = target.id.removeprefix("transmission-").rsplit("-", 1)[0]
        assert f"Transmission version {version} " in target.daemon.log_path.read_text()


def test_container_target_ids_are_recognised_and_marked() -> None:
    assert _containers.is_container_target("rtorrent-0.16.17-forky-scgi")
    assert _containers.is_container_target("qbittorrent-5.1.0-trixie")
    assert not _containers.is_container_target("qbittorrent-4.5.2")
    assert not _containers.is_container_target("memory")
    assert [mark.name for mark in _containers.target_param("deluge-2.2.0-trixie").marks] == ["containers"]
    assert not _containers.target_param("transmission-3.00").marks
