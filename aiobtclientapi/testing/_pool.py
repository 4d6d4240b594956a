"""Which adapters the contract and CLI suites (and the benchmarks) run against.

Each module of this package named in TARGET_MODULES provides:

- ``target_ids() -> list[str]``: cheap, at collection time: the ids of its
  targets, naming client, version and transport (e.g. "qbittorrent-4.5.2");
- ``targets(workdir: Path) -> ContextManager[dict[str, Target]]``: starts
  the daemons and yields one Target per id, stopping them on exit.

Daemons are started once per test session, on first use. The pytest plugin
(:mod:`aiobtclientapi.testing.plugin`) owns the session's pool; it also starts
single daemons in it (:meth:`TargetPool.get_daemon`), one per client and version.
"""

from __future__ import annotations

import contextlib
import importlib
import tempfile
from pathlib import Path
from types import ModuleType

from aiobtclientapi.testing._available import DaemonChoice, started_target
from aiobtclientapi.testing._proxies import ProxiedTarget, ProxyDaemon, split_proxied_id, started_proxy
from aiobtclientapi.testing._targets import Target

#: The target modules, in the order their targets are listed.
TARGET_MODULES = ("deluge", "memory", "qbittorrent", "rtorrent", "transmission")


def _modules() -> list[ModuleType]:
    return [importlib.import_module(f"{__package__}._{name}") for name in TARGET_MODULES]


def all_target_ids(include_memory: bool = True) -> list[str]:
    ids: list[str] = []
    for module in _modules():
        if not include_memory and module.__name__.endswith("._memory"):
            continue
        ids.extend(module.target_ids())
    return ids


#: Target id endings that name a transport to the same daemon (rTorrent's).
_TRANSPORTS = ("-scgi", "-socket", "-http", "-https")


def one_transport_per_daemon(ids: list[str]) -> list[str]:
    """`ids` with one target per daemon: the first of each daemon's transports."""
    chosen: dict[str, str] = {}
    for target_id in ids:
        daemon = next((target_id.removesuffix(t) for t in _TRANSPORTS if target_id.endswith(t)), target_id)
        chosen.setdefault(daemon, target_id)
    return list(chosen.values())


class TargetPool:
    """Starts each module's targets on first use; stops them all at the end."""

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self._started: dict[str, Target] = {}
        self._single: dict[str, Target] = {}
        self._proxies: dict[str, ProxyDaemon] = {}
        self._workdir = Path(self._stack.enter_context(tempfile.TemporaryDirectory(prefix="btc-")))
        #: What get() and get_daemon() handed out since take_handed_out().
        self._handed_out: dict[int, Target] = {}

    def take_handed_out(self) -> list[Target]:
        """The targets handed out since the last call (a test's, to check their daemons after it)."""
        targets = list(self._handed_out.values())
        self._handed_out.clear()
        return targets

    def get(self, target_id: str) -> Target:
        target = self._get(target_id)
        self._handed_out[id(target)] = target
        return target

    def _get(self, target_id: str) -> Target:
        if target_id not in self._started and (proxied := split_proxied_id(target_id)) is not None:
            base_id, kind = proxied
            if kind not in self._proxies:
                self._proxies[kind] = self._stack.enter_context(started_proxy(kind, self._workdir / "proxies" / kind))
            self._started[target_id] = ProxiedTarget(self._get(base_id), kind, self._proxies[kind])
        if target_id not in self._started:
            for module in _modules():
                if target_id in module.target_ids():
                    workdir = self._workdir / module.__name__.rsplit(".", 1)[-1].lstrip("_")
                    workdir.mkdir(exist_ok=True)
                    self._started.update(self._stack.enter_context(module.targets(workdir)))
                    break
            else:
                raise LookupError(f"No target {target_id!r}")
        return self._started[target_id]

    def get_daemon(self, choice: DaemonChoice) -> Target:
        """The target on the one daemon ``choice`` names, started on first use.

        Apart from :meth:`get`'s targets: a client module starts all its
        targets at once (rTorrent's four transports, every image's daemon).
        """
        if choice.id not in self._single:
            workdir = self._workdir / "single" / choice.id
            workdir.mkdir(parents=True, exist_ok=True)
            self._single[choice.id] = self._stack.enter_context(started_target(choice, workdir))
        self._handed_out[id(self._single[choice.id])] = self._single[choice.id]
        return self._single[choice.id]

    def close(self) -> None:
        self._stack.close()
