"""TLS for every transport: contexts, CA files and certificate pinning.

HTTP (aiohttp) and Deluge's TLS socket both take their settings from here.
"""

from __future__ import annotations

import functools
import hashlib
import ssl

from ..application.ports import ConnectionOptions
from ..domain import errors


def pinned_digest(options: ConnectionOptions) -> bytes | None:
    """The SHA-256 digest of the pinned server certificate, if one is pinned."""
    if not options.tls_fingerprint:
        return None
    return bytes.fromhex(options.tls_fingerprint.replace(":", ""))


def client_context(
    options: ConnectionOptions, *, verify_by_default: bool = True, check_hostname: bool = True
) -> ssl.SSLContext:
    """A client TLS context following `options`.

    Certificates are verified when ``options.tls_verify`` and
    `verify_by_default` are true or a CA file is given; never when a
    fingerprint is pinned (the pin is checked instead, see :func:`check_pin`).
    """
    verify = options.tls_ca_file is not None or (options.tls_verify and verify_by_default)
    verify = verify and not options.tls_fingerprint
    if options.tls_ca_file is None:
        return _shared_context(verify, check_hostname)
    try:
        context = ssl.create_default_context(cafile=options.tls_ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise errors.ValueError(f"Invalid tls_ca_file {options.tls_ca_file!r}: {exc}") from exc
    _configure(context, verify, check_hostname)
    return context


@functools.cache
def _shared_context(verify: bool, check_hostname: bool) -> ssl.SSLContext:
    """A context without a CA file, built once: loading the system's CA store
    takes ~20 ms, and a context that verifies nothing needs none."""
    context = ssl.create_default_context() if verify else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _configure(context, verify, check_hostname)
    return context


def _configure(context: ssl.SSLContext, verify: bool, check_hostname: bool) -> None:
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif not check_hostname:
        context.check_hostname = False


def check_pin(der: bytes | None, options: ConnectionOptions, where: object) -> None:
    """Raise ConnectionError unless the peer certificate `der` matches the pinned fingerprint."""
    expected = pinned_digest(options)
    if expected is None:
        return
    actual = hashlib.sha256(der or b"").digest()
    if actual != expected:
        raise errors.ConnectionError(f"{where}: certificate fingerprint mismatch: {actual.hex()}")
