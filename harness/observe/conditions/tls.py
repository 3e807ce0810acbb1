"""Conditions on the certificate a TLS server really serves (a real handshake)."""

from __future__ import annotations

from harness.observe import tlsinspect
from harness.observe.conditions.general import observe
from harness.wait import Condition


def served_certificate_serial(host: str, port: int, server_name: str | None, expected_serial: str) -> Condition:
    """A real TLS handshake with SNI `server_name` gets the certificate with `expected_serial`."""
    expected = tlsinspect.normalise_serial(expected_serial)
    return observe(lambda: tlsinspect.CertInfo.of(tlsinspect.served_certificate(host, port, server_name)),
                   lambda info: info.serial == expected,
                   lambda info: {"expected": expected, **info.summary()})
