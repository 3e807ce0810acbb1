"""resources: describe formatting, relations and summaries."""

from __future__ import annotations

import copy

import pytest
from kubernetes import client

import cm_objects as cm
from harness.observe import resources
from harness.errors import HarnessError
from harness.stack.ports import free_port


def acme_issuance(cluster_reason="DNS update failed. Server replied: REFUSED"):
    """A Certificate on its second revision: request 1 issued, request 2 stuck on a refused DNS update."""
    crt = cm.recorded("certificate")
    crt["status"]["conditions"].append(cm.condition("Issuing", "True", "ManuallyTriggered", "re-issuance", 1))
    first = cm.certificate_request(crt, 1, [cm.condition("Ready", "True", "Issued", "ok")], "2026-11-28T04:00:00Z")
    second = cm.certificate_request(crt, 2, [cm.condition("Ready", "False", "Pending", "waiting on order")],
                                    "2026-11-28T04:05:00Z")
    first_order = cm.order(first, "valid")
    second_order = cm.order(second, "pending")
    refused = cm.challenge(second_order, reason=cluster_reason)
    return crt, [first, second], [first_order, second_order], [refused]


def test_describe_nests_challenges_under_orders_under_their_request():
    crt, requests, orders, challenges = acme_issuance()
    found = resources.Related(cm.NAMESPACE, "web", crt, requests, orders, challenges, cm.recorded("events"))
    text = resources.format_description(found)
    lines = text.splitlines()

    assert lines[0] == (f"Certificate {cm.NAMESPACE}/web (generation 1): secretName=web-tls issuer=Issuer/ss "
                        "names=web.example.test")
    assert "  Ready=True Ready: Certificate is up to date and has not expired" in text
    assert "  Issuing=True ManuallyTriggered: re-issuance" in text
    assert "  revision=1 notBefore=2026-11-28T03:56:32Z notAfter=2027-02-26T03:56:32Z" in text
    second = lines.index(next(line for line in lines if line.startswith("CertificateRequest web-r2 (revision 2")))
    assert lines[second + 1].startswith("  Ready=False Pending: waiting on order")
    assert lines[second + 2] == f"  Order {orders[1]['metadata']['name']}: state=pending"
    assert lines[second + 3].startswith(f"    Challenge {challenges[0]['metadata']['name']}: DNS-01 web.example.test "
                                        "state=pending presented=False processing=True "
                                        "reason=DNS update failed. Server replied: REFUSED")
    first = lines.index(next(line for line in lines if line.startswith("CertificateRequest web-r1 (revision 1")))
    assert f"  Order {orders[0]['metadata']['name']}: state=valid" in lines[first:second]


def test_describe_shows_only_the_newest_events():
    events = []
    for second in range(resources.DESCRIBE_EVENTS + 5):
        event = copy.deepcopy(cm.recorded("events")[0])
        event["lastTimestamp"] = f"2026-11-28T04:00:{second:02d}Z"
        event["message"] = f"attempt {second}"
        events.append(event)
    text = resources.format_description(resources.Related(cm.NAMESPACE, "web", None, events=events))

    assert text.startswith(f"Certificate {cm.NAMESPACE}/web: not found")
    assert f"Events (newest {resources.DESCRIBE_EVENTS} of {len(events)}):" in text
    assert "attempt 4\n" not in text + "\n" and "attempt 5" in text and text.endswith(f"attempt {len(events) - 1}")


def test_describe_shortens_long_messages_and_counts_repeats():
    event = cm.recorded("events")[5]
    event["message"], event["count"] = "x" * 5000, 7
    text = resources.format_description(resources.Related(cm.NAMESPACE, "web", None, events=[event]))
    assert len(text) < 1000 and text.endswith("… (x7)")


def test_related_gathers_by_owner_and_annotation(monkeypatch):
    crt, requests, orders, challenges = acme_issuance()
    stranger = cm.certificate_request(cm.recorded("certificate") | {"metadata": cm.meta("other")}, 1)
    other_order = cm.order(stranger)
    events = cm.recorded("events") + [dict(cm.recorded("events")[0], involvedObject={"kind": "Certificate",
                                                                                    "name": "other"})]
    recorded_request = cm.recorded("certificaterequest")  # the one the recorded events are about
    cm.FakeCluster(crt, recorded_request, *requests, stranger, *orders, other_order, *challenges,
                   *({"kind": "Event", **e, "metadata": dict(e["metadata"], name=f"e{i}")}
                     for i, e in enumerate(events))).install(monkeypatch)

    found = resources.related(None, cm.NAMESPACE, "web", events=True)

    assert [r["metadata"]["name"] for r in found.requests] == ["web-72826", "web-r1", "web-r2"]
    assert found.orders == orders and found.challenges == challenges
    assert found.latest_challenges() == challenges
    assert len(found.events) == len(cm.recorded("events"))


def test_describe_of_an_unreachable_api_says_so_instead_of_raising():
    configuration = client.Configuration()
    configuration.host = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    configuration.retries = False
    text = resources.describe_certificate(client.ApiClient(configuration), "ns", "web")
    assert text.startswith("Certificate ns/web: describe failed: ") and "Connection refused" in text


def test_summary_of_each_kind_is_compact_and_json_shaped():
    crt, requests, orders, challenges = acme_issuance()
    assert resources.summary(resources.CERTIFICATE, crt) == {
        "conditions": {"Ready": {"status": "True", "reason": "Ready",
                                 "message": "Certificate is up to date and has not expired"},
                       "Issuing": {"status": "True", "reason": "ManuallyTriggered", "message": "re-issuance"}},
        "generation": 1, "revision": 1, "notAfter": "2027-02-26T03:56:32Z", "renewalTime": "2027-01-27T03:56:32Z"}
    assert resources.summary(resources.ORDER, orders[0]) == {"state": "valid", "reason": None}
    assert resources.summary(resources.CHALLENGE, challenges[0]) == {
        "type": "DNS-01", "dnsName": "web.example.test", "state": "pending", "presented": False,
        "reason": "DNS update failed. Server replied: REFUSED"}
    assert resources.summary(resources.EVENT, cm.recorded("events")[-1])["involvedObject"] == "Certificate/web"
    with pytest.raises(HarnessError, match="no summary defined for kind Secret"):
        resources.summary(resources.SECRET, {})
