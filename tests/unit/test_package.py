"""Package-level promises: fast lazy import, silent logging, typed."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import subprocess
import sys
from pathlib import Path

import aiobtclientapi


def _run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return result.stdout + result.stderr


def test_import_loads_no_heavy_module() -> None:
    output = _run(
        "import sys, aiobtclientapi\n"
        "heavy = ['aiohttp', 'structlog', 'dependency_injector', 'rencode', 'msgspec', 'xml.dom']\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    assert output.strip() == "[]"


def test_library_is_silent_without_logging_configuration() -> None:
    output = _run(
        "import asyncio, aiobtclientapi\n"
        "async def main():\n"
        "    api = aiobtclientapi.api('transmission', 'user:pw@127.0.0.1:1', timeout=1)\n"
        "    try:\n"
        "        await api.get_infohashes()\n"
        "    except aiobtclientapi.ConnectionError:\n"
        "        pass\n"
        "asyncio.run(main())"
    )
    assert output == ""


def test_py_typed_is_shipped() -> None:
    assert (Path(aiobtclientapi.__file__).parent / "py.typed").exists()


def test_the_pytest_plugin_is_registered() -> None:
    plugins = {entry.name: entry.value for entry in importlib.metadata.entry_points(group="pytest11")}
    assert plugins.get("aiobtclientapi") == "aiobtclientapi.testing.plugin"


def test_the_image_build_ships_with_the_package() -> None:
    images = importlib.resources.files("aiobtclientapi.testing.images")
    assert (images / "Dockerfile").is_file() and (images / "build-images.sh").is_file()
    result = subprocess.run(
        [sys.executable, "-m", "aiobtclientapi.testing.images", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "python -m aiobtclientapi.testing.images [SUITE...]" in result.stdout
    assert "aiobtclientapi-clients:forky" in result.stdout
