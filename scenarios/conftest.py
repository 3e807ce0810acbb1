"""Scenarios run against the lab: their Kubernetes client is the lab's."""

import pytest
from kubernetes import client


@pytest.fixture(scope="session")
def kube(lab) -> client.ApiClient:
    """The lab's Kubernetes client (overrides the plugin's stack-only one)."""
    return lab.kube


@pytest.fixture(autouse=True)
def _record_timeline(timeline):
    """Every scenario's journal records its namespace, metrics and DNS zone as they change."""
    yield
