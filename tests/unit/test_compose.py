"""Where an API object's adapter comes from: the container, or its defaults before anyone imported it."""

from __future__ import annotations

import subprocess
import sys

import pytest
from dependency_injector import providers

import aiobtclientapi
from aiobtclientapi._compose import compose
from aiobtclientapi._registry import parse_url
from aiobtclientapi.adapters.memory import MemoryAdapter
from aiobtclientapi.application.ports import ConnectionOptions
from aiobtclientapi.container import container


def test_without_the_container_no_dependency_injector_is_imported() -> None:
    probe = (
        "import sys, aiobtclientapi\n"
        "api = aiobtclientapi.api('transmission', 'localhost')\n"
        "print('dependency_injector' in sys.modules, type(api.port).__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "TransmissionAdapter"]


@pytest.mark.parametrize("client", aiobtclientapi.client_names())
def test_the_defaults_are_the_containers(client: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url, options = parse_url(client, "localhost"), ConnectionOptions()
    from_container = compose(client, url, options)
    monkeypatch.delitem(sys.modules, "aiobtclientapi.container")
    direct = compose(client, url, options)
    assert [type(part) for part in direct] == [type(part) for part in from_container]


def test_an_override_reaches_api_objects() -> None:
    with container.port.override(providers.Factory(MemoryAdapter)):
        assert isinstance(aiobtclientapi.api("deluge", "localhost").port, MemoryAdapter)
    assert type(aiobtclientapi.api("deluge", "localhost").port).__name__ == "DelugeAdapter"
