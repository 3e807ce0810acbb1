"""apply_crds retries what an overloaded API server answers (5xx, 429) and refuses our own mistakes (4xx) at once."""

from types import SimpleNamespace

import pytest
from kubernetes.client.exceptions import ApiException

from harness.stack import kube
from harness.wait import Hopeless


class FlakyExtensions:
    """ApiextensionsV1Api that answers the given statuses to the first creates, then accepts."""

    def __init__(self, api, statuses=()):
        self.statuses, self.creates = list(statuses), 0

    def create_custom_resource_definition(self, document):
        self.creates += 1
        if self.statuses:
            raise ApiException(status=self.statuses.pop(0), reason="from the test")

    def read_custom_resource_definition(self, name):
        established = SimpleNamespace(type="Established", status="True")
        return SimpleNamespace(status=SimpleNamespace(conditions=[established]))


def crd(name="certificates.cert-manager.io"):
    return {"metadata": {"name": name}}


def test_a_gateway_timeout_is_tried_again(monkeypatch):
    extensions = FlakyExtensions(None, statuses=[504, 503])
    monkeypatch.setattr(kube.client, "ApiextensionsV1Api", lambda api: extensions)
    assert kube.apply_crds(None, [crd()], timeout=10) == ["certificates.cert-manager.io"]
    assert extensions.creates == 3


def test_an_invalid_crd_is_refused_at_once(monkeypatch):
    extensions = FlakyExtensions(None, statuses=[422])
    monkeypatch.setattr(kube.client, "ApiextensionsV1Api", lambda api: extensions)
    with pytest.raises(Hopeless, match="certificates.cert-manager.io: the API server refused it \\(422"):
        kube.apply_crds(None, [crd()], timeout=10)
    assert extensions.creates == 1
