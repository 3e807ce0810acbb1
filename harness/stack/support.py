"""Which Kubernetes each cert-manager minor supports, as cert-manager's documentation states, and the refusal of
a pairing outside it: cert-manager on a Kubernetes it does not support is a cluster nobody should run, and what
breaks there is a known incompatibility, not a finding. `--allow-unsupported-kubernetes` runs it anyway; every
journal then says the pairing is unsupported (harness/report/journal.py reads the versions that ran)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.errors import HarnessError

# cert-manager minor -> (oldest, newest) Kubernetes minor it supports: the column "Supported Kubernetes Versions"
# of the "Supported Releases" page, https://cert-manager.io/docs/releases/ (its current and old-releases tables;
# source github.com/cert-manager/website, content/docs/releases/README.md, as of 2026-08-22, when 1.22 was not
# released). 1.12 is the LTS release, supported longer, hence its wide range.
SOURCE = "https://cert-manager.io/docs/releases/"
SUPPORTED_KUBERNETES: dict[str, tuple[str, str]] = {
    "1.21": ("1.33", "1.36"), "1.20": ("1.32", "1.35"), "1.19": ("1.31", "1.35"), "1.18": ("1.29", "1.33"),
    "1.17": ("1.29", "1.33"), "1.16": ("1.25", "1.32"), "1.15": ("1.25", "1.32"), "1.14": ("1.24", "1.31"),
    "1.13": ("1.21", "1.27"), "1.12": ("1.22", "1.32"), "1.11": ("1.21", "1.27"), "1.10": ("1.20", "1.26"),
    "1.9": ("1.20", "1.24"), "1.8": ("1.19", "1.24"), "1.7": ("1.18", "1.23"), "1.6": ("1.17", "1.22"),
    "1.5": ("1.16", "1.22"), "1.4": ("1.16", "1.21"), "1.3": ("1.16", "1.21"), "1.2": ("1.16", "1.21"),
    "1.1": ("1.11", "1.21"), "1.0": ("1.11", "1.21"),
}
OVERRIDE = "--allow-unsupported-kubernetes"
_MINOR = re.compile(r"^v?(\d+)\.(\d+)(?:\.\d+)?(?:[-+][\w.+-]*)?$")


def minor(version: str) -> tuple[int, int] | None:
    """(1, 26) for "v1.26.1", "1.26", "v1.26.1-rc.0"; None for what is no version ("unknown", "dev")."""
    found = _MINOR.match(version.strip())
    return (int(found.group(1)), int(found.group(2))) if found else None


def _key(version: str) -> str | None:
    parsed = minor(version)
    return None if parsed is None else f"{parsed[0]}.{parsed[1]}"


@dataclass(frozen=True)
class Pairing:
    """One cert-manager version on one Kubernetes version, and what the table says of it."""

    cert_manager: str
    kubernetes: str
    supported_range: tuple[str, str] | None  # None: the table does not list this cert-manager minor

    @property
    def supported(self) -> bool | None:
        """True or False as the table says; None when it cannot say (a minor it lacks, a version that is none)."""
        kube = minor(self.kubernetes)
        if self.supported_range is None or kube is None:
            return None
        oldest, newest = (minor(end) for end in self.supported_range)
        return oldest <= kube <= newest

    def facts(self) -> dict:
        """What a journal records (environment.pairing)."""
        said = {True: "supported", False: "unsupported", None: "unknown"}[self.supported]
        return {"cert_manager": self.cert_manager, "kubernetes": self.kubernetes, "support": said,
                "supported_kubernetes": "-".join(self.supported_range) if self.supported_range else None,
                "source": SOURCE}


def pairing(cert_manager: str, kubernetes: str) -> Pairing:
    return Pairing(cert_manager, kubernetes, SUPPORTED_KUBERNETES.get(_key(cert_manager) or ""))


def supporting(kubernetes: str) -> list[str]:
    """The cert-manager minors that support `kubernetes`, newest first."""
    return [cm for cm in SUPPORTED_KUBERNETES if pairing(cm, kubernetes).supported]


def refuse_unsupported(cert_manager: str, kubernetes: str, lab_kubernetes: list[str], *, allowed: bool) -> Pairing:
    """The pairing; HarnessError (the reason and the fixes) when the table says it is unsupported and the user
    did not pass OVERRIDE. `lab_kubernetes`: the versions the lab can run, for the fix."""
    found = pairing(cert_manager, kubernetes)
    if found.supported is not False or allowed:
        return found
    oldest, newest = found.supported_range
    fitting = [version for version in lab_kubernetes if pairing(cert_manager, version).supported]
    fixes = [f"--kubernetes {fitting[-1]} (in range)" if fitting else "a Kubernetes in that range"]
    others = supporting(kubernetes)
    if others:
        fixes.append(f"--cert-manager of a release that supports {_key(kubernetes)} ({', '.join(others)})")
    fixes.append(f"add {OVERRIDE} to run the pairing anyway (every journal records it as unsupported)")
    nobody = "" if others else f" (no cert-manager release supports {_key(kubernetes)} yet)"
    raise HarnessError(
        f"cert-manager {cert_manager} does not support Kubernetes {kubernetes}{nobody}: its documentation lists "
        f"{oldest} to {newest} ({SOURCE}), so what breaks there is a known incompatibility, not a finding. "
        f"Fix: {'; or '.join(fixes)}")
