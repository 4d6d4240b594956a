"""Session-wide fixtures: the pool of started client targets.

They build on the aiobtclientapi pytest plugin (aiobtclientapi/testing/plugin.py),
which loads by itself: its session pool holds the targets, ``--bt-clients``
narrows the clients, and ``--bt-containers`` sets ``BTC_CONTAINERS=1``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aiobtclientapi.testing._containers import is_container_target, target_param
from aiobtclientapi.testing._daemon import Daemon
from aiobtclientapi.testing._pool import TargetPool, all_target_ids, one_transport_per_daemon
from aiobtclientapi.testing._proxies import proxied_ids
from aiobtclientapi.testing._targets import Target
from aiobtclientapi.testing.plugin import selected_clients
from tests.timeouts import pytest_runtest_makereport  # noqa: F401 (a hook: pytest finds it here)


@pytest.fixture(scope="session")
def target_pool(bt_target_pool: TargetPool) -> TargetPool:
    """The plugin's session pool: the suite's targets and the plugin's daemons stop together."""
    return bt_target_pool


def _selected(ids: list[str], config: pytest.Config) -> list[str]:
    """`ids` of the clients --bt-clients names (all by default), and the memory target."""
    clients = selected_clients(config)
    return [i for i in ids if i == "memory" or i.split("-", 1)[0] in clients]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # `target` runs a test once per adapter; `daemon_target` once per real daemon.
    # Container targets carry the `containers` mark: `make test-containers` selects them.
    # A module with ONE_TRANSPORT = True runs once per daemon: what it tests
    # doesn't depend on how the bytes travel (test_contract covers each transport).
    # A module with IN_CONTAINER_MATRIX = False runs on the native daemons only: what it
    # tests doesn't depend on the client's version (the contract suite covers every version).
    # A module with THROUGH_PROXIES = True runs once more through each proxy on each native daemon,
    # but for its tests marked direct_only.
    # --bt-clients (the plugin's option) leaves out the other clients' targets.
    if "target" in metafunc.fixturenames:
        ids = _selected(all_target_ids(), metafunc.config)
        if getattr(metafunc.module, "ONE_TRANSPORT", False):
            ids = one_transport_per_daemon(ids)
        if not getattr(metafunc.module, "IN_CONTAINER_MATRIX", True):
            ids = [i for i in ids if not is_container_target(i)]
        through_proxies = getattr(metafunc.module, "THROUGH_PROXIES", False)
        if through_proxies and not metafunc.definition.get_closest_marker("direct_only"):
            ids += proxied_ids(ids)
        metafunc.parametrize("target", [target_param(i) for i in ids], indirect=True, scope="session")
    elif "daemon_target" in metafunc.fixturenames:
        ids = _selected(all_target_ids(include_memory=False), metafunc.config)
        metafunc.parametrize("daemon_target", [target_param(i) for i in ids], indirect=True, scope="session")


@pytest.fixture(autouse=True)
def _daemon_survives(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test during which a daemon died, and start it again for the next.

    The daemon is a target's (the ``target`` fixtures', or one the test took
    from ``target_pool`` itself), or a module's own (a fixture named ``daemon``).
    """
    pool: TargetPool | None = None
    if "target_pool" in request.fixturenames:
        pool = request.getfixturevalue("target_pool")
        pool.take_handed_out()
    yield
    daemons: list[Daemon] = []
    for name in ("target", "daemon_target"):
        if name in request.fixturenames and (daemon := request.getfixturevalue(name).daemon) is not None:
            daemons.append(daemon)
    if pool is not None:
        daemons += [target.daemon for target in pool.take_handed_out() if target.daemon is not None]
    if "daemon" in request.fixturenames and isinstance(own := request.getfixturevalue("daemon"), Daemon):
        daemons.append(own)
    reports = [report for daemon in dict.fromkeys(daemons) if (report := daemon.revive()) is not None]
    if reports:
        pytest.fail("\n".join(reports), pytrace=False)


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest, target_pool: TargetPool) -> Target:
    return target_pool.get(request.param)


@pytest.fixture(scope="session")
def daemon_target(request: pytest.FixtureRequest, target_pool: TargetPool) -> Target:
    return target_pool.get(request.param)
