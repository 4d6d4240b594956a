"""An in-process client: the fake to swap in for a daemon in tests."""

from .client import MemoryAdapter

__all__ = ["MemoryAdapter"]
