"""The pytest plugin (aiobtclientapi/testing/plugin.py) as a downstream project uses it.

Each test writes a small test suite and runs it in a pytest process of its
own, where the plugin loads through its entry point as it does for anyone who
installs the package.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import aiobtclientapi
from aiobtclientapi.testing import _available, _containers, plugin

pytest_plugins = ["pytester"]

#: The downstream project's settings: pytest-asyncio runs its async tests and fixtures.
PYPROJECT = """
[tool.pytest.ini_options]
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"
asyncio_default_test_loop_scope = "function"
"""

INFOHASH = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyprojecttoml(PYPROJECT)
    return pytester


def test_the_plugin_knows_every_client_the_library_does() -> None:
    # The plugin names them without importing the library (it loads in every pytest session).
    assert plugin.CLIENTS == _available.CLIENTS == tuple(_available.BINARIES) == aiobtclientapi.client_names()


def test_memory_api_gives_each_test_an_empty_client(project: pytest.Pytester) -> None:
    project.makepyfile(
        f"""
        INFOHASH = "{INFOHASH}"

        async def test_add(bt_memory_api):
            response = await bt_memory_api.add(INFOHASH, stopped=True)
            assert response.added == [INFOHASH], response
            assert await bt_memory_api.get_infohashes() == [INFOHASH]

        async def test_empty(bt_memory_api):
            assert await bt_memory_api.get_infohashes() == []
        """
    )
    result = project.runpytest_subprocess()
    result.assert_outcomes(passed=2)


def test_bt_clients_runs_bt_api_on_transmission_only(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import os

        import torf


        async def test_add_lists_it(bt_api, bt_api_daemon, tmp_path):
            # What the daemon itself says: this is Transmission, of the version the id names.
            session = await bt_api.call("session-get")
            assert session["arguments"]["version"].startswith(bt_api_daemon.version + " ")
            content = bt_api_daemon.download_dir / f"content-{os.getpid()}"
            content.write_bytes(os.urandom(64 * 1024))
            torrent = torf.Torrent(path=content, created_by=None)
            torrent.generate()
            torrent.write(tmp_path / "content.torrent")
            response = await bt_api.add(str(tmp_path / "content.torrent"), stopped=True)
            assert response.added == [torrent.infohash], response
            assert await bt_api.get_infohashes() == [torrent.infohash]
            [listed] = await bt_api.get_torrents(torrent.infohash, attributes=["name"])
            assert listed.name == content.name


        async def test_next_test_finds_the_client_empty(bt_api):
            assert await bt_api.get_infohashes() == []


        async def test_factory_shared_and_fresh(bt_daemon):
            shared = bt_daemon("transmission")
            fresh = bt_daemon("transmission", fresh=True)
            assert (shared.client, fresh.client) == ("transmission", "transmission")
            assert fresh.url != shared.url
            for daemon in (shared, fresh):
                async with daemon.api() as api:
                    assert await api.get_infohashes() == []
        """
    )
    result = project.runpytest_subprocess("--bt-clients=transmission", "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "*::test_add_lists_it[[]transmission-*[]] PASSED*",
            "*::test_next_test_finds_the_client_empty[[]transmission-*[]] PASSED*",
        ]
    )
    for other in ("deluge", "qbittorrent", "rtorrent"):
        assert other not in result.stdout.str()


def test_unknown_client_is_a_usage_error(project: pytest.Pytester) -> None:
    project.makepyfile("def test_nothing(): pass")
    result = project.runpytest_subprocess("--bt-clients=transmission,utorrent")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--bt-clients: unknown client 'utorrent'; the clients are deluge, qbittorrent*"])


def test_unavailable_client_is_skipped_saying_what_is_missing(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # No qbittorrent-nox and no docker command on the PATH of the pytest run.
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    project.makepyfile(
        """
        async def test_api(bt_api):
            raise AssertionError("runs only where qBittorrent can")

        def test_factory(bt_daemon):
            bt_daemon("deluge", "2.0.3")
            raise AssertionError("runs only where Deluge 2.0.3 can")
        """
    )
    result = project.runpytest_subprocess("--bt-clients=qbittorrent", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(
        [
            "SKIPPED *qbittorrent: qbittorrent-nox not installed and no docker command"
            " (install the Debian package qbittorrent-nox, or install Docker)",
            "SKIPPED *deluge 2.0.3: deluged not installed and no docker command*",
        ],
        consecutive=False,
    )


@pytest.mark.containers
@pytest.mark.skipif(not _containers.enabled(), reason="container matrix: run make test-containers")
def test_a_client_without_its_package_runs_in_a_container(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Docker on the PATH, and no transmission-daemon.
    docker = shutil.which("docker")
    assert docker is not None, "BTC_CONTAINERS=1 but no docker command"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").symlink_to(docker)
    monkeypatch.setenv("PATH", str(bin_dir))
    project.makepyfile(
        """
        async def test_api(bt_api, bt_api_daemon):
            assert bt_api_daemon.image is not None
            session = await bt_api.call("session-get")
            assert session["arguments"]["version"].startswith(bt_api_daemon.version + " ")
        """
    )
    result = project.runpytest_subprocess("--bt-clients=transmission", "-v")
    result.assert_outcomes(passed=1)
    # The oldest suite's image stands in for the package.
    result.stdout.fnmatch_lines([f"*::test_api[[]transmission-*-{_containers.SUITES[0]}[]] PASSED*"])
