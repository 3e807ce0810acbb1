"""Alert rules: the project's defaults, written from cert-manager's documented metrics, and the user's own.

The defaults carry production thresholds (a 90-day certificate renewed 30 days before expiry). The lab's
certificates live an hour, so every duration is divided by ONE factor, the time scale:

    factor = production certificate lifetime / lab certificate lifetime = 90 d / 1 h = 2160

    lab duration = max(production duration / factor, floor)

The floor is what the lab cannot compress: a `for:` shorter than a few rule evaluations (1 s each) cannot
be seen pending, a rate() needs several scrapes, and an issuance takes ~65 s whatever the certificate's
lifetime (cert-manager's fixed 60 s DNS-01 wait), so "not Ready for 10 min" cannot mean 0.3 s in the lab.
At factor 1 (the replay at production scale) every rule has exactly its production values.

A user's file is a Prometheus rule file or a PrometheusRule manifest (its spec.groups); `add` loads it
beside the defaults, `replace` instead of them. Every file is checked with `promtool check rules` before
anything starts, and its message (file and line) is the error.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from harness.stack.timings import ISSUANCE
from harness.errors import HarnessError
from harness.stack import binaries

DAY = 86400
PRODUCTION_LIFETIME = 90 * DAY  # Let's Encrypt's lifetime, the usual production certificate
GROUP = "certchaos-cert-manager"
JOB = "cert-manager"  # the scrape job of cert-manager's controller, in the lab and in the replay
# Floors (seconds) of lab durations, see the module docstring.
MIN_FOR = 10  # ten 1 s rule evaluations: the pending state is seen by 1 s polling
MIN_RATE_WINDOW = 20  # twenty 1 s scrapes: rate() has points even when a scrape is late
CHECK_TIMEOUT = 30  # promtool parses a rule file in milliseconds; 30 s means it hangs

Mode = Literal["add", "replace"]
MODES = ("add", "replace")


class RulesInvalid(HarnessError):
    """A rule file promtool refuses, with promtool's own message (file and line)."""


@dataclass(frozen=True)
class TimeScale:
    """How much shorter the lab's certificates live than production's; divides every rule duration."""

    factor: float = 1.0

    @classmethod
    def for_lifetime(cls, lab_lifetime: float, production_lifetime: float = PRODUCTION_LIFETIME) -> "TimeScale":
        if lab_lifetime <= 0:
            raise HarnessError(f"alert time scale: lab certificate lifetime {lab_lifetime!r}s must be positive")
        return cls(production_lifetime / lab_lifetime)

    def __post_init__(self) -> None:
        if not self.factor >= 1:
            raise HarnessError(f"alert time scale {self.factor!r}: the lab's certificates cannot live longer "
                               "than production's. Fix: give a factor of 1 (production) or more")

    def seconds(self, production: float, floor: float = 0) -> int:
        """The lab's duration for a production one (whole seconds, as Prometheus writes them)."""
        if self.factor == 1:
            return int(production)
        return int(max(round(production / self.factor), floor))


@dataclass(frozen=True)
class DefaultRule:
    """One default alert: `expr` and `summary` are templates over `durations` (name -> production seconds,
    floor), rendered in seconds; `for_` is the production `for:` and its floor."""

    name: str
    expr: str
    for_: tuple[float, float]
    durations: dict
    summary: str
    severity: str = "page"

    def render(self, scale: TimeScale) -> dict:
        values = {key: scale.seconds(*value) for key, value in self.durations.items()}
        production = {key: value[0] for key, value in self.durations.items()}
        return {
            "alert": self.name,
            "expr": self.expr.format(**values),
            "for": f"{scale.seconds(*self.for_)}s",
            "labels": {"severity": self.severity},
            "annotations": {
                "summary": self.summary,
                "production": "; ".join([f"for {_human(self.for_[0])}"]
                                        + [f"{key} {_human(value)}" for key, value in production.items()]),
                "time_scale": f"{scale.factor:g}",
            },
        }


def _human(seconds: float) -> str:
    for unit, size in (("d", DAY), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


# cert-manager v1.11 metrics (pkg/metrics): expiration and renewal timestamps are 0 until the Certificate has
# a certificate, so each test on them excludes 0; ready_status has one series per condition value.
DEFAULT_RULES = (
    DefaultRule(
        name="CertManagerCertificateExpiringSoon",
        expr="certmanager_certificate_expiration_timestamp_seconds > 0 "
             "and certmanager_certificate_expiration_timestamp_seconds - time() < {threshold}",
        for_=(0, 0),
        # 14 days: half of what cert-manager's default renewBefore (1/3 of 90 d) leaves; below it, renewal
        # has failed for two weeks.
        durations={"threshold": (14 * DAY, 0)},
        summary="Certificate {{ $labels.namespace }}/{{ $labels.name }} expires in less than the threshold",
    ),
    DefaultRule(
        name="CertManagerCertificateNotReady",
        expr='certmanager_certificate_ready_status{{condition="True"}} == 0',
        # 10 minutes: a healthy issuance takes seconds to a few minutes. In the lab an issuance takes ~65 s
        # (the DNS-01 wait), so the floor is the issuance deadline.
        for_=(10 * 60, ISSUANCE),
        durations={},
        summary="Certificate {{ $labels.namespace }}/{{ $labels.name }} has not been Ready for a while",
    ),
    DefaultRule(
        name="CertManagerRenewalOverdue",
        expr="certmanager_certificate_renewal_timestamp_seconds > 0 "
             "and time() - certmanager_certificate_renewal_timestamp_seconds > {grace}",
        for_=(0, 0),
        # The renewal time moves forward as soon as a new certificate is issued; one hour past it (one
        # issuance backoff of cert-manager) means the renewal is stuck. The floor: one lab issuance.
        durations={"grace": (3600, ISSUANCE)},
        summary="Certificate {{ $labels.namespace }}/{{ $labels.name }} is past its renewal time with no new "
                "certificate",
    ),
    DefaultRule(
        name="CertManagerAcmeRequestErrors",
        expr='sum by (host) (rate(certmanager_http_acme_client_request_count{{status!~"2.."}}[{window}s])) > 0.001',
        # More than ~4 failed ACME requests an hour, for 15 minutes: retry noise stays below it, a broken
        # path to the CA does not. The rate is per second and real in the lab too (only lifetimes shrink).
        for_=(15 * 60, 0),
        durations={"window": (3600, MIN_RATE_WINDOW)},
        summary="ACME requests to {{ $labels.host }} are failing",
        severity="warning",
    ),
    DefaultRule(
        name="CertManagerAbsent",
        expr=f'absent(up{{{{job="{JOB}"}}}} == 1)',
        # 5 minutes: longer than a controller restart (the kubelet's, or the lab supervisor's).
        for_=(5 * 60, MIN_FOR),
        durations={},
        summary="cert-manager's controller has not been scraped successfully",
    ),
)


def default_rules(scale: TimeScale) -> dict:
    """The default rule file (as data) at `scale`; TimeScale(1) gives the production values."""
    return {"groups": [{"name": GROUP, "rules": [rule.render(scale) for rule in DEFAULT_RULES]}]}


def load_rule_document(path: str | Path) -> dict:
    """A rule file's groups: a Prometheus rule file as is, or a PrometheusRule manifest's spec.groups."""
    path = Path(path)
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    except OSError as error:
        raise RulesInvalid(f"alert rules {path}: cannot read: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise RulesInvalid(f"alert rules {path}: not YAML: {error}") from None
    groups = []
    for document in documents:
        if not isinstance(document, dict):
            raise RulesInvalid(f"alert rules {path}: expected a rule file (groups:) or a PrometheusRule, "
                               f"found a {type(document).__name__}")
        if document.get("kind") == "PrometheusRule":
            groups += (document.get("spec") or {}).get("groups") or []
        elif "groups" in document:
            groups += document["groups"] or []
        else:
            raise RulesInvalid(f"alert rules {path}: no `groups:` and not a PrometheusRule (kind: "
                               f"{document.get('kind')!r}). Fix: give a Prometheus rule file or a PrometheusRule")
    return {"groups": groups}


def is_plain_rule_file(path: Path) -> bool:
    try:
        return all(isinstance(d, dict) and d.get("kind") != "PrometheusRule"
                   for d in yaml.safe_load_all(path.read_text()) if d is not None)
    except (OSError, yaml.YAMLError):
        return True  # promtool reports it with its own message


def alert_names(document: dict) -> set[str]:
    return {rule["alert"] for group in document.get("groups") or [] for rule in group.get("rules") or []
            if isinstance(rule, dict) and "alert" in rule}


def check(path: Path, origin: Path | None = None) -> None:
    """`promtool check rules path`; RulesInvalid with promtool's own message if it refuses the file."""
    promtool = binaries.binary("promtool")
    result = subprocess.run([str(promtool), "check", "rules", str(path)], capture_output=True, text=True,
                            timeout=CHECK_TIMEOUT)
    if result.returncode != 0:
        message = "\n".join(line for line in (result.stdout + result.stderr).splitlines()
                            if line.strip() and not line.startswith("Checking "))
        where = f" (spec.groups extracted from the PrometheusRule {origin})" if origin else ""
        raise RulesInvalid(f"alert rules refused by promtool{where}:\n{message}")


@dataclass(frozen=True)
class RuleSet:
    """The rule files a Prometheus (or a replay) loads, each checked, and the alert names they define."""

    files: tuple[Path, ...]
    alerts: frozenset[str]


def prepare(directory: Path, scale: TimeScale, user_rules: str | Path | None = None,
            mode: Mode = "add") -> RuleSet:
    """Write and check the rule files into `directory`: the defaults at `scale` (unless mode is replace) and
    the user's file (a PrometheusRule's groups extracted). Raises RulesInvalid before anything runs."""
    if mode not in MODES:
        raise HarnessError(f"--alert-rules-mode {mode!r}: choose one of {', '.join(MODES)}")
    if mode == "replace" and user_rules is None:
        raise HarnessError("--alert-rules-mode replace needs --alert-rules FILE (the rules to use instead)")
    directory.mkdir(parents=True, exist_ok=True)
    files, names = [], set()
    if user_rules is not None:
        source = Path(user_rules).resolve()
        if not source.is_file():
            raise RulesInvalid(f"--alert-rules {user_rules}: no such file")
        if is_plain_rule_file(source):
            check(source)  # promtool's lines name the user's own file
            files.append(source)
        else:
            extracted = directory / "user-rules.yml"
            extracted.write_text(yaml.safe_dump(load_rule_document(source), sort_keys=False))
            check(extracted, origin=source)
            files.append(extracted)
        names |= alert_names(load_rule_document(files[-1]))
    if mode == "add":
        document = default_rules(scale)
        defaults = directory / "default-rules.yml"
        defaults.write_text(f"# certchaos default alert rules at time scale {scale.factor:g} "
                            "(harness/alerts/rules.py)\n" + yaml.safe_dump(document, sort_keys=False))
        check(defaults)
        files.insert(0, defaults)
        names |= alert_names(document)
    return RuleSet(tuple(files), frozenset(names))
