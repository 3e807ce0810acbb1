"""Lifecycle invariants: what every scenario's certificates must leave behind, checked when it ends.

A scenario's own expectations say what its fault should do; these say what no cert-manager may do in any
scenario, from the end state (harness.observe.endstate) and the journal's timeline. Each invariant is a
pure function (facts, entries) -> violations, named after the promise, its docstring citing the
cert-manager v1.11.5 source it rests on. `lifecycle_condition` polls them until none is violated (cleanup
is asynchronous: a Challenge's record goes a moment after its Order is valid), so a violation is what is
still wrong after the settling time, with the facts that show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

from harness.chaos.actions import renewals_triggered
from harness.observe import endstate
from harness.observe.conditions.controller import controller_log
from harness.observe.resources import epoch
from harness.report.journal import Entry, EntryKind
from harness.stack.timings import DNS01_CHECK_WAIT
from harness.wait import Condition, Seen

FINAL_STATES = frozenset({"valid", "invalid", "errored", "expired"})  # pkg/acme/util.go: IsFinalState
# Reasons the trigger controller re-issues an issued certificate for, and what must have happened first
# (internal/controller/certificates/policies/constants.go). cmctl renew writes ManuallyTriggered itself.
MANUAL, RENEWING, EXPIRED, REQUEST_CHANGED = "ManuallyTriggered", "Renewing", "Expired", "RequestChanged"
# renewalTime is stored to the second and the controller's clock may run a little ahead of the entry's.
RENEWAL_SLACK = 2.0
END_STATE = "end state"  # the journal note holding the last captured facts
# Cleanup follows the end of an issuance within a second or two (a Challenge's final state, its finalizer) when
# a challenges worker is free; but the controller's 5 workers each sleep DNS01_CHECK_WAIT inside a DNS-01 check,
# so beside other scenarios' challenges the cleanup can wait that long for a worker (seen in a kind run: the
# record of a Certificate Ready at +93 s was still there at +124 s). Plus 30 s for a loaded machine and one retry
# of a cleanup a fault had refused (challenge backoff 5 s, 10 s).
SETTLE = DNS01_CHECK_WAIT + 30

Violation = str
Facts = dict[str, Any]


def challenge_records_removed(facts: Facts, entries: list[Entry]) -> list[Violation]:
    """Every _acme-challenge TXT record in the zone is presented by a live Challenge still in progress.
    The challenges controller cleans up (solver.CleanUp) a presented Challenge once it reaches a final state,
    and its finalizer does so before it is deleted (pkg/controller/acmechallenges/sync.go, finalizer.go)."""
    live = {(c["dnsName"], c["key"]) for c in facts["challenges"]
            if c["presented"] and c["state"] not in FINAL_STATES and not c["deleting"]}
    return [f"TXT {r['name']} {r['data']!r} is left in the zone: no Challenge in progress presents it"
            for r in facts["txtRecords"]
            if (r["name"].removeprefix("_acme-challenge.").rstrip("."), r["data"].strip('"')) not in live]


def final_challenges_cleaned_up(facts: Facts, entries: list[Entry]) -> list[Violation]:
    """A Challenge in a final state is no longer presented (sync.go: CleanUp, then presented=false), and an
    Order that is valid with its certificate keeps no Challenge (pkg/controller/acmeorders/sync.go:
    deleteAllChallenges)."""
    found = [f"Challenge {c['name']} is {c['state']} but still presented (never cleaned up)"
             for c in facts["challenges"] if c["state"] in FINAL_STATES and c["presented"]]
    done = {o["name"] for o in facts["orders"] if o["state"] == "valid" and o["hasCertificate"]}
    found += [f"Challenge {c['name']} outlives its Order {c['order']}, valid and completed"
              for c in facts["challenges"] if c["order"] in done and not c["deleting"]]
    return found


def http01_solvers_cleaned_up(facts: Facts, entries: list[Entry]) -> list[Violation]:
    """Every HTTP-01 solver pod, Service and Ingress serves a Challenge still in progress. The challenges
    controller cleans up a Challenge's solver once it is final (pkg/controller/acmechallenges/sync.go: CleanUp),
    and the HTTP-01 solver's CleanUp deletes the pods, Services and Ingresses labelled for it
    (pkg/issuer/acme/http/http.go: cleanupPods, cleanupServices, cleanupIngresses). A journal from before the
    fact existed has none to check."""
    live = {c["name"] for c in facts["challenges"]
            if c["state"] not in FINAL_STATES and not c["deleting"]}
    return [f"solver {s['kind']} {s['name']} is left behind: its Challenge {s['challenge'] or '(none)'} is not "
            f"in progress" for s in facts.get("http01Solvers", [])
            if not s["deleting"] and s["challenge"] not in live]


def _ready(crt: Facts) -> bool:
    return (crt["conditions"].get("Ready") or {}).get("status") == "True"


def ready_secret_matches(facts: Facts, entries: list[Entry]) -> list[Violation]:
    """A Ready Certificate's Secret holds a currently valid certificate for exactly its DNS names, signed
    through a chain to its issuer, with the matching private key; status.notAfter is the certificate's.
    The readiness controller sets Ready=True only when no readiness policy fails (SecretDoesNotExist,
    SecretIsMissingData, SecretPublicKeysDiffer, CurrentCertificateRequestNotValidForSpec,
    CurrentCertificateHasExpired: internal/controller/certificates/policies/policies.go)."""
    secrets = {s["name"]: s for s in facts["secrets"]}
    found = []
    for crt in filter(_ready, facts["certificates"]):
        where = f"Certificate {crt['name']} is Ready but its Secret {crt['secretName']}"
        secret = secrets.get(crt["secretName"])
        if secret is None:
            found.append(f"{where} does not exist")
        elif secret.get("error"):
            found.append(f"{where} is unreadable: {secret['error']}")
        else:
            if secret["keyMatches"] is not True:
                found.append(f"{where} holds a private key that does not match its certificate")
            if crt["dnsNames"] and secret["dnsNames"] != crt["dnsNames"]:
                found.append(f"{where} names {secret['dnsNames']}, the spec {crt['dnsNames']}")
            if secret["chainError"]:
                found.append(f"{where} does not verify to its issuer: {secret['chainError']}")
            if crt["notAfter"] and abs(epoch(crt["notAfter"]) - secret["notAfter"]) > 1:
                found.append(f"{where} expires at {secret['notAfter']:.0f}, status.notAfter says {crt['notAfter']}")
    return found


def revision_matches_request(facts: Facts, entries: list[Entry]) -> list[Violation]:
    """A Ready Certificate's status.revision names the CertificateRequest whose certificate its Secret holds:
    the issuing controller copies the Ready request's certificate into the Secret and sets the revision from
    the request's annotation (pkg/controller/certificates/issuing/issuing_controller.go)."""
    secrets = {s["name"]: s for s in facts["secrets"]}
    found = []
    for crt in filter(_ready, facts["certificates"]):
        requests = [r for r in facts["requests"] if r["certificate"] == crt["name"] and r["revision"] == crt["revision"]]
        serial = (secrets.get(crt["secretName"]) or {}).get("serial")
        if not requests:
            found.append(f"Certificate {crt['name']} is at revision {crt['revision']} but no CertificateRequest has it")
        elif serial and all(r["serial"] != serial for r in requests):
            found.append(f"Certificate {crt['name']}'s Secret holds serial {serial}, not what its revision "
                         f"{crt['revision']} request issued ({', '.join(str(r['serial']) for r in requests)})")
    return found


def _certificate_timeline(entries: Iterable[Entry]) -> dict[str, list[Entry]]:
    timeline: dict[str, list[Entry]] = {}
    for entry in entries:
        if entry.kind is EntryKind.RESOURCE_CONDITION and entry.subject.startswith("Certificate "):
            timeline.setdefault(entry.subject.rsplit("/", 1)[-1], []).append(entry)
    return timeline


@dataclass(frozen=True)
class IssuanceStart:
    """A Certificate's Issuing condition turning True in the timeline, with what was known just before."""

    entry: Entry
    reason: str | None
    message: str | None
    revision: int | None  # the last issued revision (None: never issued)
    renewal_time: str | None  # status.renewalTime then
    generation_changed: bool  # the spec's generation differs from the one its last revision was issued for
    issued_at: float | None = None  # when the timeline first showed that revision (journal seconds)


def issuance_starts(entries: Iterable[Entry], name: str | None = None) -> list[IssuanceStart]:
    """Every start of an issuance the timeline recorded (of Certificate `name`, or of each), oldest first."""
    starts = []
    for certificate, timeline in _certificate_timeline(entries).items():
        if name is not None and certificate != name:
            continue
        issued = renewal = generation = issued_at = None
        issuing = False
        for entry in timeline:
            condition = (entry.detail.get("conditions") or {}).get("Issuing") or {}
            now_issuing = condition.get("status") == "True"
            if now_issuing and not issuing:
                starts.append(IssuanceStart(entry, condition.get("reason"), condition.get("message"), issued,
                                            renewal, entry.detail.get("generation") != generation, issued_at))
            issuing = now_issuing
            if entry.detail.get("revision") is not None and entry.detail["revision"] != issued:
                issued, generation, issued_at = entry.detail["revision"], entry.detail.get("generation"), entry.at
            renewal = entry.detail.get("renewalTime", renewal)
    return starts


def _manual_cause(start: IssuanceStart, triggers: list[float], since: float) -> bool:
    """A trigger of the harness's own (facts' manualTriggers) between the previous start and this one: the
    reason alone is cert-manager's word, and a controller renewing early could give ManuallyTriggered."""
    return start.reason == MANUAL and any(since < at <= start.entry.at for at in triggers)


def reissued_only_with_cause(facts: Facts, entries: list[Entry]) -> list[Violation]:
    """An issued Certificate is issued again only for a cause the timeline shows: a manual renewal the
    harness made (actions.trigger_renewal, as `cmctl renew`), its renewalTime reached (Renewing/Expired), or a
    changed spec (RequestChanged). The trigger controller sets Issuing=True only when a trigger policy fails
    (policies.go: NewTriggerPolicyChain); with the Secret untouched, as in every scenario, the others cannot
    fail for a correct controller."""
    found, previous = [], {}
    for start in issuance_starts(entries):
        name = start.entry.subject.rsplit("/", 1)[-1]
        since, previous[name] = previous.get(name, float("-inf")), start.entry.at
        if start.revision is None:
            continue  # the first issuance and its retries
        due = start.renewal_time is not None and start.entry.at + RENEWAL_SLACK >= epoch(start.renewal_time)
        manual = _manual_cause(start, facts.get("manualTriggers", {}).get(name, []), since)
        if not (manual or (start.reason in (RENEWING, EXPIRED) and due)
                or (start.reason == REQUEST_CHANGED and start.generation_changed)):
            found.append(f"{start.entry.subject} was issued again at +{start.entry.offset:.1f}s for "
                         f"{start.reason!r} ({start.message!r}) with no such cause (renewalTime "
                         f"{start.renewal_time}, spec generation {'changed' if start.generation_changed else 'unchanged'}"
                         f" since revision {start.revision}, which the timeline showed "
                         f"{start.entry.at - start.issued_at:.1f}s before)")
    return found


def controller_did_not_panic(facts: Facts, entries: list[Entry]) -> list[Violation]:
    """cert-manager's controller logged no panic while the scenario ran (a panic in a worker is recovered by
    apimachinery's HandleCrash and logged; one outside kills the process). The log is the lab's: a panic
    while scenarios run side by side fails each of them, since any could have caused it."""
    return [f"controller panicked: {line}" for line in facts["controllerPanics"]]


INVARIANTS: tuple[Callable[[Facts, list[Entry]], list[Violation]], ...] = (
    challenge_records_removed, final_challenges_cleaned_up, http01_solvers_cleaned_up, ready_secret_matches,
    revision_matches_request, reissued_only_with_cause, controller_did_not_panic,
)


# The promises that hold at every moment, also while a fault is applied: what a Ready Certificate's Secret holds,
# why it was issued, no panic. Cleanup (the two challenge invariants) may wait for a fault's end: a webhook that is
# down rejects the Challenge's own updates, so those are judged once every fault is reverted.
AT_EVERY_STEP: tuple[Callable[[Facts, list[Entry]], list[Violation]], ...] = (
    ready_secret_matches, revision_matches_request, reissued_only_with_cause, controller_did_not_panic,
)


def violations(facts: Facts, entries: list[Entry], checks=INVARIANTS) -> dict[str, list[Violation]]:
    """Every invariant's violations (of `checks`, all by default), by name; empty when the end state keeps every
    promise."""
    found = {check.__name__: check(facts, entries) for check in checks}
    return {name: listed for name, listed in found.items() if listed}


def end_state_of(entries: list[Entry]) -> Facts | None:
    """The last end-state facts a journal recorded (None before the lifecycle check ran)."""
    notes = [e for e in entries if e.kind is EntryKind.NOTE and e.subject == END_STATE]
    return notes[-1].detail if notes else None


def lifecycle_condition(capture: Callable[[], Facts], entries: Callable[[], list[Entry]],
                        last: dict | None = None, checks=INVARIANTS) -> Condition:
    """Holds when the captured end state violates no invariant (of `checks`); shows the violations. The last
    facts seen are kept in `last["facts"]` for the journal."""
    def condition() -> Seen:
        facts = capture()
        if last is not None:
            last["facts"] = facts
        found = violations(facts, entries(), checks)
        return Seen(not found, found or f"{len(checks)} invariants hold")
    return condition


class LifecycleCheck:
    """The invariants of one scenario's namespace, made at its start (where the controller log stood) and
    called at its end through Scenario.add_end_check; the end state it last saw goes into the journal."""

    def __init__(self, scenario, lab, namespace: str):
        self.scenario, self.lab, self.namespace = scenario, lab, namespace
        self.zone = f"{namespace}.{lab.info.zone.rstrip('.')}."
        self.log = controller_log(lab.info.kubeconfig)
        self.offset = endstate.log_size(self.log)

    def _logged_names(self) -> list[str]:
        return sorted({e.detail["name"] for e in self.scenario.journal.entries
                       if e.kind is EntryKind.DNS_LOG and e.detail.get("name")})

    def capture(self) -> Facts:
        facts = endstate.capture(self.lab.kube, self.lab.dns, self.namespace, self.zone,
                                 acme_roots=self.lab.pebble.roots().encode(), controller_log=self.log,
                                 log_offset=self.offset, logged_names=self._logged_names())
        return {**facts, "manualTriggers": renewals_triggered(self.namespace)}

    def __call__(self) -> None:
        last: dict = {}
        try:
            self.scenario.verify(lifecycle_condition(self.capture, lambda: list(self.scenario.journal.entries), last),
                                 subject=f"lifecycle of {self.namespace}",
                                 expected="to leave no challenge record or presented Challenge behind, every Ready "
                                          "Secret valid and matching its revision, no re-issue without a cause, no "
                                          "controller panic", within=SETTLE)
        finally:
            if "facts" in last:
                self.scenario.note(END_STATE, **last["facts"])
