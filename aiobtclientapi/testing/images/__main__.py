"""``python -m aiobtclientapi.testing.images [SUITE...]``: build the client images."""

import sys

from aiobtclientapi.testing.images import main

sys.exit(main())
