"""One timeline per scenario, saved as journal.json: what was done, what was seen, and the verdict.

The journal describes itself (schema, versions, platform, the scenario and its Spec) so a report can be
read months later without the run. Entries carry a wall-clock time and a monotonic offset from the
scenario's start; time-to-detect and time-to-recover are computed from the entries, never stored.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Callable

from harness.errors import HarnessError
from harness.stack.support import pairing

SCHEMA = "certchaos.journal/v1"


class Status(StrEnum):
    """A scenario's verdict. "deviated" is the system under test missing an expectation, not a crash;
    "known-issue" is a deviation that is a known bug of the release under test (harness/chaos/known_issues.py)."""

    PASSED = "passed"
    KNOWN_ISSUE = "known-issue"
    DEVIATED = "deviated"
    HARNESS_ERROR = "harness-error"
    INTERRUPTED = "interrupted"


# How bad a verdict is: when several apply (an expectation missed, then a revert failed) the worst wins.
# A harness error outranks a deviation because a broken harness makes the deviation untrustworthy.
SEVERITY = {Status.PASSED: 0, Status.KNOWN_ISSUE: 1, Status.DEVIATED: 2, Status.HARNESS_ERROR: 3, Status.INTERRUPTED: 4}


def worst(*statuses: Status | None) -> Status:
    return max((s for s in statuses if s is not None), key=SEVERITY.__getitem__, default=Status.PASSED)


class EntryKind(StrEnum):
    """What an entry records. Closed: a report knows how to read every kind."""

    PHASE = "phase"
    FAULT_APPLIED = "fault-applied"
    FAULT_REVERTED = "fault-reverted"
    FAULT_REVERT_FAILED = "fault-revert-failed"
    EXPECTATION_MET = "expectation-met"
    EXPECTATION_MISSED = "expectation-missed"
    OBSERVED = "observed"  # a state an expectation's condition saw (transitions only)
    RESOURCE_CONDITION = "resource-condition"  # Certificate/CertificateRequest/Order/Challenge changes
    K8S_EVENT = "k8s-event"
    METRIC_SAMPLE = "metric-sample"
    DNS_LOG = "dns-log"
    ALERT = "alert"  # an alert's state changed in Prometheus: pending, firing, inactive
    NOTIFICATION = "notification"  # Alertmanager's notification reached the harness's receiver
    NOTE = "note"
    # Game days (harness.gameday): the team's marks, a runbook's steps, and the game's own milestones.
    TEAM = "team"  # ack, note, fixed (with whether the harness saw the system healthy then), reveal, quit
    RUNBOOK_STEP = "runbook-step"  # one shell block of a runbook: exit code, output, duration
    GAME = "game"  # injected (the fault's secret kept in the journal), detected, recovered, ended


class JournalError(HarnessError):
    """A journal file that cannot be read back: missing, not JSON, or another schema version."""


@dataclass(frozen=True)
class Clock:
    """Where the journal reads time; tests inject a fake one."""

    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time


@dataclass(frozen=True)
class Entry:
    at: float  # wall clock, seconds since the epoch
    offset: float  # monotonic seconds since the scenario started
    kind: EntryKind
    subject: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "offset": self.offset, "kind": str(self.kind), "subject": self.subject,
                "detail": self.detail}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        return cls(data["at"], data["offset"], EntryKind(data["kind"]), data["subject"], data.get("detail", {}))


@dataclass(frozen=True)
class ScenarioInfo:
    """Which scenario this is: pytest node id, the production failure (docstring's first line) and its Spec."""

    node_id: str
    failure: str = ""
    spec: str = ""

    @classmethod
    def from_docstring(cls, node_id: str, doc: str | None) -> ScenarioInfo:
        text = (doc or "").strip()
        failure = text.splitlines()[0].strip() if text else ""
        _, found, spec = text.partition("Spec:")
        return cls(node_id, failure, " ".join(spec.split()) if found else "")


def jsonable(value: Any) -> Any:
    """A JSON-native copy (objects become their repr), so a recorded detail cannot change afterwards."""
    return json.loads(json.dumps(value, default=repr))


def environment_facts(provider: str | None = None, components: dict[str, str] | None = None) -> dict[str, Any]:
    from importlib import metadata

    try:
        version = metadata.version("certchaos")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return {"certchaos": version, "python": platform.python_version(), "platform": platform.platform(),
            "provider": provider, "components": dict(components or {}), "pairing": pairing_facts(components or {})}


def pairing_facts(components: dict[str, dict]) -> dict[str, Any] | None:
    """cert-manager's controller on the API server, as their binaries said their versions, and whether
    cert-manager supports that Kubernetes (harness/stack/support.py); None when either is not there."""
    said = [(components.get(name) or {}).get("version") for name in ("cert-manager-controller", "kube-apiserver")]
    if not all(isinstance(version, str) for version in said):
        return None
    return pairing(*said).facts()


class Journal:
    """The scenario's timeline. `record` is thread-safe: observers record from their own threads."""

    def __init__(self, path: str | os.PathLike, scenario: ScenarioInfo, *, clock: Clock = Clock(),
                 environment: dict[str, Any] | None = None):
        self.path = Path(path)
        self.scenario = scenario
        self.clock = clock
        self.environment = environment if environment is not None else environment_facts()
        self.time_scale = 1.0
        self.started_at = clock.wall()
        self._start = clock.monotonic()
        self.ended_at: float | None = None
        self.status: Status | None = None
        self.error: dict[str, str] | None = None  # {"type", "message", "phase"} of what set the verdict
        self._entries: list[Entry] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        """Seconds since the scenario started (monotonic)."""
        return self.clock.monotonic() - self._start

    def record(self, kind: EntryKind | str, subject: str, **detail: Any) -> Entry:
        kind = EntryKind(kind)  # ValueError for a kind outside the closed set
        detail = jsonable(detail)
        with self._lock:
            entry = Entry(self.clock.wall(), self.now(), kind, subject, detail)
            self._entries.append(entry)
        return entry

    @property
    def entries(self) -> tuple[Entry, ...]:
        with self._lock:
            return tuple(self._entries)

    def finish(self, status: Status, error: dict[str, str] | None = None) -> None:
        self.status = Status(status)
        self.error = error
        self.ended_at = self.clock.wall()

    def time_to_detect(self) -> float | None:
        return time_to_detect(self.entries)

    def time_to_recover(self) -> float | None:
        return time_to_recover(self.entries)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "scenario": {"node_id": self.scenario.node_id, "failure": self.scenario.failure,
                         "spec": self.scenario.spec},
            "environment": self.environment,
            "time_scale": self.time_scale,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "status": None if self.status is None else str(self.status),
            "error": self.error,
            "entries": [entry.to_dict() for entry in self.entries],
        }

    def save(self) -> Path:
        """Write journal.json atomically (temp file in the same directory, then rename)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".journal-", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(self.to_dict(), out, indent=1)
                out.write("\n")
            os.replace(temp, self.path)
        except BaseException:
            os.unlink(temp)
            raise
        return self.path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Journal:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise JournalError(f"{path}: cannot read journal: {error}") from error
        if not isinstance(data, dict) or "schema" not in data:
            raise JournalError(f"{path}: not a certchaos journal (no \"schema\" field)")
        if data["schema"] != SCHEMA:
            written_by = data.get("environment", {}).get("certchaos", "unknown")
            raise JournalError(f"{path}: journal schema is {data['schema']!r} but this certchaos reads {SCHEMA!r}. "
                               f"Fix: read it with the certchaos version that wrote it ({written_by})")
        scenario = data["scenario"]
        journal = cls(path, ScenarioInfo(scenario["node_id"], scenario.get("failure", ""), scenario.get("spec", "")),
                      environment=data.get("environment", {}))
        journal.time_scale = data.get("time_scale", 1.0)
        journal.started_at = data["started_at"]
        journal.ended_at = data.get("ended_at")
        journal.status = None if data.get("status") is None else Status(data["status"])
        journal.error = data.get("error")
        journal._entries = [Entry.from_dict(entry) for entry in data.get("entries", [])]
        return journal


def _first_met(entries: tuple[Entry, ...] | list[Entry], flag: str) -> Entry | None:
    return next((e for e in entries if e.kind is EntryKind.EXPECTATION_MET and e.detail.get(flag)), None)


def _fault_entry(entries, kind: EntryKind, fault_id: Any) -> Entry | None:
    return next((e for e in entries if e.kind is kind and e.detail.get("fault_id") == fault_id), None)


def time_to_detect(entries) -> float | None:
    """First met detects-expectation minus the apply time of the fault it detected; None if none was met."""
    met = _first_met(entries, "detects")
    applied = met and _fault_entry(entries, EntryKind.FAULT_APPLIED, met.detail.get("fault_id"))
    return None if not applied else met.offset - applied.offset


def detected_by(entries) -> str | None:
    """What showed the failure first: the subject of the first met detects-expectation, "(harness probe)"
    when only the harness's own probe could see it (its create rejected), not cert-manager's evidence."""
    met = _first_met(entries, "detects")
    return None if met is None else met.subject + (" (harness probe)" if met.detail.get("probe") else "")


def time_to_recover(entries) -> float | None:
    """First met recovers-expectation minus the revert time of the fault it recovered from; in a game day
    (where the team repairs, not the harness) the game's "recovered" entry: from injection to healthy."""
    met = _first_met(entries, "recovers")
    if met is None:
        recovered = next((e for e in entries if e.kind is EntryKind.GAME and e.subject == "recovered"), None)
        return None if recovered is None else recovered.detail.get("time_to_recover")
    reverted = met and _fault_entry(entries, EntryKind.FAULT_REVERTED, met.detail.get("fault_id"))
    return None if not reverted else met.offset - reverted.offset


def time_to_alert(entries, alertname: str | None = None, kind: EntryKind = EntryKind.ALERT) -> float | None:
    """From the first fault's application to the first firing alert (`alertname`, default any) after it;
    with kind=NOTIFICATION, to the first firing notification. None when either is missing."""
    applied = next((e for e in entries if e.kind is EntryKind.FAULT_APPLIED), None)
    if applied is None:
        return None
    state = "state" if kind is EntryKind.ALERT else "status"
    fired = next((e for e in entries if e.kind is kind and e.offset >= applied.offset
                  and e.detail.get(state) == "firing"
                  and (alertname is None or e.detail.get("alertname") == alertname)), None)
    return None if fired is None else fired.offset - applied.offset
