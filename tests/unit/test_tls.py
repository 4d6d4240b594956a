"""TLS contexts: what each set of options verifies, and which contexts are shared."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

import aiobtclientapi
from aiobtclientapi.adapters._tls import client_context
from aiobtclientapi.application.ports import ConnectionOptions


def test_a_verifying_context_checks_the_certificate_and_host() -> None:
    context = client_context(ConnectionOptions())
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname


@pytest.mark.parametrize(
    ("options", "verify_by_default"),
    [
        (ConnectionOptions(tls_verify=False), True),
        (ConnectionOptions(), False),  # Deluge's self-signed certificate
        (ConnectionOptions(tls_fingerprint="ab" * 32), True),  # the pin is checked instead
    ],
)
def test_a_context_that_verifies_nothing_loads_no_ca_store(options: ConnectionOptions, verify_by_default: bool) -> None:
    context = client_context(options, verify_by_default=verify_by_default)
    assert context.verify_mode is ssl.CERT_NONE
    assert not context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0


def test_contexts_without_a_ca_file_are_built_once() -> None:
    assert client_context(ConnectionOptions()) is client_context(ConnectionOptions(timeout=3))
    assert client_context(ConnectionOptions(tls_verify=False)) is client_context(ConnectionOptions(tls_verify=False))
    assert client_context(ConnectionOptions()) is not client_context(ConnectionOptions(tls_verify=False))


def test_a_ca_file_is_read_by_each_context(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text("not a certificate\n")
    with pytest.raises(aiobtclientapi.ValueError, match="Invalid tls_ca_file"):
        client_context(ConnectionOptions(tls_ca_file=str(ca_file)))
