"""cert-manager v1.11.5's own Route 53 solver, unchanged, against the lab's AWS API on the local provider.

Spec: an ACME Issuer whose DNS-01 solver is route53 with static keys from a Secret issues end to end; so does one
that assumes a role through STS. The API's side shows what the solver did: ListHostedZonesByName, an UPSERT
signed by the user's key (or the role's session), GetChange until INSYNC, and the DELETE at clean-up; the
record the API accepted is what the fake DNS served, and it is gone from both afterwards.
"""

from __future__ import annotations

import secrets
import time

import pytest
from kubernetes import client

from harness.chaos.certificates import certificate, create_certificate
from harness.lab.issuers import make_route53_issuer
from harness.lab.lab import Lab, LabClient
from harness.observe.conditions.certificates import certificate_done_issuing
from harness.stack.timings import ISSUANCE
from harness.wait import Seen, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lab():
    with Lab() as running:
        lab_client = LabClient(running.info)
        yield lab_client
        lab_client.close()


@pytest.fixture
def namespace(lab, request):
    name = f"r53-{request.node.callspec.id}-{secrets.token_hex(2)}"
    client.CoreV1Api(lab.kube).create_namespace({"metadata": {"name": name}})
    yield name
    client.CoreV1Api(lab.kube).delete_namespace(name)


@pytest.mark.parametrize("assume_role", [False, True], ids=["static-keys", "assumed-role"])
def test_the_route53_solver_issues_and_the_api_shows_what_it_did(lab, namespace, assume_role):
    since = time.time()
    issuer = make_route53_issuer(lab, namespace, assume_role=assume_role)
    try:
        create_certificate(lab.kube, namespace, certificate("web", issuer.ref, [issuer.dns_name("web")]))
        wait_for(certificate_done_issuing(lab.kube, namespace, "web"), subject=f"Certificate {namespace}/web",
                 expected="issued through the Route 53 solver", timeout=ISSUANCE)
        name = f"_acme-challenge.{issuer.dns_name('web')}."

        def cleaned_up():
            journal = lab.aws_front.journal(since, zone=issuer.zone_id)
            return [(a["action"], a["status"], a["detail"]) for a in journal], lab.dns.records(name, "TXT")

        # The DELETE follows the Challenge's deletion, after the certificate: poll for it.
        wait_for(lambda: Seen(len([a for a in cleaned_up()[0] if a[0] == "ChangeResourceRecordSets"]) >= 2
                              and not cleaned_up()[1], cleaned_up()),
                 subject=f"hosted zone {issuer.zone_id}", expected="the UPSERT and the DELETE", timeout=60)
        answers = lab.aws_front.journal(since, zone=issuer.zone_id)
        changes = [a for a in answers if a["action"] == "ChangeResourceRecordSets"]
        # An UPSERT (again when the Challenge synced once more before its presented state was stored: the solver's
        # Present is idempotent, the same value written twice; seen once in CI) and the DELETE, each accepted.
        assert len(changes) >= 2 and all(a["status"] == 200 for a in changes), answers
        assert any(a["action"] == "GetChange" and a["detail"] == "INSYNC" for a in answers), answers
        principals = {a["principal"] for a in changes}
        if assume_role:
            assert principals and issuer.access_key_id not in principals  # the role's session signs
            sts = [a for a in lab.aws_front.journal(since) if a["action"] == "AssumeRole"
                   and a["principal"] == issuer.access_key_id]
            assert sts and all(a["status"] == 200 for a in sts), sts
        else:
            assert principals == {issuer.access_key_id}
        assert lab.aws.zone_values(issuer.zone_id, name, "TXT")[0] == []
    finally:
        issuer.proxy.delete()
