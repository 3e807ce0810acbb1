"""The lifecycle invariants against end states and journals that keep, and that break, each promise."""

from __future__ import annotations

import copy

import pytest

from harness.chaos import invariants
from harness.chaos.invariants import END_STATE, violations
from harness.report.journal import Clock, Entry, EntryKind, Journal, ScenarioInfo

NOT_AFTER = 1_900_000_000.0
RENEWAL_AT = 1_800_000_000.0


def iso(epoch: float) -> str:
    import datetime
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def kept() -> dict:
    """An ACME issuance that ended as cert-manager leaves it: Order valid, its Challenge gone, record removed."""
    return {
        "namespace": "ns", "zone": "ns.certchaos.test.",
        "certificates": [{"name": "web", "generation": 1, "secretName": "web", "dnsNames": ["web.ns.certchaos.test"],
                          "conditions": {"Ready": {"status": "True", "reason": "Ready"}}, "revision": 1,
                          "notBefore": iso(NOT_AFTER - 7776000), "notAfter": iso(NOT_AFTER),
                          "renewalTime": iso(RENEWAL_AT)}],
        "requests": [{"name": "web-1", "certificate": "web", "revision": 1,
                      "conditions": {"Ready": {"status": "True", "reason": "Issued"}}, "serial": "abc"}],
        "orders": [{"name": "web-1-1", "request": "web-1", "state": "valid", "hasCertificate": True}],
        "challenges": [],
        "secrets": [{"name": "web", "certificateName": "web", "serial": "abc", "dnsNames": ["web.ns.certchaos.test"],
                     "notBefore": NOT_AFTER - 7776000, "notAfter": NOT_AFTER, "keyMatches": True, "chainError": None,
                     "chainVerified": True}],
        "txtRecords": [], "controllerPanics": [],
    }


def challenge(**changes) -> dict:
    return {"name": "web-1-1-0", "order": "web-1-1", "type": "DNS-01", "dnsName": "web.ns.certchaos.test",
            "key": "k3y", "state": "pending", "processing": True, "presented": True, "deleting": False, **changes}


def certificate_entry(at: float, *, issuing: str | None = None, reason: str = "", revision: int | None = None,
                      generation: int = 1, renewal: float | None = None) -> Entry:
    conditions = {"Ready": {"status": "True", "reason": "Ready"}}
    if issuing:
        conditions["Issuing"] = {"status": issuing, "reason": reason, "message": reason}
    detail = {"conditions": conditions, "generation": generation}
    if revision is not None:
        detail["revision"] = revision
    if renewal is not None:
        detail["renewalTime"] = iso(renewal)
    return Entry(at, at - 1000, EntryKind.RESOURCE_CONDITION, "Certificate ns/web", detail)


def issued_once(renewal: float = RENEWAL_AT) -> list[Entry]:
    return [certificate_entry(1000, issuing="True", reason="DoesNotExist"),
            certificate_entry(1065, revision=1, renewal=renewal)]


def broken(facts: dict) -> dict[str, list[str]]:
    return violations(facts, issued_once())


def test_an_end_state_that_keeps_every_promise_has_no_violation():
    assert violations(kept(), issued_once()) == {}


def test_a_challenge_record_nobody_presents_any_more_is_a_violation():
    facts = kept()
    facts["txtRecords"] = [{"name": "_acme-challenge.web.ns.certchaos.test.", "data": '"k3y"'}]
    assert list(broken(facts)) == ["challenge_records_removed"]
    facts["challenges"] = [challenge()]  # an issuance still in progress presents it: fine
    facts["orders"][0].update(state="pending", hasCertificate=False)
    assert broken(facts) == {}


def test_a_record_whose_challenge_reached_a_final_state_is_a_violation():
    facts = kept()
    facts["orders"][0].update(state="invalid", hasCertificate=False)
    facts["challenges"] = [challenge(state="invalid")]
    facts["txtRecords"] = [{"name": "_acme-challenge.web.ns.certchaos.test.", "data": "k3y"}]
    found = broken(facts)
    assert set(found) == {"challenge_records_removed", "final_challenges_cleaned_up"}
    assert "still presented" in found["final_challenges_cleaned_up"][0]


def test_a_challenge_outliving_its_completed_order_is_a_violation():
    facts = kept()
    facts["challenges"] = [challenge(state="valid", presented=False, processing=False)]
    assert "outlives its Order" in broken(facts)["final_challenges_cleaned_up"][0]
    facts["challenges"][0]["deleting"] = True  # on its way out (finalizer): fine
    assert broken(facts) == {}


def solver(kind: str, **changes) -> dict:
    return {"kind": kind, "name": f"cm-acme-http-solver-{kind.lower()}", "challenge": "web-1-1-0",
            "deleting": False, **changes}


@pytest.mark.parametrize("kind", ["Pod", "Service", "Ingress"])
def test_a_solver_left_after_its_challenge_ended_is_a_violation_and_one_being_deleted_is_not(kind):
    facts = kept()
    facts["http01Solvers"] = [solver(kind)]  # its Challenge is gone: the Order is valid
    assert f"solver {kind} cm-acme-http-solver-{kind.lower()} is left behind" in \
        broken(facts)["http01_solvers_cleaned_up"][0]
    facts["http01Solvers"] = [solver(kind, deleting=True)]
    assert violations(facts, issued_once()) == {}


def test_a_solver_of_a_challenge_in_progress_is_no_violation_but_one_of_a_final_challenge_is():
    facts = kept()
    facts["orders"][0]["state"] = "pending"
    facts["challenges"] = [challenge(type="HTTP-01", presented=True)]
    facts["http01Solvers"] = [solver("Pod", phase="Running"), solver("Ingress")]
    assert "http01_solvers_cleaned_up" not in broken(facts)
    facts["challenges"] = [challenge(type="HTTP-01", state="invalid", presented=False)]
    assert len(broken(facts)["http01_solvers_cleaned_up"]) == 2


def test_an_end_state_from_before_solvers_were_captured_is_judged_without_them():
    facts = kept()
    facts.pop("http01Solvers", None)
    assert violations(facts, issued_once()) == {}


@pytest.mark.parametrize("change, words", [
    ({"keyMatches": False}, "does not match"),
    ({"dnsNames": ["other.example"]}, "names ['other.example']"),
    ({"chainError": "no CA in the chain or the roots signed CN=web"}, "does not verify"),
    ({"notAfter": NOT_AFTER + 3600}, "status.notAfter says"),
    ({"error": "Secret ns/web: has no tls.crt"}, "unreadable"),
])
def test_a_ready_certificate_with_a_wrong_secret_is_a_violation(change, words):
    facts = kept()
    facts["secrets"][0].update(change)
    found = broken(facts)["ready_secret_matches"]
    assert len(found) == 1 and words in found[0]


def test_a_ready_certificate_without_its_secret_is_a_violation_but_a_failed_one_is_not_judged():
    facts = kept()
    facts["secrets"] = []
    assert "does not exist" in broken(facts)["ready_secret_matches"][0]
    facts["certificates"][0]["conditions"]["Ready"] = {"status": "False", "reason": "DoesNotExist"}
    assert broken(facts) == {}


def test_a_secret_not_holding_what_the_revision_issued_is_a_violation():
    facts = kept()
    facts["secrets"][0]["serial"] = "def"
    assert "not what its revision 1 request issued" in broken(facts)["revision_matches_request"][0]
    facts = kept()
    facts["certificates"][0]["revision"] = 2
    assert "no CertificateRequest has it" in broken(facts)["revision_matches_request"][0]


def test_a_renewal_before_the_renewal_time_is_a_reissue_without_cause():
    early = issued_once() + [certificate_entry(2000, issuing="True", reason="Renewing", revision=1)]
    found = violations(kept(), early)["reissued_only_with_cause"]
    assert len(found) == 1 and "'Renewing'" in found[0]
    assert "revision 1, which the timeline showed 935.0s before" in found[0]  # a cache lag, or not: the evidence
    due = issued_once(renewal=1990) + [certificate_entry(2000, issuing="True", reason="Renewing", revision=1)]
    assert violations(kept(), due) == {}


@pytest.mark.parametrize("reason, generation, ok", [
    ("ManuallyTriggered", 1, True), ("RequestChanged", 2, True), ("RequestChanged", 1, False),
    ("SecretMismatch", 1, False), ("DoesNotExist", 1, False),
])
def test_each_reissue_needs_its_own_cause(reason, generation, ok):
    entries = issued_once() + [certificate_entry(2000, issuing="True", reason=reason, revision=1, generation=generation)]
    assert (violations(triggered(1999), entries) == {}) is ok


def triggered(*times: float) -> dict:
    return {**kept(), "manualTriggers": {"web": list(times)}}


def test_manually_triggered_counts_only_after_a_renewal_the_harness_triggered():
    """cert-manager's reason is its word: an early renewal it labels ManuallyTriggered is still without cause."""
    manual = issued_once() + [certificate_entry(2000, issuing="True", reason="ManuallyTriggered", revision=1)]
    assert "'ManuallyTriggered'" in violations(kept(), manual)["reissued_only_with_cause"][0]
    assert violations(triggered(2001), manual) != {}  # after the start: not its cause
    assert violations(triggered(1990), manual) == {}
    # One trigger is the cause of one issuance: a second ManuallyTriggered start needs a trigger of its own.
    twice = manual + [certificate_entry(2100, issuing="False", reason="Issued", revision=2),
                      certificate_entry(3000, issuing="True", reason="ManuallyTriggered", revision=2)]
    assert len(violations(triggered(1990), twice)["reissued_only_with_cause"]) == 1
    assert violations(triggered(1990, 2500), twice) == {}


def test_the_first_issuance_and_its_retries_are_not_reissues():
    retries = [certificate_entry(1000, issuing="True", reason="DoesNotExist"),
               certificate_entry(1070, issuing="False", reason="Failed"),
               certificate_entry(4700, issuing="True", reason="DoesNotExist"),
               certificate_entry(4765, revision=1, renewal=RENEWAL_AT)]
    assert violations(kept(), retries) == {}


def test_a_controller_panic_is_a_violation():
    facts = kept()
    facts["controllerPanics"] = ["panic: runtime error: invalid memory address or nil pointer dereference"]
    assert "nil pointer" in broken(facts)["controller_did_not_panic"][0]


def test_the_invariants_are_checked_again_from_a_saved_journal(tmp_path):
    """The end state the check saw is in the journal: a report can re-judge a run without the lab."""
    journal = Journal(tmp_path / "journal.json", ScenarioInfo("scenarios/test_x.py::test_y"), clock=Clock())
    facts = kept()
    facts["txtRecords"] = [{"name": "_acme-challenge.web.ns.certchaos.test.", "data": "k3y"}]
    for entry in issued_once():
        journal.record(entry.kind, entry.subject, **entry.detail)
    journal.record(EntryKind.NOTE, END_STATE, **copy.deepcopy(facts))
    journal.finish("passed", None)
    journal.save()
    loaded = Journal.load(tmp_path / "journal.json")
    assert list(violations(invariants.end_state_of(loaded.entries), loaded.entries)) == ["challenge_records_removed"]


def test_the_lifecycle_condition_holds_only_without_violations_and_keeps_the_last_facts():
    states = [kept(), kept()]
    states[0]["controllerPanics"] = ["Observed a panic: boom"]
    last: dict = {}
    condition = invariants.lifecycle_condition(lambda: states.pop(0), lambda: issued_once(), last)
    first = condition()
    assert not first.ok and "controller_did_not_panic" in first.state
    assert condition().ok and last["facts"]["controllerPanics"] == []
