"""btclient: call an API method from the command line and print what it returns."""

from .main import main, run

__all__ = ["main", "run"]
