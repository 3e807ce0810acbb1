"""Replay a live run's metric series at production time scale through `promtool test rules`: would these
rules have paged, and how long before the certificate expired?

The journal holds every change of cert-manager's certificate and ACME metrics during the run (metric-sample
entries). The replay rebuilds the production story of each journal:

    day 0            the certificate is issued (lab expiry E0 maps to day L, the production lifetime)
    day 0 .. fault   steady state: the values seen just before the fault, held
    fault            at the certificate's renewal time (day 60 for 90 days: cert-manager renews at 2/3)
    fault window     replayed 1:1 (cert-manager's retries and backoffs are real in the lab; only the
                     certificates' lifetimes are compressed)
    after it         the state at the end of the fault window is held: nobody fixed it
    horizon          the certificate's expiry (day L); one lifetime when no certificate existed before

Timestamp values (expiration, renewal time) are mapped with the time scale: before the fault v -> L + (v - E0)
* scale; a value seen at lab time t in the window keeps its distance from t, scaled: P(t) + (v - t) * scale.
Counters are held flat after the window, so an error-rate alert is judged on the errors seen live.
cert-manager's `up` is 1 throughout, and `probe_ssl_earliest_cert_expiry` is derived from the expiration
series (a workload serving the Secret's certificate, as the lab's probes show), so rules on the served
certificate work unchanged.

Finding the first firing time: promtool evaluates the rules at every step (5 m) anyway; an alert_rule_test
expecting no alert at a candidate time fails and prints the alerts that fire then. Pass 1 asks every 6 hours
of the horizon (and at every step of the fault's first two hours), pass 2 at every step of the 6 hours
before each alert's first firing: two promtool runs per journal, exact to the step.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness.stack.leftovers import owned_prefix
from harness.alerts.rules import DAY, JOB, PRODUCTION_LIFETIME, Mode, TimeScale, prepare
from harness.errors import HarnessError
from harness.observe import metrics
from harness.report.journal import EntryKind, Journal, JournalError
from harness.stack import binaries
from harness.stack.pebble import CERTIFICATE_VALIDITY

# Seconds between input samples and rule evaluations. Production Prometheus evaluates every minute, but
# promtool takes ~23 s for a 90-day horizon at 1 m against ~6 s at 5 m (measured on the 2-core lab machine),
# and a page is reported in days: 5 m keeps `for: 10m` windows and 1 h rate ranges meaningful.
STEP = 300
COARSE = 6 * 3600  # pass 1 candidate spacing; pass 2 asks at every step of the bracket it found
DENSE_AFTER_FAULT = 2 * 3600  # pass 1 asks at every step for this long after the fault: short `for:` windows
MIN_NOTICE = 7 * DAY  # a page with less notice than this before expiry is too late to fix calmly
PROMTOOL_TIMEOUT = 600  # a 90-day horizon takes seconds; 10 min means promtool hangs
DEFAULT_SCALE = PRODUCTION_LIFETIME / CERTIFICATE_VALIDITY  # 90 d / 1 h = 2160
INSTANCE = "cert-manager"
TIMESTAMP_METRICS = (metrics.CERTIFICATE_EXPIRATION, metrics.CERTIFICATE_RENEWAL)


@dataclass(frozen=True)
class Sample:
    at: float  # lab wall clock
    name: str
    labels: tuple[tuple[str, str], ...]
    value: float


@dataclass
class Story:
    """One journal mapped to production time: series as {labels: [(production second, value)]}."""

    failure: str
    fault: str | None
    fault_at: float  # production seconds
    horizon: float
    expiry: float | None  # production seconds, None when no certificate existed
    ends_in_expiry: bool
    unresolved: bool  # the window ended failing: expiry coming, or a certificate that never became Ready
    series: dict[tuple, list[tuple[float, float]]] = field(default_factory=dict)


@dataclass
class Outcome:
    story: Story
    first_firing: dict[str, float]  # alertname -> production seconds
    severities: dict[str, str]
    notice: float | None = None  # seconds between the first page and expiry
    verdict: str = ""  # "paged", "too late", "gap", "absorbed", "quiet", "false alarm"
    min_notice: float = MIN_NOTICE

    def describe(self) -> str:
        story = self.story
        subject = story.failure or "run"
        fault = (story.fault or "").split(":")[0].split(". ")[0].rstrip(".")
        if story.fault is None:
            window = f"steady state, day 0 to day {_day(story.horizon)}"
            if not self.first_firing:
                return f"{subject}: {window}: no page (as it should be)"
            return f"{subject}: {window}: FALSE ALARM: {self._firings()}"
        head = f"{subject}: {fault} from day {_day(story.fault_at)}"
        if not self.first_firing:
            if story.ends_in_expiry:
                return f"{head}: GAP: no page before the certificate expired (day {_day(story.expiry)})"
            if story.unresolved:
                return f"{head}: GAP: no page by day {_day(story.horizon)}"
            return f"{head}: no page, none needed: the window ended healthy"
        name, at = min(self.first_firing.items(), key=lambda item: item[1])
        text = f"{head}: first page at day {_day(at)} ({name}"
        after = at - story.fault_at
        if after < DAY:
            text += f", {after / 60:.0f} min after the fault)" if after < 7200 else f", {after / 3600:.1f} h after the fault)"
        else:
            text += ")"
        if story.expiry is not None:
            text += f", {_day(story.expiry - at)} days before expiry"
            if self.verdict == "too late":
                text += f": TOO LATE (wanted at least {_day(self.min_notice)} days)"
        others = {k: v for k, v in self.first_firing.items() if k != name}
        return text + (f"; then {self._firings(others)}" if others else "")

    def _firings(self, firings: dict[str, float] | None = None) -> str:
        items = sorted((firings if firings is not None else self.first_firing).items(), key=lambda item: item[1])
        return ", ".join(f"{name} at day {_day(at)}" for name, at in items)


def _day(seconds: float | None) -> str:
    return "?" if seconds is None else f"{seconds / DAY:.1f}"


def _samples(journal: Journal) -> list[Sample]:
    return [Sample(e.at, e.subject, tuple(sorted(e.detail.get("labels", {}).items())), float(e.detail["value"]))
            for e in journal.entries if e.kind is EntryKind.METRIC_SAMPLE]


def _last_before(samples: list[Sample], at: float) -> dict[tuple, Sample]:
    last: dict[tuple, Sample] = {}
    for sample in samples:
        if sample.at <= at:
            last[(sample.name, sample.labels)] = sample
    return last


def story(journal: Journal, scale: float = DEFAULT_SCALE, lab_lifetime: float = CERTIFICATE_VALIDITY) -> Story:
    """The journal's series mapped to production time (see the module docstring)."""
    samples = _samples(journal)
    if not samples:
        raise HarnessError(f"{journal.path}: no metric samples to replay (was the timeline recording?)")
    lifetime = lab_lifetime * scale
    applied = next((e for e in journal.entries if e.kind is EntryKind.FAULT_APPLIED), None)
    fault_id = applied and applied.detail.get("fault_id")
    reverted = next((e for e in journal.entries if e.kind in (EntryKind.FAULT_REVERTED, EntryKind.FAULT_REVERT_FAILED)
                     and e.detail.get("fault_id") == fault_id), None) if applied else None
    end = max(e.at for e in journal.entries)
    fault_start = applied.at if applied else end
    fault_end = reverted.at if reverted else end
    before = _last_before(samples, fault_start)
    expiries = [s for s in before.values() if s.name == metrics.CERTIFICATE_EXPIRATION and s.value > 0]
    anchor = expiries[0] if expiries else None
    if anchor is not None:
        renewal = before.get((metrics.CERTIFICATE_RENEWAL, anchor.labels))
        lab_renewal = renewal.value if renewal and renewal.value > 0 else anchor.value - lab_lifetime / 3
        fault_at = lifetime + (lab_renewal - anchor.value) * scale
    else:
        fault_at = 0.0
    at_end = _last_before(samples, fault_end)
    ends_in_expiry = anchor is not None and at_end[(anchor.name, anchor.labels)].value == anchor.value
    expiry = lifetime if anchor is not None else None
    horizon = (expiry if applied else fault_at) if anchor is not None else lifetime

    def value(sample: Sample) -> float:
        """Timestamps before the fault are anchored on the certificate (E0 -> L); later ones keep their
        distance from the moment they were seen, times the scale (a certificate issued in the window lives L)."""
        if sample.name not in TIMESTAMP_METRICS or sample.value <= 0:
            return sample.value
        if applied is None or sample.at <= fault_start:
            return lifetime + (sample.value - anchor.value) * scale if anchor else sample.value
        return fault_at + (sample.at - fault_start) + (sample.value - sample.at) * scale

    series: dict[tuple, list[tuple[float, float]]] = {}
    for key, sample in (before if applied else at_end).items():
        series.setdefault(key, []).append((0.0, value(sample)))
    if applied:
        for sample in samples:
            if fault_start < sample.at <= fault_end:
                series.setdefault((sample.name, sample.labels), []).append(
                    (fault_at + sample.at - fault_start, value(sample)))
    description = applied.detail.get("description") or applied.subject if applied else None
    ready = [s for (name, labels), s in at_end.items()
             if name == metrics.CERTIFICATE_READY_STATUS and dict(labels).get("condition") == "True"]
    unresolved = ends_in_expiry or (anchor is None and any(s.value != 1 for s in ready))
    return Story(journal.scenario.node_id.rpartition("::")[2] or journal.scenario.failure, description, fault_at, horizon, expiry, ends_in_expiry, unresolved, series)


def _labels_text(name: str, labels: dict) -> str:
    return name + metrics.format_labels(labels)


def input_series(story: Story) -> list[dict]:
    """promtool's input_series, one value per STEP in expanding notation, plus `up` and the probe's expiry."""
    steps = int(story.horizon // STEP) + 1
    out = []
    probes = []
    for (name, labels), points in sorted(story.series.items()):
        labels = {**dict(labels), "job": JOB, "instance": INSTANCE}
        out.append({"series": _labels_text(name, labels), "values": _expand(points, steps)})
        if name == metrics.CERTIFICATE_EXPIRATION:
            probe = {"job": "blackbox", "instance": f"{labels.get('namespace')}/{labels.get('name')}",
                     "probe": labels.get("name", "")}
            probes.append({"series": _labels_text("probe_ssl_earliest_cert_expiry", probe),
                           "values": _expand([(at, v) if v > 0 else (at, None) for at, v in points], steps)})
            probes.append({"series": _labels_text("probe_success", probe), "values": f"1x{steps - 1}"})
    out.append({"series": _labels_text("up", {"job": JOB, "instance": INSTANCE}), "values": f"1x{steps - 1}"})
    return out + probes


def _expand(points: list[tuple[float, float | None]], steps: int) -> str:
    """Step values (each point holds until the next) as run-length expanding notation over `steps` steps."""
    per_step: list[tuple[int, float | None]] = []
    for at, value in sorted(points, key=lambda p: p[0]):
        step = min(int(-(-at // STEP)), steps)  # the first evaluation step at or after the change
        if per_step and per_step[-1][0] == step:
            per_step[-1] = (step, value)
        else:
            per_step.append((step, value))
    runs, previous = [], 0
    values: list[float | None] = [None]
    for step, value in per_step:
        if step > previous:
            runs.append((values[-1], step - previous))
        values.append(value)
        previous = step
    if steps > previous:
        runs.append((values[-1], steps - previous))
    parts = []
    for value, count in runs:
        if value is None:
            parts.append(f"_x{count}")
        else:
            parts.append(f"{metrics.format_value(value)}x{count - 1}" if count > 1 else metrics.format_value(value))
    return " ".join(parts)


_BLOCK = re.compile(r"alertname: (\S+), time: (\S+?),\s*\n\s*exp:\[\],\s*\n\s*got:\[(.*?)\n\s*\]", re.S)
_LABELS = re.compile(r"Labels:\{(.*)\}")
_PAIR = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
_DURATION = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": DAY, "w": 7 * DAY, "y": 365 * DAY}


def parse_duration(text: str) -> float:
    if text == "0s":
        return 0.0
    total, position = 0.0, 0
    for match in _DURATION.finditer(text):
        if match.start() != position:
            break
        total += int(match.group(1)) * _UNIT[match.group(2)]
        position = match.end()
    if position != len(text):
        raise HarnessError(f"promtool printed a time it cannot be read as a duration: {text!r}")
    return total


def firings(output: str) -> dict[tuple[str, float], list[dict]]:
    """(alertname, eval time) -> labels of the alerts promtool found firing where none were expected."""
    found = {}
    for match in _BLOCK.finditer(output):
        labels = [dict(_PAIR.findall(line)) for line in _LABELS.findall(match.group(3))]
        found[(match.group(1), parse_duration(match.group(2)))] = labels
    return found


def run_promtool(rule_files: list[Path], series: list[dict], candidates: dict[str, list[float]],
                 workdir: Path) -> dict[tuple[str, float], list[dict]]:
    """One `promtool test rules` run asking, at each candidate time, that no alert fires; what fired."""
    tests = [{"eval_time": f"{int(at)}s", "alertname": name, "exp_alerts": []}
             for name, times in candidates.items() for at in sorted(set(times))]
    document = {"rule_files": [str(path) for path in rule_files], "evaluation_interval": f"{STEP}s",
                "tests": [{"interval": f"{STEP}s", "input_series": series, "alert_rule_test": tests}]}
    test_file = workdir / "replay-test.yml"
    test_file.write_text(yaml.safe_dump(document, sort_keys=False, width=1 << 16))
    promtool = binaries.binary("promtool")
    result = subprocess.run([str(promtool), "test", "rules", str(test_file)], capture_output=True, text=True,
                            timeout=PROMTOOL_TIMEOUT)
    output = result.stdout + result.stderr
    found = firings(output)
    if result.returncode != 0 and not found:
        raise HarnessError(f"promtool test rules {test_file} failed without alert results:\n{output[-2000:]}")
    return found


def replay_story(story: Story, rule_files: list[Path], alert_names: set[str], workdir: Path,
                 min_notice: float = MIN_NOTICE) -> Outcome:
    series = input_series(story)
    horizon = story.horizon
    coarse = [float(t) for t in range(0, int(horizon) + 1, COARSE)]
    dense = [float(t) for t in range(int(story.fault_at), int(min(horizon, story.fault_at + DENSE_AFTER_FAULT)) + 1, STEP)]
    candidates = sorted(set(coarse + dense + [float(int(horizon // STEP) * STEP)]))
    found = run_promtool(rule_files, series, {name: candidates for name in alert_names}, workdir)
    first: dict[str, float] = {}
    for (name, at), labels in found.items():
        if labels and at < first.get(name, float("inf")):
            first[name] = at
    refine = {}
    for name, at in first.items():
        earlier = [c for c in candidates if c < at]
        start = earlier[-1] if earlier else 0.0
        if at - start > STEP:
            refine[name] = [float(t) for t in range(int(start) + STEP, int(at), STEP)]
    if refine:
        for (name, at), labels in run_promtool(rule_files, series, refine, workdir).items():
            if labels and at < first[name]:
                first[name] = at
    severities = {name: labels[0].get("severity", "") for (name, _), labels in found.items() if labels}
    outcome = Outcome(story, first, severities, min_notice=min_notice)
    outcome.verdict = _verdict(outcome)
    return outcome


def _verdict(outcome: Outcome) -> str:
    story = outcome.story
    if story.fault is None:
        return "false alarm" if outcome.first_firing else "quiet"
    if not outcome.first_firing:
        return "gap" if story.unresolved else "absorbed"
    first = min(outcome.first_firing.values())
    if story.expiry is not None:
        if first >= story.expiry and story.ends_in_expiry:
            return "gap"
        outcome.notice = story.expiry - first
        if story.ends_in_expiry and outcome.notice < outcome.min_notice:
            return "too late"
    return "paged"


def journals(report_dir: Path) -> list[Journal]:
    paths = sorted(report_dir.rglob("journal.json"))
    if not paths:
        raise HarnessError(f"{report_dir}: no journal.json under it. Fix: give the --report-dir of a certchaos run")
    loaded = []
    for path in paths:
        try:
            loaded.append(Journal.load(path))
        except JournalError as error:
            raise HarnessError(str(error)) from None
    return loaded


def replay(report_dir: str | Path, user_rules: str | Path | None = None, mode: Mode = "add",
           scale: float = DEFAULT_SCALE, min_notice: float = MIN_NOTICE) -> list[Outcome]:
    """Every journal of the run with metric samples, replayed against the production rules."""
    if not scale >= 1:
        raise HarnessError(f"--scale {scale!r}: give a factor of 1 or more (production lifetime / lab lifetime)")
    with tempfile.TemporaryDirectory(prefix=owned_prefix("replay")) as scratch:
        workdir = Path(scratch)
        rules = prepare(workdir / "rules", TimeScale(1), user_rules, mode)
        outcomes = []
        for journal in journals(Path(report_dir)):
            if not any(e.kind is EntryKind.METRIC_SAMPLE for e in journal.entries):
                continue
            outcomes.append(replay_story(story(journal, scale), list(rules.files), set(rules.alerts), workdir,
                                         min_notice))
        return outcomes
