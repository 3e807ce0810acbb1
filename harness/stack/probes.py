"""Readiness probes, as a kubelet's httpGet and a log watch: conditions (harness.wait) on a component that
the stack, the lab and scenarios all wait for."""

from __future__ import annotations

import re

import socket
import ssl
from pathlib import Path

import requests

from harness.wait import Condition, Seen

REQUEST_TIMEOUT = 2.0  # a loopback health endpoint answers in milliseconds; 2 s means it is hung


def http_ok(url: str, **kwargs) -> Condition:
    """GET `url` answers 200 (`kwargs` go to requests, e.g. verify=CA)."""
    def probe() -> Seen:
        response = requests.get(url, timeout=REQUEST_TIMEOUT, **kwargs)
        return Seen(response.status_code == 200, f"HTTP {response.status_code} from {url}: {response.text[:120]!r}")
    return probe


def tls_answers(host: str, port: int) -> Condition:
    """A TLS handshake with `host`:`port` completes (the certificate unverified): a port that is routed and
    served, like a webhook's, whose every path wants an authenticated POST."""
    def probe() -> Seen:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with socket.create_connection((host, port), timeout=REQUEST_TIMEOUT) as raw, \
                context.wrap_socket(raw) as tls:
            return Seen(True, f"{tls.version()} from {host}:{port}")
    return probe


def log_contains(path: str | Path, text: str | re.Pattern, since: int = 0) -> Condition:
    """A component's log holds `text` (what it says it is doing: serving, waiting for a Lease, ...), or a match of
    it as a pattern (a line two releases word differently), after byte offset `since` (a restarted component
    appends to the log its previous run wrote)."""
    def probe() -> Seen:
        log = Path(path).read_bytes()[since:].decode(errors="replace") if Path(path).exists() else ""
        found = log_holds(log, text)
        return Seen(found, {"log": str(path), "bytes": len(log), "found": found})
    return probe


def log_holds(log: str, text: str | re.Pattern) -> bool:
    """`text` in `log`, or a match of it when it is a pattern."""
    return text.search(log) is not None if isinstance(text, re.Pattern) else text in log
