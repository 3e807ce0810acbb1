"""A namespace's own path to cert-manager's webhook: its own registration (the chart's rules, failurePolicy Fail)
through its own Toxiproxy proxy, so faulting that proxy breaks admission for this namespace only. Used by the
scenarios' `isolated_webhook` fixture and by `certchaos explore`, whose webhook fault must not touch the others."""

from __future__ import annotations

from kubernetes import client

from harness.lab.lab import LabClient
from harness.stack import certmanager
from harness.stack.toxiproxy import Proxy


def isolate_webhook(lab: LabClient, namespace: str) -> Proxy:
    """Register the webhook for `namespace` alone through a new proxy "webhook-<namespace>", which it returns.
    Undo: release_webhook."""
    proxy = lab.proxy_to(f"webhook-{namespace}", lab.info.webhook)
    certmanager.apply_webhook_configurations(lab.kube, certmanager.webhook_configurations(
        # On kind by name (the webhook's certificate names the "ca" anchor, the node's DNS resolves it).
        f"https://{lab.info.proxy_name or proxy.listen[0]}:{proxy.listen[1]}", lab.info.webhook_ca_bundle.encode(),
        only_namespace=namespace))
    client.CoreV1Api(lab.kube).patch_namespace(
        namespace, {"metadata": {"labels": {certmanager.ISOLATION_LABEL: "isolated"}}})
    return proxy


def release_webhook(lab: LabClient, namespace: str, proxy: Proxy) -> None:
    """Delete the namespace's registration and its proxy."""
    certmanager.delete_webhook_configurations(lab.kube, f"{certmanager.WEBHOOK_NAME}-{namespace}")
    proxy.delete()
