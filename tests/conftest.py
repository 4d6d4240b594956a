"""Session-wide fixtures: the pool of started client targets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aiobtclientapi.testing._containers import is_container_target, target_param
from aiobtclientapi.testing._daemon import Daemon
from aiobtclientapi.testing._pool import TargetPool, all_target_ids, one_transport_per_daemon
from aiobtclientapi.testing._targets import Target


@pytest.fixture(scope="session")
def target_pool() -> Iterator[TargetPool]:
    pool = TargetPool()
    yield pool
    pool.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # `target` runs a test once per adapter; `daemon_target` once per real daemon.
    # Container targets carry the `containers` mark: `make test-containers` selects them.
    # A module with ONE_TRANSPORT = True runs once per daemon: what it tests
    # doesn't depend on how the bytes travel (test_contract covers each transport).
    # A module with IN_CONTAINER_MATRIX = False runs on the native daemons only: what it
    # tests doesn't depend on the client's version (the contract suite covers every version).
    if "target" in metafunc.fixturenames:
        ids = all_target_ids()
        if getattr(metafunc.module, "ONE_TRANSPORT", False):
            ids = one_transport_per_daemon(ids)
        if not getattr(metafunc.module, "IN_CONTAINER_MATRIX", True):
            ids = [i for i in ids if not is_container_target(i)]
        metafunc.parametrize("target", [target_param(i) for i in ids], indirect=True, scope="session")
    elif "daemon_target" in metafunc.fixturenames:
        ids = all_target_ids(include_memory=False)
        metafunc.parametrize("daemon_target", [target_param(i) for i in ids], indirect=True, scope="session")


@pytest.fixture(autouse=True)
def _daemon_survives(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test during which a daemon died, and start it again for the next.

    The daemon is a target's, or a module's own (a fixture named ``daemon``).
    """
    yield
    daemons: list[Daemon] = []
    for name in ("target", "daemon_target"):
        if name in request.fixturenames and (daemon := request.getfixturevalue(name).daemon) is not None:
            daemons.append(daemon)
    if "daemon" in request.fixturenames and isinstance(own := request.getfixturevalue("daemon"), Daemon):
        daemons.append(own)
    for daemon in daemons:
        report = daemon.revive()
        if report is not None:
            pytest.fail(report, pytrace=False)


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest, target_pool: TargetPool) -> Target:
    return target_pool.get(request.param)


@pytest.fixture(scope="session")
def daemon_target(request: pytest.FixtureRequest, target_pool: TargetPool) -> Target:
    return target_pool.get(request.param)
