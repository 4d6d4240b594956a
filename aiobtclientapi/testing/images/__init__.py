"""The client images of the container tests, and how to build them.

``python -m aiobtclientapi.testing.images [SUITE...]`` builds
``aiobtclientapi-clients:SUITE`` (default: trixie and forky) from Debian's
packages with the ``build-images.sh`` and ``Dockerfile`` shipped beside this
module: a Docker engine, root and debootstrap are needed, and a few minutes
the first time. The pytest plugin and the project's container matrix run the
clients in these images.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

#: The build script, shipped with the package.
BUILD_SCRIPT = Path(__file__).with_name("build-images.sh")

#: How to build the images, as the messages about a missing image say it.
BUILD_COMMAND = "python -m aiobtclientapi.testing.images"


def main(argv: list[str] | None = None) -> int:
    """Run the build script with `argv` (the suites); its exit status."""
    return subprocess.call(["sh", str(BUILD_SCRIPT), *(sys.argv[1:] if argv is None else argv)])
