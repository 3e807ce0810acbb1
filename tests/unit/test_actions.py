"""actions: cmctl renew's condition semantics and its status-subresource write."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kubernetes import client
from kubernetes.client.rest import ApiException

import cm_objects as cm
from harness.chaos import actions
from harness.errors import HarnessError
from harness.observe import resources

conditions_lists = st.lists(
    st.builds(cm.condition, st.sampled_from(["Ready", "Issuing", "Other"]),
              st.sampled_from(["True", "False", "Unknown"]), st.text(max_size=5)),
    max_size=4, unique_by=lambda c: c["type"])


@given(existing=conditions_lists, status=st.sampled_from(["True", "False"]), generation=st.integers(1, 9))
def test_set_condition_matches_cert_managers_semantics(existing, status, generation):
    crt = {"metadata": {"generation": generation}, "status": {"conditions": copy.deepcopy(existing)}}
    actions.set_certificate_condition(crt, "Issuing", status, "ManuallyTriggered", "m", now="NOW")

    after = crt["status"]["conditions"]
    issuing = [c for c in after if c["type"] == "Issuing"]
    assert len(issuing) == 1
    assert issuing[0] | {"lastTransitionTime": None} == {
        "type": "Issuing", "status": status, "reason": "ManuallyTriggered", "message": "m",
        "observedGeneration": generation, "lastTransitionTime": None}
    before = next((c for c in existing if c["type"] == "Issuing"), None)
    kept = before is not None and before["status"] == status
    assert issuing[0]["lastTransitionTime"] == (before["lastTransitionTime"] if kept else "NOW")
    assert [c for c in after if c["type"] != "Issuing"] == [c for c in existing if c["type"] != "Issuing"]
    assert [c["type"] for c in after][: len(existing)] == [c["type"] for c in existing]


class FakeStatusApi:
    """CustomObjectsApi stand-in: serves one Certificate and fails the first `conflicts` status updates."""

    def __init__(self, conflicts: int):
        self.conflicts, self.updates = conflicts, []

    def __call__(self, api):
        return self

    def get_namespaced_custom_object(self, group, version, namespace, plural, name):
        return cm.recorded("certificate")

    def replace_namespaced_custom_object_status(self, group, version, namespace, plural, name, body):
        self.updates.append((group, version, namespace, plural, name, body))
        if len(self.updates) <= self.conflicts:
            raise ApiException(status=409, reason="Conflict")
        return body


def test_trigger_renewal_sets_issuing_through_the_status_subresource(monkeypatch):
    fake = FakeStatusApi(conflicts=1)
    monkeypatch.setattr(client, "CustomObjectsApi", fake)

    updated = actions.trigger_renewal(None, cm.NAMESPACE, "web")

    assert len(fake.updates) == 2
    assert fake.updates[-1][:5] == ("cert-manager.io", "v1", cm.NAMESPACE, "certificates", "web")
    issuing = resources.condition(updated, "Issuing")
    assert (issuing["status"], issuing["reason"], issuing["message"], issuing["observedGeneration"]) == (
        "True", "ManuallyTriggered", "Certificate re-issuance manually triggered", 1)
    assert resources.condition(updated, "Ready")["status"] == "True"


def test_trigger_renewal_names_the_certificate_when_conflicts_persist(monkeypatch):
    monkeypatch.setattr(client, "CustomObjectsApi", FakeStatusApi(conflicts=99))
    with pytest.raises(HarnessError, match=f"failed to trigger issuance of Certificate {cm.NAMESPACE}/web: 409"):
        actions.trigger_renewal(None, cm.NAMESPACE, "web")
