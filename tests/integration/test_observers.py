"""The observers against a real API server and cert-manager: conditions, renewal by cmctl's method, the
Secret's and the metrics' view of it, and the recorder's timeline of the same."""

from __future__ import annotations

import pytest
from kubernetes import client

from harness.chaos import actions
from harness.observe import resources, tlsinspect
from harness.observe.conditions import certificates, general, metrics as metric_conditions
from harness.observe.resources import CERTIFICATE
from harness.wait import Seen, wait_for
from harness.observe.watch import EVENT_SEEN, RESOURCE_CHANGE, ResourceRecorder

pytestmark = pytest.mark.integration

# Self-signed issuance takes well under a second on an idle machine; 60 s covers a loaded 2-core CI box.
ISSUE_TIMEOUT = 60
# The metrics controller re-reads Certificates on its own resync; seconds in practice, 60 s to be safe.
METRICS_TIMEOUT = 60


def apply(kube, namespace, plural, kind, name, spec):
    client.CustomObjectsApi(kube).create_namespaced_custom_object(
        CERTIFICATE.group, CERTIFICATE.version, namespace, plural,
        {"apiVersion": CERTIFICATE.api_version, "kind": kind, "metadata": {"name": name}, "spec": spec})


def entries_of(entries, kind, subject):
    return [detail for entry_kind, entry_subject, detail in entries if (entry_kind, entry_subject) == (kind, subject)]


def test_renewal_is_seen_by_conditions_secret_metrics_and_recorder(stack, kube, namespace):
    entries = []
    subject = f"Certificate {namespace}/web"
    with ResourceRecorder(kube, namespace, lambda *entry: entries.append(entry)) as recorder:
        assert recorder.wait_synced(10), "the recorder's first listings did not finish within 10 s"
        apply(kube, namespace, "issuers", "Issuer", "selfsigned", {"selfSigned": {}})
        apply(kube, namespace, "certificates", "Certificate", "web",
              {"secretName": "web-tls", "dnsNames": ["web.certchaos.test"], "issuerRef": {"name": "selfsigned"}})

        ready = wait_for(certificates.certificate_done_issuing(kube, namespace, "web"), subject=subject,
                         expected="Ready=True and done issuing", timeout=ISSUE_TIMEOUT)
        assert ready["revision"] == 1
        first = tlsinspect.inspect_secret(resources.get(kube, resources.SECRET, namespace, "web-tls"))
        assert (first.key_matches, first.verified, first.leaf.dns_names) == (True, True, ("web.certchaos.test",))
        wait_for(metric_conditions.certificate_ready_metric(stack.metrics_url, namespace, "web"),
                 subject=f"{subject} ready metric", expected="condition=True at 1", timeout=METRICS_TIMEOUT)

        actions.trigger_renewal(kube, namespace, "web")
        wait_for(general.all_of(certificates.certificate_done_issuing(kube, namespace, "web"),
                                   certificates.certificate_status_field(kube, namespace, "web", "revision", at_least=2)),
                 subject=subject, expected="Ready=True, done issuing, at revision 2", timeout=ISSUE_TIMEOUT)
        renewed = wait_for(certificates.secret_serial_changed(kube, namespace, "web-tls", first.serial),
                           subject=f"Secret {namespace}/web-tls", expected=f"a serial other than {first.serial}",
                           timeout=ISSUE_TIMEOUT)
        assert certificates.certificate_request_condition(kube, namespace, "web", "Ready", "True", "Issued",
                                                        revision=2)()
        # The recorder runs on its own threads; give it the time a watch event takes to arrive.
        wait_for(lambda: Seen(any(d.get("revision") == 2 and "revision" in d["changed"]
                                  for d in entries_of(entries, RESOURCE_CHANGE, subject)), len(entries)),
                 subject="recorder", expected="to see revision 2", timeout=10)

    assert not recorder.running and recorder.errors == []
    timeline = entries_of(entries, RESOURCE_CHANGE, subject)
    triggered = next(i for i, d in enumerate(timeline)
                     if d["conditions"].get("Issuing", {}).get("reason") == "ManuallyTriggered")
    revised = next(i for i, d in enumerate(timeline) if d.get("revision") == 2)
    assert triggered < revised
    assert "Issuing" not in timeline[-1]["conditions"] and timeline[-1]["conditions"]["Ready"]["status"] == "True"
    requests = {s for kind, s, d in entries if kind == RESOURCE_CHANGE and s.startswith("CertificateRequest")}
    assert len(requests) == 2
    assert any(d["reason"] == "Issuing" and d["message"] == "The certificate has been successfully issued"
               for d in entries_of(entries, EVENT_SEEN, subject))
    assert renewed["serial"] != first.serial

    described = resources.describe_certificate(kube, namespace, "web")
    assert described.startswith(f"{subject} (generation 1)") and "(revision 2," in described
    assert "ManuallyTriggered" not in described.split("CertificateRequest")[0]  # the trigger was consumed
