"""Pebble, the ACME CA of the stack: a local process with a run-CA TLS certificate, and its management API.

One generated config serves both Pebbles the harness may run: the built v2.10.3 reads the single profile in
`profiles` (2.7+ pick a random profile for an order that names none, so exactly one keeps validity
deterministic) and ignores the deprecated `certificateValidityPeriod`; Debian's 2.4 reads
`certificateValidityPeriod` and ignores `profiles` (Go's JSON decoder skips unknown fields).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import requests

from harness.stack import binaries
from harness.errors import HarnessError
from harness.stack.pki import RunPKI
from harness.stack.ports import LOOPBACK, free_port, port_or_free
from harness.stack.netns import nsenter_argv
from harness.stack.process import ManagedProcess
from harness.wait import Seen
from harness.stack.service import Service

# Pebble generates its root and intermediate keys (RSA 2048) before it listens: about a second on an idle
# 2-core machine; 30 s covers one that is also compiling or running other suites.
READY_TIMEOUT = 30.0
# A management request is answered from memory; 10 s only guards against a hung process.
REQUEST_TIMEOUT = 10.0
PROFILE = "certchaos"
# The lab's Pebble's certificate lifetime. An hour keeps cert-manager's own renewal (at 2/3 of the lifetime)
# out of a scenario's way; scenarios renew on purpose, the way `cmctl renew` does.
CERTIFICATE_VALIDITY = 3600
_VALIDATION = re.compile(r"authz (\S+) set (VALID|INVALID) by completed challenge (\S+)")


@dataclass(frozen=True)
class Knobs:
    """Pebble's PEBBLE_* environment settings. The defaults make runs nearly deterministic, unlike Pebble's own
    (5% of good nonces rejected, authorizations reused half of the time, 0-5 s random VA sleeps): a scenario
    that wants that chaos asks for it. Nearly: with authz_reuse 0 Pebble still reuses 1 in 100 (it reuses unless
    rand.Intn(100) > the percentage), so a renewal that needs a fresh challenge expires the authorizations first
    (harness/chaos/actions.py)."""

    va_nosleep: bool = True  # PEBBLE_VA_NOSLEEP: validate at once instead of after a random sleep
    nonce_reject: int = 0  # PEBBLE_WFE_NONCEREJECT: percentage of good nonces rejected as badNonce
    authz_reuse: int = 0  # PEBBLE_AUTHZREUSE: percentage of orders that reuse a valid authorization
    va_always_valid: bool = False  # PEBBLE_VA_ALWAYS_VALID: skip validation, every challenge passes
    chain_length: int = 1  # PEBBLE_CHAIN_LENGTH: intermediates between root and leaf (at least 1)

    def __post_init__(self) -> None:
        for name in ("nonce_reject", "authz_reuse"):
            value = getattr(self, name)
            if not 0 <= value <= 100:
                raise HarnessError(f"pebble: {name}={value!r} is not a percentage. Fix: use 0..100")
        if self.chain_length < 1:
            raise HarnessError(f"pebble: chain_length={self.chain_length!r}: Pebble needs at least one "
                               "intermediate. Fix: use 1 or more")

    def env(self) -> dict[str, str]:
        return {
            "PEBBLE_VA_NOSLEEP": "1" if self.va_nosleep else "0",
            "PEBBLE_WFE_NONCEREJECT": str(self.nonce_reject),
            "PEBBLE_AUTHZREUSE": str(self.authz_reuse),
            "PEBBLE_VA_ALWAYS_VALID": "1" if self.va_always_valid else "0",
            "PEBBLE_CHAIN_LENGTH": str(self.chain_length),
        }


def config(*, listen: int, management: int, http_port: int, tls_port: int, certificate: Path,
           private_key: Path, validity: int, host: str = LOOPBACK) -> dict:
    """The JSON config: every address on `host` (loopback, or an anchor's address inside its own network
    namespace on kind), issued certificates valid for `validity` seconds."""
    if validity < 1:
        raise HarnessError(f"pebble: validity={validity!r}s. Fix: give a certificate lifetime of 1 second or more")
    return {"pebble": {
        "listenAddress": f"{host}:{listen}",
        "managementListenAddress": f"{host}:{management}",
        "certificate": str(certificate),
        "privateKey": str(private_key),
        # Where the VA dials for http-01 / tls-alpn-01 (Pebble does not listen there).
        "httpPort": http_port,
        "tlsPort": tls_port,
        "ocspResponderURL": "",
        "externalAccountBindingRequired": False,
        "certificateValidityPeriod": validity,
        "profiles": {PROFILE: {"description": "certchaos: the only profile", "validityPeriod": validity}},
    }}


@dataclass(frozen=True)
class CertStatus:
    status: str  # "Valid" or "Revoked"
    serial: str  # lowercase hex
    certificate: str  # PEM
    reason: int | None = None
    revoked_at: str | None = None


@dataclass(frozen=True)
class Validation:
    """One completed challenge validation as Pebble logged it."""

    authz: str
    challenge: str
    valid: bool


class Management:
    """Pebble's management API (roots, intermediates, certificate status), TLS verified against the run CA."""

    def __init__(self, url: str, ca_bundle: Path):
        self.url = url
        self.verify = str(ca_bundle)  # per request: REQUESTS_CA_BUNDLE would override a Session's verify
        self.session = requests.Session()

    def _get(self, path: str, missing_ok: bool = False) -> requests.Response | None:
        response = self.session.get(self.url + path, verify=self.verify, timeout=REQUEST_TIMEOUT)
        if missing_ok and response.status_code == 404:
            return None
        if response.status_code != 200:
            raise HarnessError(f"pebble management GET {path}: HTTP {response.status_code} {response.text[:200]!r}")
        return response

    def roots(self, index: int = 0) -> str:
        """PEM of root `index` (0 is the chain Pebble issues with)."""
        return self._get(f"/roots/{index}").text

    def intermediates(self, index: int = 0) -> str:
        """PEM of the intermediate that signs leaves in chain `index`."""
        return self._get(f"/intermediates/{index}").text

    def cert_status(self, serial: int | str) -> CertStatus | None:
        """What Pebble knows of the certificate with this serial (int or hex), None if it never issued it."""
        hex_serial = format(serial, "x") if isinstance(serial, int) else serial
        response = self._get(f"/cert-status-by-serial/{hex_serial}", missing_ok=True)
        if response is None:
            return None
        body = response.json()
        return CertStatus(body["Status"], body["Serial"], body["Certificate"], body.get("Reason"),
                          body.get("RevokedAt"))

    def close(self) -> None:
        self.session.close()


class Pebble(Service):
    """A running Pebble. Use as a context manager, or start()/stop().

    `resolver` is the (host, port) Pebble's VA asks for DNS-01 TXT records (the fake DNS resolver view).
    `binary` picks a specific Pebble (e.g. Debian's /usr/bin/pebble); by default the pinned one is resolved.
    `netns` (a /proc/<pid>/ns/net path) runs Pebble inside that network namespace, listening on `host`
    there (the kind lab's "ca" anchor: harness.stack.kind.labnet); its TLS certificate then names `host` too.
    `http_port` is where its VA dials for HTTP-01: 80 as in production where an ingress controller answers
    (kind), else a free port nothing listens on (DNS-01 only).
    """

    def __init__(
        self,
        run_dir: str | Path,
        pki: RunPKI,
        resolver: tuple[str, int],
        *,
        validity: int = 300,  # seconds; 5 minutes lets compressed-time scenarios see renewals
        knobs: Knobs = Knobs(),
        listen_port: int | None = None,
        management_port: int | None = None,
        binary: Path | None = None,
        bin_dir: str | Path | None = None,
        netns: str | None = None,
        host: str = LOOPBACK,
        http_port: int | None = None,
    ):
        self.run_dir = Path(run_dir)
        self.http_port = http_port
        self.netns, self.host = netns, host
        self.pki = pki
        self.resolver = resolver
        self.validity = validity
        self.knobs = knobs
        self.listen_port = listen_port
        self.management_port = management_port
        self.binary = binary
        self.bin_dir = bin_dir
        self.log_path = self.run_dir / "pebble.log"
        self.process: ManagedProcess | None = None
        self.management: Management | None = None

    @property
    def directory_url(self) -> str:
        return f"https://{self.host}:{self.listen_port}/dir"

    @property
    def management_url(self) -> str:
        return f"https://{self.host}:{self.management_port}"

    @property
    def ca_bundle(self) -> Path:
        """The run CA that signs Pebble's TLS certificate: what ACME clients must trust."""
        return self.pki.ca_cert

    def _start(self) -> None:
        """Write the config, start Pebble and wait until both its ACME and management APIs answer."""
        binary = self.binary or binaries.binary("pebble", self.bin_dir)
        # In a namespace of its own (kind) only the lab listens there: a port free on the host's loopback is
        # free there too.
        self.listen_port = port_or_free("pebble", self.listen_port) if self.netns is None else free_port()
        self.management_port = (port_or_free("pebble-management", self.management_port) if self.netns is None
                                else free_port())
        serving = self.pki.serving("pebble", *([self.host] if self.host != LOOPBACK else []))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        config_path = self.run_dir / "pebble-config.json"
        config_path.write_text(json.dumps(config(
            listen=self.listen_port, management=self.management_port, http_port=self.http_port or free_port(),
            tls_port=free_port(), certificate=serving.cert, private_key=serving.key, validity=self.validity,
            host=self.host), indent=2))
        host, port = self.resolver
        self.process = ManagedProcess(
            "pebble", nsenter_argv(self.netns, [binary, "-config", config_path, "-dnsserver", f"{host}:{port}"]),
            self.log_path,
            env=self.knobs.env(),
        )
        self.management = Management(self.management_url, self.ca_bundle)
        self.process.start()
        self.process.wait_ready(self._ready, READY_TIMEOUT, expected="to serve its directory and roots")

    def _ready(self) -> Seen:
        directory = requests.get(self.directory_url, verify=str(self.ca_bundle), timeout=2)
        if directory.status_code != 200:
            return Seen(False, f"directory: HTTP {directory.status_code}")
        return Seen(bool(self.management.roots()), "directory and /roots/0 answer")

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        if self.management is not None:
            self.management.close()

    def validations(self) -> list[Validation]:
        """Every challenge validation Pebble completed, in order, from its log (the CA's side of the story)."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return [Validation(authz, challenge, outcome == "VALID")
                for authz, outcome, challenge in _VALIDATION.findall(text)]
