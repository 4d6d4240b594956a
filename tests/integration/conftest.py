"""Fixtures for the client-specific tests."""

from __future__ import annotations

import pytest

from aiobtclientapi.testing._containers import runner_params
from aiobtclientapi.testing._daemon import NativeRunner


@pytest.fixture(scope="module", params=runner_params())
def runner(request: pytest.FixtureRequest) -> NativeRunner:
    """The native runner, and with BTC_CONTAINERS=1 each container image too."""
    return request.param  # type: ignore[no-any-return]
