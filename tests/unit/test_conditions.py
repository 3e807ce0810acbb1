"""conditions: evaluated on recorded and constructed cert-manager objects (resources.get/list_objects
replaced by an in-memory cluster), each holding exactly when it should and showing what it saw."""

from __future__ import annotations

import pytest
import trustme
from hypothesis import given
from hypothesis import strategies as st

import cm_objects as cm
from harness.observe import resources, tlsinspect
from harness.observe.conditions import acme, certificates, general, kube
from harness.wait import Seen, WaitTimeout, wait_for

NS = cm.NAMESPACE
REFUSED = "DNS update failed. Server replied: REFUSED"


@pytest.fixture
def cluster(monkeypatch) -> cm.FakeCluster:
    return cm.FakeCluster(cm.recorded("certificate"), cm.recorded("certificaterequest")).install(monkeypatch)


def failing_certificate(generation: int = 1, observed: int = 1) -> dict:
    crt = cm.recorded("certificate")
    crt["metadata"]["generation"] = generation
    crt["status"] = {"conditions": [cm.condition("Ready", "False", "Failed", "The certificate request has failed "
                                                 "to complete and will be retried: " + "x" * 1000, observed),
                                    cm.condition("Issuing", "False", "Failed", "failed", observed)],
                     "failedIssuanceAttempts": 2, "lastFailureTime": "2026-11-28T04:01:00Z", "revision": 1}
    return crt


def test_recorded_certificate_is_ready(cluster):
    seen = certificates.certificate_ready(None, NS, "web")()
    assert seen.ok and seen.state == {"Ready": "True", "reason": "Ready",
                                      "message": "Certificate is up to date and has not expired", "revision": 1}


def test_not_ready_with_reason_shows_the_failure_compactly(cluster):
    cluster.put(failing_certificate())
    seen = certificates.certificate_not_ready_with_reason(None, NS, "web", "Failed")()
    assert seen.ok
    assert seen.state["Ready"] == "False" and seen.state["failedIssuanceAttempts"] == 2
    assert len(seen.state["message"]) == resources.MESSAGE_LIMIT
    assert not certificates.certificate_not_ready_with_reason(None, NS, "web", "Pending")()
    assert not certificates.certificate_ready(None, NS, "web")()


def test_done_issuing_waits_for_the_issuing_controller(cluster):
    crt = cm.recorded("certificate")
    crt["status"]["conditions"].append(cm.condition("Issuing", "True", "ManuallyTriggered", "renew", 1))
    crt["status"]["nextPrivateKeySecretName"] = "web-abcde"
    cluster.put(crt)
    assert certificates.certificate_ready(None, NS, "web")()
    seen = certificates.certificate_done_issuing(None, NS, "web")()
    assert not seen.ok and seen.state["Issuing"] == "True" and seen.state["nextPrivateKeySecretName"] == "web-abcde"

    crt["status"]["conditions"][1]["status"] = "False"
    cluster.put(crt)
    assert not certificates.certificate_done_issuing(None, NS, "web")()  # the next key is still pending
    del crt["status"]["nextPrivateKeySecretName"]
    cluster.put(crt)
    assert certificates.certificate_done_issuing(None, NS, "web")().state["Issuing"] == "False"
    assert not certificates.certificate_done_issuing(None, NS, "web", ready="False")()


def test_condition_for_an_older_generation_does_not_count(cluster):
    crt = cm.recorded("certificate")
    crt["metadata"]["generation"] = 2  # spec changed; Ready=True still describes generation 1
    cluster.put(crt)
    seen = certificates.certificate_ready(None, NS, "web")()
    assert not seen.ok and seen.state["stale"] == "observedGeneration 1 < generation 2"


def test_missing_certificate_is_absent_not_an_error(cluster):
    seen = certificates.certificate_ready(None, NS, "nope")()
    assert not seen.ok and seen.state == kube.ABSENT


condition_entries = st.lists(
    st.tuples(st.sampled_from(["Ready", "Issuing"]), st.sampled_from(["True", "False", "Unknown"]),
              st.sampled_from(["Ready", "Failed", "Pending", "ManuallyTriggered"]), st.integers(1, 3)),
    max_size=2, unique_by=lambda entry: entry[0])


@given(entries=condition_entries, generation=st.integers(1, 3), type_=st.sampled_from(["Ready", "Issuing"]),
       status=st.sampled_from(["True", "False"]), reason=st.none() | st.sampled_from(["Failed", "Ready"]))
def test_certificate_condition_holds_exactly_when_a_current_condition_matches(entries, generation, type_, status,
                                                                              reason):
    crt = cm.recorded("certificate")
    crt["metadata"]["generation"] = generation
    crt["status"]["conditions"] = [cm.condition(t, s, r, "m", g) for t, s, r, g in entries]
    store = cm.FakeCluster(crt)
    condition = kube.resource_condition(
        None, resources.CERTIFICATE, NS, "web",
        lambda obj: certificates._condition_holds(obj, type_, status, reason, check_generation=True),
        certificates.certificate_view)
    expected = any(t == type_ and s == status and (reason is None or r == reason) and g >= generation
                   for t, s, r, g in entries)
    original = resources.get
    resources.get = store.get  # hypothesis runs many examples in one test: patch by hand, restore below
    try:
        assert condition().ok == expected
        assert certificates.certificate_condition(None, NS, "web", type_, status, reason)().ok == expected
    finally:
        resources.get = original


def test_status_fields(cluster):
    cluster.put(failing_certificate())
    assert certificates.certificate_status_field(None, NS, "web", "failedIssuanceAttempts", at_least=2)()
    assert not certificates.certificate_status_field(None, NS, "web", "failedIssuanceAttempts", at_least=3)()
    assert certificates.certificate_status_field(None, NS, "web", "lastFailureTime", is_set=True)()
    assert not certificates.certificate_status_field(None, NS, "web", "notAfter", is_set=True)()
    seen = certificates.certificate_status_field(None, NS, "web", "revision", equals=2)()
    assert not seen.ok and seen.state["revision"] == 1 and seen.state["Ready"] == "False"
    with pytest.raises(TypeError, match="exactly one of"):
        certificates.certificate_status_field(None, NS, "web", "revision")
    with pytest.raises(TypeError, match="exactly one of"):
        certificates.certificate_status_field(None, NS, "web", "revision", at_least=1, is_set=True)


def acme_attempt(cluster, order_state="pending", challenge_state="pending", reason=REFUSED):
    """Revision 2 of the recorded Certificate, issued through ACME and stuck on its challenge."""
    crt = cluster.objects["Certificate"]["web"]
    request = cluster.put(cm.certificate_request(crt, 2, [cm.condition("Ready", "False", "Pending", "waiting")],
                                                 "2026-11-28T04:05:00Z"))
    order = cluster.put(cm.order(request, order_state))
    challenge = cluster.put(cm.challenge(order, state=challenge_state, presented=False, reason=reason))
    return request, order, challenge


def test_request_condition_follows_the_newest_revision(cluster):
    assert certificates.certificate_request_condition(None, NS, "web", "Ready", "True", "Issued")()
    request, _, _ = acme_attempt(cluster)
    seen = certificates.certificate_request_condition(None, NS, "web", "Ready", "True")()
    assert not seen.ok and seen.state["request"] == request["metadata"]["name"] and seen.state["revision"] == 2
    assert certificates.certificate_request_condition(None, NS, "web", "Ready", "False", "Pending")()
    assert certificates.certificate_request_condition(None, NS, "web", "Ready", "True", revision=1)()
    missing = certificates.certificate_request_condition(None, NS, "web", revision=7)()
    assert not missing and missing.state == {"request": None, "requests": ["web-72826", request["metadata"]["name"]]}


def test_order_state_of_the_current_attempt(cluster):
    assert acme.order_state(None, NS, "web", "pending")().state == {
        "request": "web-72826", "order": None}  # self-signed: no order at all
    _, order, _ = acme_attempt(cluster, order_state="invalid")
    seen = acme.order_state(None, NS, "web", "invalid")()
    assert seen.ok and seen.state == {"request": "web-r2", "order": order["metadata"]["name"], "state": "invalid",
                                      "reason": None}
    assert not acme.order_state(None, NS, "web", "valid")()
    with pytest.raises(ValueError, match="not an ACME order state"):
        acme.order_state(None, NS, "web", "Ready")


def test_challenge_conditions_see_the_refusal(cluster):
    _, _, challenge = acme_attempt(cluster)
    seen = acme.challenge_reason_contains(None, NS, "web", "server replied: refused")()
    assert seen.ok and seen.state == {"challenges": {challenge["metadata"]["name"]: {
        "type": "DNS-01", "dnsName": "web.example.test", "state": "pending", "presented": False, "reason": REFUSED}}}
    assert acme.challenge_state(None, NS, "web", "pending", dns_name="web.example.test")()
    assert not acme.challenge_state(None, NS, "web", "pending", dns_name="other.example.test")()
    assert not acme.challenge_state(None, NS, "web", "valid")()
    assert acme.challenge_presented(None, NS, "web", presented=False)()
    assert not acme.challenge_reason_contains(None, NS, "web", "NXDOMAIN")()


def test_a_redacted_provider_error_is_read_from_the_challenges_present_error_event(cluster):
    """cert-manager v1.20 on keeps an AWS SDK error out of the Challenge's reason and points at its Events."""
    redacted = ("failed to change Route 53 record set: operation error Route 53: ChangeResourceRecordSets, "
                "<redacted AWS SDK error: http.ResponseError: see events and logs for details>")
    _, _, challenge = acme_attempt(cluster, reason=redacted)
    name = challenge["metadata"]["name"]
    refusal = acme.challenge_reason_contains(None, NS, "web", "api error AccessDenied: User: arn:aws:iam::1:user/u")
    cluster.put({**_event("other", ("Challenge", "elsewhere"), "PresentError"),
                 "message": "Error presenting challenge: api error AccessDenied: User: arn:aws:iam::1:user/u"})
    cluster.put({**_event("started", ("Challenge", name), "Started"), "message": "api error AccessDenied: User: "
                                                                                "arn:aws:iam::1:user/u"})
    assert not refusal()  # on another Challenge, or not a PresentError
    cluster.put({**_event("present", ("Challenge", name), "PresentError"),
                 "message": "Error presenting challenge: ... api error AccessDenied: User: arn:aws:iam::1:user/u is "
                            "not authorized"})
    assert refusal()
    cluster.put({**challenge, "status": {**challenge["status"], "reason": "DNS update failed"}})
    assert not refusal()  # a reason that is not redacted must say it itself


def test_challenges_of_an_older_attempt_do_not_count(cluster):
    acme_attempt(cluster, challenge_state="invalid")
    crt = cluster.objects["Certificate"]["web"]
    cluster.put(cm.certificate_request(crt, 3, [], "2026-11-28T04:10:00Z"))  # retry: no challenge yet
    seen = acme.challenge_state(None, NS, "web", "invalid")()
    assert not seen.ok and seen.state == {"challenges": {}}


def test_present_and_absent(cluster):
    assert kube.resource_present(None, resources.CERTIFICATE, NS, "web")()
    assert not kube.resource_absent(None, resources.CERTIFICATE, NS, "web")()
    cluster.delete("Certificate", "web")
    assert kube.resource_absent(None, resources.CERTIFICATE, NS, "web")().state == kube.ABSENT
    assert not kube.resource_present(None, resources.CERTIFICATE, NS, "web")()


def _event(name: str, involved: tuple[str, str], reason: str) -> dict:
    return {"kind": "Event", "metadata": {"name": name, "namespace": NS}, "type": "Normal", "reason": reason,
            "message": f"{reason} {involved[1]}", "involvedObject": {"kind": involved[0], "name": involved[1]},
            "lastTimestamp": "2026-12-06T02:00:00Z"}


def test_event_on_holds_only_for_that_reason_on_that_object(cluster):
    reloaded = kube.event_on(None, NS, "Deployment", "web", "Reloaded")
    cluster.put(_event("a", ("Deployment", "web"), "ScalingReplicaSet"))
    cluster.put(_event("b", ("Deployment", "bystander"), "Reloaded"))  # another Deployment
    cluster.put(_event("c", ("ReplicaSet", "web"), "Reloaded"))  # another kind of the same name
    seen = reloaded()
    assert not seen.ok and seen.state == {"reasons": ["ScalingReplicaSet"]}
    cluster.put(_event("d", ("Deployment", "web"), "Reloaded"))
    seen = reloaded()
    assert seen.ok and seen.state["matching"] == 1 and seen.state["event"]["involvedObject"] == "Deployment/web"


def test_all_of_shows_every_part(cluster):
    both = general.all_of(certificates.certificate_ready(None, NS, "web"),
                             certificates.certificate_status_field(None, NS, "web", "revision", at_least=2))
    seen = both()
    assert not seen.ok and seen.state[0]["Ready"] == "True" and seen.state[1]["revision"] == 1


def test_secret_serial_changed(cluster):
    ca = trustme.CA()
    first, second = ca.issue_cert("web.example.test"), ca.issue_cert("web.example.test")
    secret = cm.tls_secret(first.cert_chain_pems[0].bytes(), first.private_key_pem.bytes(), ca.cert_pem.bytes(),
                           namespace=NS)
    cluster.put(secret)
    serial = tlsinspect.inspect_secret(secret).serial
    changed = certificates.secret_serial_changed(None, NS, "web-tls", serial.upper())
    assert not changed() and changed().state["serial"] == serial

    cluster.put(cm.tls_secret(second.cert_chain_pems[0].bytes(), second.private_key_pem.bytes(), None, namespace=NS))
    seen = changed()
    assert seen.ok and seen.state["from"] == serial and seen.state["serial"] != serial


def test_a_timeout_says_what_was_last_seen(cluster):
    cluster.put(failing_certificate())
    with pytest.raises(WaitTimeout) as failure:
        wait_for(certificates.certificate_ready(None, NS, "web"), subject=f"Certificate {NS}/web",
                 expected="Ready=True", timeout=0.3, interval=0.1)
    assert str(failure.value).startswith(f"Expected Certificate {NS}/web Ready=True within 0.3s")
    assert "'Ready': 'False', 'reason': 'Failed'" in str(failure.value)


def test_not_flips_whether_a_condition_holds_and_keeps_what_it_saw():
    assert general.not_(lambda: Seen(True, {"serial": "ab"}))() == Seen(False, {"serial": "ab"})
    assert general.not_(lambda: Seen(False, "absent"))() == Seen(True, "absent")


def test_a_lease_unrenewed_by_its_holder_for_the_window_shows_the_leader_is_gone(monkeypatch):
    from harness.observe.conditions import lease

    view = {"holder": "pod-a", "leaseTransitions": 1, "renewTime": "2026-12-05T10:00:00+00:00"}
    monkeypatch.setattr(lease, "lease_view", lambda *args: dict(view))
    renewed = 1796464800.0  # 2026-12-05T10:00:00Z
    condition = lambda now: lease.lease_unrenewed(None, "kube-system", "cm", "pod-a", 20, clock=lambda: now)()
    assert not condition(renewed + 19).ok and condition(renewed + 20).state["unrenewed_for"] == 20.0
    assert condition(renewed + 20).ok
    view["holder"] = "pod-b"  # taken over already: not the silence of the old holder
    assert not condition(renewed + 30).ok


def test_challenges_gone_holds_only_once_no_challenge_is_left(monkeypatch):
    from harness.observe import resources
    from harness.observe.conditions.acme import challenges_gone

    left = [{"metadata": {"name": "web-1-1-0"}, "spec": {"type": "DNS-01", "dnsName": "web.example"},
             "status": {"state": "valid", "presented": True}}]
    monkeypatch.setattr(resources, "list_objects", lambda api, kind, namespace: list(left))
    seen = challenges_gone(None, "ns")()
    assert not seen.ok and seen.state["challenges"]["web-1-1-0"]["presented"] is True
    left.clear()
    assert challenges_gone(None, "ns")().ok
