"""Real BitTorrent daemons for tests and benchmarks (installed with the ``testing`` extra).

The modules here start Deluge, qBittorrent, rTorrent and Transmission daemons
from the machine's Debian packages (or in containers built from Debian's
packages) on free loopback ports in temporary directories, with real
credentials, and tear them down afterwards. The project's own test suite and
``make bench`` use them. Their public face is the pytest plugin,
:mod:`aiobtclientapi.testing.plugin` (fixtures ``bt_api``, ``bt_daemon``,
``bt_memory_api``); the ``_modules`` behind it are private.
"""
