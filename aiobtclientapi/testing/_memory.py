"""The memory adapter as a contract-suite target, swapped in through the container."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dependency_injector import providers

import aiobtclientapi
from aiobtclientapi import APIBase
from aiobtclientapi.adapters.memory import MemoryAdapter
from aiobtclientapi.container import container
from aiobtclientapi.testing._targets import RawState, Target

USERNAME, PASSWORD = "tester", "s3cret-Pa55"


def target_ids() -> list[str]:
    return ["memory"]


class MemoryTarget(Target):
    id = "memory"
    client = "transmission"  # any client name: the container hands out the memory adapter

    def __init__(self, workdir: Path) -> None:
        self.download_dir = workdir / "downloads"
        self.download_dir.mkdir(parents=True, exist_ok=True)
        # One shared in-memory "daemon" with credentials, like a real one.
        self.adapter_provider = providers.Singleton(
            MemoryAdapter, username=USERNAME, password=PASSWORD, default_location=str(self.download_dir)
        )

    def _api(self, adapter: providers.Provider[Any], url: str) -> APIBase:
        with container.port.override(adapter):
            return aiobtclientapi.api(self.client, url)

    def make_api(self, **kwargs: Any) -> APIBase:
        return self._api(self.adapter_provider, f"{USERNAME}:{PASSWORD}@localhost")

    def make_api_wrong_password(self) -> APIBase:
        # A separate adapter: the shared Singleton keeps the URL it was first built with.
        checking = providers.Factory(MemoryAdapter, username=USERNAME, password=PASSWORD)
        return self._api(checking, f"{USERNAME}:wrong@localhost")

    def make_api_closed_port(self) -> APIBase:
        return self._api(providers.Factory(MemoryAdapter, reachable=False), "localhost:1")

    async def raw_states(self, api: APIBase, infohashes: list[str]) -> dict[str, RawState]:
        states: dict[str, RawState] = {}
        for row in await api.call("torrents"):
            if row["infohash"] in infohashes:
                if row["verifying"]:
                    states[row["infohash"]] = "verifying"
                else:
                    states[row["infohash"]] = "stopped" if row["stopped"] else "active"
        return states

    async def raw_infohash_list(self, api: APIBase) -> list[str]:
        return [row["infohash"] for row in await api.call("torrents")]

    async def raw_remove(self, api: APIBase, infohashes: list[str]) -> None:
        await api.call("remove", *infohashes)

    raw_call = ("version", ())

    def check_raw_call_reply(self, reply: Any) -> None:
        assert reply == "memory"


@contextlib.contextmanager
def targets(workdir: Path) -> Iterator[dict[str, Target]]:
    yield {"memory": MemoryTarget(workdir)}
