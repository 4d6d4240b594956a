"""pytest fixtures that run your code against real BitTorrent clients.

Installed with the ``testing`` extra (``pip install 'aiobtclientapi[testing]'``),
this plugin loads by itself in every pytest session (the ``pytest11`` entry
point). It starts Deluge, qBittorrent, rTorrent and Transmission daemons from
the machine's Debian packages (``deluged``, ``qbittorrent-nox``, ``rtorrent``,
``transmission-daemon``), or, when a package is missing, in a Docker container
of a client image built from Debian's packages. Each daemon runs on a free
loopback port in a temporary directory, with a username and password, and is
stopped when the session ends.

Fixtures:

- :func:`bt_api`: an API object, connected, once per client available here;
- :func:`bt_api_daemon`: the daemon behind :func:`bt_api`;
- :func:`bt_daemon`: a factory, ``bt_daemon("qbittorrent")``, for one client's daemon;
- :func:`bt_memory_api`: an API object on the in-memory client (no daemon).

Options: ``--bt-clients=deluge,qbittorrent`` (default: all four; or the
``bt_clients`` ini setting) and ``--bt-containers`` (each client image's
version too, besides the installed package's).

A daemon starts once per session, on first use: starting takes a second or
more. Every torrent is removed from it (with its data) before each test that
gets it, so a test starts with an empty client; what else a test changes,
such as the client's speed limits, stays for the tests after it. A test that
wants a daemon of its own asks for ``bt_daemon(client, fresh=True)``.

A client that can't run here (no package, no Docker engine, no image) skips
its tests with a reason that names the client and what is missing; see them
with ``pytest -rs``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
import warnings
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

import pytest

if TYPE_CHECKING:
    from aiobtclientapi import APIBase
    from aiobtclientapi.testing._available import DaemonChoice
    from aiobtclientapi.testing._pool import TargetPool
    from aiobtclientapi.testing._targets import Target

__all__ = [
    "BtDaemon",
    "BtDaemonFactory",
    "bt_api",
    "bt_api_daemon",
    "bt_daemon",
    "bt_memory_api",
    "bt_target_pool",
    "containers_requested",
    "selected_clients",
]

#: The clients the plugin knows, as :func:`aiobtclientapi.api` names them.
CLIENTS = ("deluge", "qbittorrent", "rtorrent", "transmission")

_CLIENTS_KEY = pytest.StashKey[tuple[str, ...]]()

#: How long :meth:`BtDaemon.remove_all_torrents` waits for the client to list none.
_EMPTY_TIMEOUT = 30.0


# --- options -------------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("aiobtclientapi", "aiobtclientapi: real BitTorrent clients for bt_api and bt_daemon")
    group.addoption(
        "--bt-clients",
        dest="bt_clients",
        default=None,
        metavar="CLIENTS",
        help=f"comma-separated clients bt_api runs on (default: all: {','.join(CLIENTS)})",
    )
    group.addoption(
        "--bt-containers",
        dest="bt_containers",
        action="store_true",
        default=False,
        help="run bt_api on each client image's version too, in Docker containers",
    )
    parser.addini("bt_clients", "comma-separated clients bt_api runs on (--bt-clients overrides it)", default="")


def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    # aiobtclientapi's own suite: --bt-containers switches its container matrix
    # on too, as BTC_CONTAINERS=1 does; its conftest files list their targets
    # while they are imported, which is before pytest_configure.
    if getattr(early_config.known_args_namespace, "bt_containers", False):
        from aiobtclientapi.testing._containers import ENABLE_VARIABLE

        os.environ[ENABLE_VARIABLE] = "1"


def pytest_configure(config: pytest.Config) -> None:
    value = config.getoption("bt_clients") or config.getini("bt_clients") or ",".join(CLIENTS)
    names = [name.strip().lower() for name in str(value).split(",") if name.strip()]
    unknown = [name for name in names if name not in CLIENTS]
    if unknown:
        raise pytest.UsageError(
            f"--bt-clients: unknown client {', '.join(map(repr, unknown))}; the clients are {', '.join(CLIENTS)}"
        )
    if not names:
        raise pytest.UsageError(f"--bt-clients names no client; the clients are {', '.join(CLIENTS)}")
    # In the order of CLIENTS, each once: test ids come out the same whatever the order given.
    config.stash[_CLIENTS_KEY] = tuple(client for client in CLIENTS if client in names)


def selected_clients(config: pytest.Config) -> tuple[str, ...]:
    """The clients ``--bt-clients`` (or the ``bt_clients`` ini setting) selects; all four by default."""
    return config.stash.get(_CLIENTS_KEY, CLIENTS)


def containers_requested(config: pytest.Config) -> bool:
    """Whether ``--bt-containers`` was given."""
    return bool(config.getoption("bt_containers", default=False))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # One bt_api_daemon (and so bt_api) per daemon that can run here; one
    # skipped test per client that can't, with the reason.
    if "bt_api_daemon" not in metafunc.fixturenames:
        return
    from aiobtclientapi.testing._available import Unavailable, choices

    params = []
    for client in selected_clients(metafunc.config):
        for choice in choices(client, containers_requested(metafunc.config)):
            if isinstance(choice, Unavailable):
                params.append(pytest.param(choice, id=choice.id, marks=pytest.mark.skip(reason=choice.reason)))
            else:
                params.append(pytest.param(choice, id=choice.id))
    metafunc.parametrize("bt_api_daemon", params, indirect=True, scope="session")


# --- the daemon a test gets ----------------------------------------------------------------------
@dataclass(frozen=True)
class BtDaemon:
    """A real client daemon started for tests, with a username and password.

    ``api()`` makes API objects for it; :attr:`url` is what a user would
    give a program (``btclient``, your own) to reach it.
    """

    #: The client's name as :func:`aiobtclientapi.api` takes it, e.g. "transmission".
    client: str
    #: The client's own version, e.g. "3.00".
    version: str
    #: Names client and version (and the image's Debian suite), as test ids do:
    #: "transmission-3.00", "transmission-4.1.0-forky".
    id: str
    #: The URL with credentials, e.g. "http://tester:…@127.0.0.1:40123/transmission/rpc".
    url: str
    #: The folder the daemon downloads into: content put here is found by torrents added without a location.
    download_dir: Path
    #: The client image the daemon runs in, e.g. "aiobtclientapi-clients:forky"; None for the installed package.
    image: str | None
    _target: Target = field(repr=False, compare=False)

    def api(self, **options: Any) -> APIBase:
        """A new API object for this daemon, not connected yet.

        ``options`` are :func:`aiobtclientapi.api`'s, e.g. ``timeout=5``.
        """
        return self._target.make_api(**options)

    async def remove_all_torrents(self) -> None:
        """Remove every torrent the daemon has, and their data, and wait until it lists none."""
        async with self.api() as api:
            infohashes = await api.get_infohashes()
            if infohashes:
                response = await api.remove(*infohashes, delete_data=True)
                if not response.success:
                    raise RuntimeError(f"{self.id}: could not remove every torrent: {response.errors}")
            deadline = time.monotonic() + _EMPTY_TIMEOUT
            while left := await api.get_infohashes():
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{self.id} still lists {len(left)} torrents {_EMPTY_TIMEOUT:g} s after removing"
                    )
                await asyncio.sleep(0.1)


class BtDaemonFactory(Protocol):
    """What the :func:`bt_daemon` fixture is: call it for a daemon."""

    def __call__(self, client: str, version: str | None = None, *, fresh: bool = False) -> BtDaemon: ...


def _bt_daemon(choice: DaemonChoice, target: Target) -> BtDaemon:
    return BtDaemon(
        client=choice.client,
        version=choice.version,
        id=choice.id,
        url=target.url,
        download_dir=target.download_dir,
        image=choice.image,
        _target=target,
    )


def _revive(target: Target) -> None:
    # A shared daemon that died since the last test is started again, so one
    # crash doesn't fail every test after it with "connection refused".
    if target.daemon is not None and (report := target.daemon.revive()) is not None:
        warnings.warn(f"started again: {report}", stacklevel=3)


def _run_blocking(coroutine: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``coroutine()`` to the end in a thread of its own, from sync or async code alike."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(coroutine())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name="bt-daemon-empty")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


# --- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def bt_target_pool() -> Iterator[TargetPool]:
    """The session's daemons: the other fixtures start theirs in it, on first use;
    all stop when the session ends."""
    from aiobtclientapi.testing._pool import TargetPool

    pool = TargetPool()
    yield pool
    pool.close()


@pytest.fixture(scope="session")
def bt_api_daemon(request: pytest.FixtureRequest, bt_target_pool: TargetPool) -> BtDaemon:
    """The daemon :func:`bt_api` talks to, e.g. to put content in its
    :attr:`~BtDaemon.download_dir`.

    A test asking for it runs once per client available here (and per image's
    version with ``--bt-containers``); its test id names client and version,
    e.g. ``test_upload[transmission-3.00]``. A client that can't run here
    skips the test, saying why. The daemon is the session's: a test that
    asks for this fixture alone gets it as the last test left it.
    """
    from aiobtclientapi.testing._available import DaemonChoice

    choice = getattr(request, "param", None)
    if not isinstance(choice, DaemonChoice):
        pytest.fail("bt_api_daemon is parametrized by the aiobtclientapi plugin; don't parametrize it yourself")
    return _bt_daemon(choice, bt_target_pool.get_daemon(choice))


@pytest.fixture
def bt_daemon(bt_target_pool: TargetPool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BtDaemonFactory]:
    """A factory: ``bt_daemon(client, version=None, *, fresh=False)`` gives a running daemon of ``client``.

    ``version``: the client's version (e.g. "4.5.2"); None takes the installed
    package's, or without it the first client image's. The installed package
    runs natively, any other version in a container of its client image.

    The daemon is the session's, with every torrent removed (and its data);
    ``fresh=True`` starts one for this test alone, stopped after it. A client
    or version that can't run here skips the test, saying what is missing.
    An unknown client raises :class:`ValueError`.
    """
    from aiobtclientapi.testing._available import Unavailable, choose, started_target

    stack = contextlib.ExitStack()

    def factory(client: str, version: str | None = None, *, fresh: bool = False) -> BtDaemon:
        if client not in CLIENTS:
            raise ValueError(f"Unknown client {client!r}; the clients are {', '.join(CLIENTS)}")
        choice = choose(client, version)
        if isinstance(choice, Unavailable):
            pytest.skip(choice.reason)
        if fresh:
            workdir = tmp_path_factory.mktemp(f"bt-{choice.id}")
            return _bt_daemon(choice, stack.enter_context(started_target(choice, workdir)))
        target = bt_target_pool.get_daemon(choice)
        _revive(target)
        daemon = _bt_daemon(choice, target)
        _run_blocking(daemon.remove_all_torrents)
        return daemon

    with stack:
        yield factory


F = TypeVar("F", bound=Callable[..., Any])


def _async_fixture(function: F) -> F:
    """``function`` as an async fixture, run by pytest-asyncio (in its configured loop scope).

    Without pytest-asyncio (the ``testing`` extra not installed) the fixture
    fails the test that asks for it, saying what to install, rather than
    stopping every pytest session this plugin loads in.
    """
    try:
        import pytest_asyncio
    except ImportError:

        def missing(*args: Any, **kwargs: Any) -> None:
            pytest.fail(f"{function.__name__} needs pytest-asyncio: pip install 'aiobtclientapi[testing]'")

        missing.__name__ = function.__name__
        missing.__doc__ = function.__doc__
        return pytest.fixture(name=function.__name__)(missing)  # type: ignore[return-value]
    return cast(F, pytest_asyncio.fixture(function))


@_async_fixture
async def bt_api(bt_api_daemon: BtDaemon) -> AsyncIterator[APIBase]:
    """An API object on a real daemon, connected (``async with`` already entered).

    A test asking for it runs once per client available here (see
    :func:`bt_api_daemon`; ``--bt-clients`` chooses among them). The daemon
    is the session's, with every torrent removed (and its data) before the
    test. The object is disconnected after the test.
    """
    target = bt_api_daemon._target
    _revive(target)
    await bt_api_daemon.remove_all_torrents()
    async with bt_api_daemon.api() as api:
        yield api


@_async_fixture
async def bt_memory_api(tmp_path: Path) -> AsyncIterator[APIBase]:
    """An API object on the in-memory client, connected: no daemon, no network.

    It is a :class:`~aiobtclientapi.TransmissionAPI` whose adapter keeps its
    torrents in memory and answers like any client; each test gets an empty
    one. Torrents added without a location are placed in a folder below the
    test's ``tmp_path``.
    """
    from dependency_injector import providers

    import aiobtclientapi
    from aiobtclientapi.adapters.memory import MemoryAdapter
    from aiobtclientapi.container import container

    download_dir = tmp_path / "bt-memory-downloads"
    download_dir.mkdir()
    with container.port.override(providers.Factory(MemoryAdapter, default_location=str(download_dir))):
        api = aiobtclientapi.api("transmission", "localhost")
    async with api:
        yield api
