"""Transmission adapter: the RPC protocol over HTTP."""

from .client import TransmissionAdapter

__all__ = ["TransmissionAdapter"]
