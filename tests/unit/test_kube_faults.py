"""The Kubernetes API faults against a fake API: what each call moves, and that a revert puts it back."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from kubernetes import client

from harness.chaos.kube_faults import CertificateRequestDeleted, SecretMisplaced


class FakeSecrets:
    """Secrets by (namespace, name), with the API's 404 and 409."""

    def __init__(self, **secrets: dict):
        self.secrets = {tuple(key.split("/")): data for key, data in secrets.items()}

    def read_namespaced_secret(self, name, namespace):
        if (namespace, name) not in self.secrets:
            raise client.ApiException(status=404)
        return SimpleNamespace(data=self.secrets[(namespace, name)])

    def create_namespaced_secret(self, namespace, body):
        key = (namespace, body["metadata"]["name"])
        if key in self.secrets:
            raise client.ApiException(status=409)
        self.secrets[key] = body["data"]

    def delete_namespaced_secret(self, name, namespace):
        if self.secrets.pop((namespace, name), None) is None:
            raise client.ApiException(status=404)


@pytest.fixture
def secrets(monkeypatch):
    fake = FakeSecrets(**{"cert-manager/tsig": {"secret": "c2VjcmV0"}})
    monkeypatch.setattr(client, "CoreV1Api", lambda api: fake)
    return fake


def test_a_misplaced_secret_is_moved_and_moved_back_whole(secrets):
    fault = SecretMisplaced(None, "tsig", where="cert-manager", instead="team-a")
    fault.apply()
    assert secrets.secrets == {("team-a", "tsig"): {"secret": "c2VjcmV0"}}
    fault.revert()
    assert secrets.secrets == {("cert-manager", "tsig"): {"secret": "c2VjcmV0"}}
    assert "c2VjcmV0" not in repr(fault) and "team-a" in fault.describe()


def test_a_misplace_that_failed_before_reading_moves_nothing_back(secrets):
    fault = SecretMisplaced(None, "absent", where="cert-manager", instead="team-a")
    with pytest.raises(client.ApiException):
        fault.apply()
    fault.revert()
    assert secrets.secrets == {("cert-manager", "tsig"): {"secret": "c2VjcmV0"}}


def test_a_certificate_request_deletion_deletes_it_and_its_revert_does_nothing(monkeypatch):
    deleted = []
    fake = SimpleNamespace(delete_namespaced_custom_object=lambda *args: deleted.append(args))
    monkeypatch.setattr(client, "CustomObjectsApi", lambda api: fake)
    fault = CertificateRequestDeleted(None, "team-a", "web-x1")
    fault.apply()
    fault.revert()
    assert deleted == [("cert-manager.io", "v1", "team-a", "certificaterequests", "web-x1")]
