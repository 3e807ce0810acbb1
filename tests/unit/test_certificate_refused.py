"""A Certificate denied by cert-manager's webhook is a deviation of cert-manager (an AssertionError) and still an
ApiException for the admission probes; a webhook that cannot be called stays a plain ApiException. admission_of
(one dry-run create's answer) tells the webhook's denial (406) from the CRD schema's refusal (422)."""

from __future__ import annotations

import pytest
from kubernetes import client

from harness.chaos import certificates
from harness.chaos.scenario import status_for
from harness.report.journal import Status

DENIAL = ('{"message":"admission webhook \\"webhook.cert-manager.io\\" denied the request: spec: Invalid value: '
          '\\"\\": at least one of commonName, dnsNames, uris ipAddresses, or emailAddresses must be set"}')
UNREACHABLE = '{"message":"Internal error occurred: failed calling webhook \\"webhook.cert-manager.io\\": connection refused"}'


def refusing(body: str, status: int):
    def create(self, *args, **kwargs):
        error = client.ApiException(status=status, reason="x")
        error.body = body
        raise error
    return create


def test_a_webhook_denial_deviates_and_is_still_caught_as_an_api_exception(monkeypatch):
    monkeypatch.setattr(client.CustomObjectsApi, "create_namespaced_custom_object", refusing(DENIAL, 406))
    body = certificates.certificate("web", {"name": "ca"}, ["web.example"])
    with pytest.raises(certificates.CertificateRefused) as raised:
        certificates.create_certificate(None, "ns", body)
    assert status_for(raised.value) is Status.DEVIATED and raised.value.status == 406
    assert "denied Certificate ns/web" in str(raised.value) and "at least one of commonName" in str(raised.value)
    with pytest.raises(client.ApiException):  # what the admission probes catch
        certificates.create_certificate(None, "ns", body, dry_run=True)


def test_a_webhook_that_cannot_be_called_is_not_a_denial(monkeypatch):
    monkeypatch.setattr(client.CustomObjectsApi, "create_namespaced_custom_object", refusing(UNREACHABLE, 500))
    with pytest.raises(client.ApiException) as raised:
        certificates.create_certificate(None, "ns", certificates.certificate("web", {"name": "ca"}, ["w.example"]))
    assert not isinstance(raised.value, AssertionError)


def test_admission_of_tells_the_webhooks_denial_from_the_schemas_and_raises_on_a_server_error(monkeypatch):
    from harness.chaos.admission import admission_of

    body = certificates.certificate("web", {"name": "ca"}, ["web.example"])
    calls = []
    monkeypatch.setattr(client.CustomObjectsApi, "create_namespaced_custom_object",
                        lambda self, *args, **kwargs: calls.append(kwargs["dry_run"]))
    assert admission_of(None, "ns", body).status is None and calls == ["All"]  # admitted, and only a dry run
    monkeypatch.setattr(client.CustomObjectsApi, "create_namespaced_custom_object", refusing(DENIAL, 406))
    denied = admission_of(None, "ns", body)
    assert denied.denied_by_webhook and not denied.refused_by_schema and "at least one of commonName" in denied.message
    schema = '{"message":"Certificate.cert-manager.io \\"web\\" is invalid: spec.usages[0]: Unsupported value"}'
    monkeypatch.setattr(client.CustomObjectsApi, "create_namespaced_custom_object", refusing(schema, 422))
    refused = admission_of(None, "ns", body)
    assert refused.refused_by_schema and not refused.denied_by_webhook and "spec.usages[0]" in refused.message
    monkeypatch.setattr(client.CustomObjectsApi, "create_namespaced_custom_object", refusing(UNREACHABLE, 500))
    with pytest.raises(client.ApiException):
        admission_of(None, "ns", body)


def test_the_webhook_denying_the_labs_valid_issuer_deviates(monkeypatch):
    from harness.lab import issuers
    monkeypatch.setattr(client.CustomObjectsApi, "create_namespaced_custom_object", refusing(DENIAL, 406))
    with pytest.raises(certificates.CertificateRefused) as raised:
        issuers._create(None, "ns", "issuers", {"kind": "Issuer", "metadata": {"name": "pebble"}})
    assert status_for(raised.value) is Status.DEVIATED and "denied Issuer ns/pebble" in str(raised.value)
    monkeypatch.setattr(client.CustomObjectsApi, "create_cluster_custom_object",
                        lambda self, *args, **kwargs: refusing(UNREACHABLE, 500)(self))
    with pytest.raises(client.ApiException) as raised:
        issuers._create(None, None, "clusterissuers", {"kind": "ClusterIssuer", "metadata": {"name": "platform"}})
    assert not isinstance(raised.value, AssertionError)  # a webhook that cannot be called is no denial
