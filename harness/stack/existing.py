"""The "kubeconfig" provider's stack: an existing cluster the user points at, with cert-manager already there.

certchaos installs nothing into it and never deletes it: start() checks that the kubeconfig parses, the API
answers, cert-manager's CRDs are served and its webhook admits a dry-run Issuer; stop() only closes the client.
What it cannot reach there (nodes, the controller's process, a lab network) its Capabilities say.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.config.config_exception import ConfigException

from harness.errors import HarnessError
from harness.stack.kube import api_client, copy_kubeconfig
from harness.stack.protocol import EXISTING
from harness.stack.service import Service, wait_until_interrupted
from harness.wait import Seen, wait_for

CERTIFICATE_CRD = "certificates.cert-manager.io"
PROBE_NAMESPACE = "default"  # every cluster has it; a dry-run creates nothing there
# A reachable API answers /version in milliseconds; a staging cluster over a VPN may take a few seconds.
API_TIMEOUT = 30.0
# cert-manager's webhook answers once it is Running; a cluster the user calls ready should admit at once.
WEBHOOK_TIMEOUT = 30.0
HEALTH_INTERVAL = 5.0  # wait_until_interrupted's /version check: cheap, and nothing here needs it sooner
CERT_MANAGER_SELECTOR = "app.kubernetes.io/instance=cert-manager"  # the chart's release label on its Deployments


def check_kubeconfig(path: str | os.PathLike | None) -> Path:
    """The kubeconfig's path, once it exists and parses with a current context; else one HarnessError with the fix."""
    if path is None:
        raise HarnessError("--provider kubeconfig needs --kubeconfig PATH: the existing cluster's kubeconfig "
                           "(cert-manager installed there). Fix: add --kubeconfig ~/.kube/config, or another provider")
    file = Path(path).expanduser()
    if not file.is_file():
        problem = "is a directory" if file.is_dir() else "no such file"
        raise HarnessError(f"--kubeconfig {path}: {problem}. Fix: give the path of the cluster's kubeconfig file")
    try:
        config.load_kube_config(config_file=str(file), client_configuration=client.Configuration())
    except (ConfigException, ValueError, TypeError, AttributeError, OSError) as error:
        raise HarnessError(f"--kubeconfig {path}: not a usable kubeconfig ({error}). Fix: give a kubeconfig with "
                           f"a current context, e.g. one `kubectl config view --minify --raw` prints") from None
    except Exception as error:  # noqa: BLE001 - yaml's errors: the file is not YAML at all
        raise HarnessError(f"--kubeconfig {path}: does not parse ({type(error).__name__}: {error}). Fix: give "
                           f"the cluster's kubeconfig file") from None
    return file.resolve()


class ExistingCluster(Service):
    """A cluster certchaos does not own, reached with the user's kubeconfig. Use as a context manager."""

    capabilities = EXISTING  # harness.stack.protocol.EXISTING

    def __init__(self, kubeconfig: str | os.PathLike | None):
        self.kubeconfig = check_kubeconfig(kubeconfig)
        self._api: client.ApiClient | None = None

    def _start(self) -> None:
        api = self.api()
        wait_for(self._answers, subject=f"the cluster of {self.kubeconfig}", expected="its API to answer /version",
                 timeout=API_TIMEOUT, interval=1.0)
        try:
            client.ApiextensionsV1Api(api).read_custom_resource_definition(CERTIFICATE_CRD)
        except ApiException as error:
            if error.status != 404:
                raise
            raise HarnessError(f"the cluster of {self.kubeconfig} serves no {CERTIFICATE_CRD}: cert-manager is not "
                               f"installed there. Fix: install cert-manager (certchaos installs nothing into an "
                               f"existing cluster), or use --provider local or kind") from None
        issuer = {"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
                  "metadata": {"name": "certchaos-webhook-probe", "namespace": PROBE_NAMESPACE},
                  "spec": {"selfSigned": {}}}

        def admits() -> Seen:
            client.CustomObjectsApi(api).create_namespaced_custom_object(
                "cert-manager.io", "v1", PROBE_NAMESPACE, "issuers", issuer, dry_run="All")
            return Seen(True, "dry-run Issuer admitted")

        wait_for(admits, subject="cert-manager's webhook", expected="to admit a dry-run Issuer",
                 timeout=WEBHOOK_TIMEOUT, interval=1.0)

    def _answers(self) -> Seen:
        version = client.VersionApi(self.api()).get_code()
        return Seen(True, version.git_version)

    def stop(self) -> None:
        """Close the client; the cluster and cert-manager are the user's and stay as they are."""
        if self._api is not None:
            self._api.close()
            self._api = None

    def wait_until_interrupted(self) -> None:
        """Block until SIGINT/SIGTERM, failing if the API stops answering."""
        wait_until_interrupted(lambda: self._answers(), interval=HEALTH_INTERVAL)

    def api(self) -> client.ApiClient:
        if self._api is None:
            self._api = api_client(self.kubeconfig)
        return self._api

    def endpoints(self) -> dict[str, str]:
        return {"kube-apiserver": self.api().configuration.host}

    def versions(self) -> dict[str, dict]:
        """The API server's version, and cert-manager's as the images of the chart's Deployments (none found: a
        cert-manager not installed by its chart, said so)."""
        result = {"kube-apiserver": {"version": self._answers().state, "source": "existing cluster",
                                     "path": self.api().configuration.host}}
        deployments = client.AppsV1Api(self.api()).list_deployment_for_all_namespaces(
            label_selector=CERT_MANAGER_SELECTOR).items
        for deployment in deployments:
            for container in deployment.spec.template.spec.containers:
                name, _, tag = container.image.rsplit("/", 1)[-1].partition(":")
                result[name] = {"version": tag or "unknown", "source": "existing cluster", "path": container.image}
        if not deployments:
            result["cert-manager"] = {"version": "unknown", "source": "existing cluster",
                                      "path": f"no Deployment labelled {CERT_MANAGER_SELECTOR}"}
        return result

    def write_kubeconfig(self, path: str | os.PathLike) -> Path:
        return copy_kubeconfig(self.kubeconfig, path)

    def upgrade_cert_manager(self, bin_dir, *, on_step: Callable[[str], None] = lambda step: None) -> None:
        raise HarnessError("the kubeconfig provider upgrades nothing: cert-manager on an existing cluster is the "
                           "user's to upgrade. Fix: run the upgrade check with --provider local or kind")
