"""A scenario's reload bench: deploys workloads and the reloader into the scenario's namespace of a kind
cluster, watches what every pod serves, and journals it. Everything lives in the namespace (deleted with
it); the observers are stopped by close(), also on failure."""

from __future__ import annotations

from kubernetes import client

from harness.observe.served import Handshaker, ServedCertificates, Target, secret_serial
from harness.stack.kind.images import RELOADER_IMAGE, WORKLOAD_IMAGE
from harness.workloads import deploy, reloader
from harness.workloads.manifests import PORT, Workload, deployment, service
from harness.wait import Condition, Seen

# A new Deployment of our server is ready in 5-20 s here (image already on the node); 120 s covers a loaded
# machine (load 40-80 with other clusters). A workload that is not ready by then never will be.
READY = 120.0
# The reloader's pod starts in seconds; its watch syncs within a second or two more.
RELOADER_READY = 120.0


def prepare_images(api: client.ApiClient, reloader_image: str | None, bin_dir=None) -> str:
    """Load the workload image and the reloader's into the cluster of `api`; return the reloader image."""
    image = reloader_image or RELOADER_IMAGE
    deploy.load_images(api, WORKLOAD_IMAGE, what="workload image", bin_dir=bin_dir)
    deploy.load_images(api, image, what="reloader image", bin_dir=bin_dir)
    return image


class ReloadBench:
    def __init__(self, scenario, api: client.ApiClient, namespace: str, reloader_image: str):
        self.scenario, self.api, self.namespace, self.reloader_image = scenario, api, namespace, reloader_image
        self.handshaker = Handshaker(api)
        self.observers: dict[str, ServedCertificates] = {}
        self.targets: dict[str, Target] = {}
        self.reloader: reloader.ReloaderInstall | None = None

    def close(self) -> None:
        for observer in self.observers.values():
            observer.stop()
        self.handshaker.close()

    def deploy(self, workload: Workload) -> Target:
        """Deploy `workload` (Deployment + Service), wait until it is ready, start watching what it serves."""
        self.scenario.note(f"workload {workload.name}", consumer=workload.consumer, mode=workload.mode,
                           replicas=workload.replicas, reloader=workload.reloader, secret=workload.secret)
        target = Target(self.namespace, workload.name, workload.selector, workload.secret, PORT)
        observer = ServedCertificates(self.scenario, self.api, target)
        deploy.create(self.api, self.namespace, [deployment(workload, WORKLOAD_IMAGE),
                                                 service(workload)])
        # Watching from creation: a pod that never serves TLS fails the observer while we wait for readiness.
        self.observers[workload.name] = observer.start()
        self.targets[workload.name] = target
        deploy.wait_rolled_out(self.api, self.namespace, workload.name, workload.selector, READY)
        return target

    def install_reloader(self) -> reloader.ReloaderInstall:
        installed = reloader.ReloaderInstall(self.namespace, self.reloader_image)
        self.scenario.note(f"reloader: {installed.description}", image=installed.image)
        deploy.create(self.api, self.namespace, reloader.manifests(self.namespace, installed.image))
        deploy.wait_rolled_out(self.api, self.namespace, reloader.NAME, {"app": reloader.NAME}, RELOADER_READY)
        self.reloader = installed
        return installed

    def secret_serial(self, secret: str) -> str:
        return secret_serial(self.api, self.namespace, secret)

    def first_served(self, name: str, serial: str) -> dict[str, float]:
        """pod -> journal offset when it was first seen serving `serial` (the workload's observer)."""
        observer = self.observers[name]
        return {pod: at for (pod, s), at in observer.first_served.items() if s == serial}

    def observed_serving(self, name: str, serial: str, replicas: int) -> Condition:
        """The workload's observer has recorded at least `replicas` pods serving `serial`. It polls on its own
        thread, so it can see a change a poll (a round of handshakes) after a scenario's own look did."""
        observer = self.observers[name]

        def look() -> Seen:
            first = self.first_served(name, serial)
            last = {pod: facts.get("serial") or facts.get("error") for pod, facts in observer.last.items()}
            return Seen(len(first) >= replicas, {"first served": first, "last poll": last})

        return look

    def stale_since(self, name: str) -> dict[str, float]:
        return dict(self.observers[name].stale_since)
