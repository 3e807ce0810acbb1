"""A Certificate denied by cert-manager's webhook is a deviation of cert-manager (an AssertionError) and still an
ApiException for the admission probes; a webhook that cannot be called stays a plain ApiException."""

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
