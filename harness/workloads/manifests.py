"""The manifests of the reload scenarios: our TLS server consuming a Secret three ways, behind a Service.

Consumers: "volume" (the Secret mounted as a directory: the kubelet swaps its `..data` symlink on a change),
"subpath" (each file mounted with subPath: the kubelet never updates it), "env" (TLS_CRT/TLS_KEY from the
Secret: read once, at container start). Modes: "once" (load at start) or "reload" (reload on change).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.errors import HarnessError

CONSUMERS = ("volume", "subpath", "env")
MODES = ("once", "reload")
PORT = 8443
MOUNT = "/tls"
WITNESS = "/witness"
APP_LABEL = "certchaos.io/workload"
AUTO_ANNOTATION = "reloader.stakater.com/auto"
RELOAD_ANNOTATION = "secret.reloader.stakater.com/reload"
SEARCH_ANNOTATION = "reloader.stakater.com/search"  # rolls on a change of a Secret annotated MATCH_ANNOTATION
MATCH_ANNOTATION = "reloader.stakater.com/match"
IGNORE_ANNOTATION = "reloader.stakater.com/ignore"  # on a Secret: Reloader rolls nothing for its changes
RELOADERS = (None, "auto", "named", "search")
ANNOTATED = ("deployment", "template")
# The server polls the files every second (its -poll): a reload lags the kubelet's swap by at most that.
POLL = "1s"
# Readiness: /healthz over HTTPS every 2 s; 1 failure makes the pod unready (a rollout waits for readiness).
PROBE_PERIOD = 2


@dataclass(frozen=True)
class Workload:
    """A Deployment of our TLS server consuming Secret `secret`. `reloader`: which of Reloader's annotations
    it carries ("auto", "named", "search" or None); `reload_names`: the named annotation's value (default the
    Secret's name; Reloader reads each comma-separated entry as a regex); `annotated`: on the Deployment's
    metadata or only on its pod template's."""

    name: str
    secret: str
    consumer: str = "volume"
    mode: str = "reload"
    replicas: int = 2
    reloader: str | None = None
    reload_names: str | None = None
    annotated: str = "deployment"
    protocol: str = "https"  # "http": a server that does not speak TLS (bad input for the observer)
    extra_env: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.consumer not in CONSUMERS:
            raise HarnessError(f"workload {self.name}: consumer {self.consumer!r}; expected one of {CONSUMERS}")
        if self.mode not in MODES:
            raise HarnessError(f"workload {self.name}: mode {self.mode!r}; expected one of {MODES}")
        if self.consumer == "env" and self.mode == "reload":
            raise HarnessError(f"workload {self.name}: an environment variable never changes in a running "
                               "process; use mode 'once' with consumer 'env'")
        if self.reloader not in RELOADERS:
            raise HarnessError(f"workload {self.name}: reloader {self.reloader!r}; expected one of {RELOADERS}")
        if self.reload_names is not None and self.reloader != "named":
            raise HarnessError(f"workload {self.name}: reload_names is the value of {RELOAD_ANNOTATION}; it needs "
                               f"reloader='named', not {self.reloader!r}")
        if self.annotated not in ANNOTATED:
            raise HarnessError(f"workload {self.name}: annotated {self.annotated!r}; expected one of {ANNOTATED}")

    @property
    def selector(self) -> dict[str, str]:
        return {APP_LABEL: self.name}


def _container(w: Workload, image: str) -> dict:
    args = [f"-listen=:{PORT}", f"-mode={w.mode}", f"-protocol={w.protocol}", f"-poll={POLL}",
            f"-source={'env' if w.consumer == 'env' else 'files'}"]
    container = {"name": "server", "image": image, "imagePullPolicy": "Never", "args": args,
                 "ports": [{"name": "https", "containerPort": PORT}],
                 "readinessProbe": {"httpGet": {"path": "/healthz", "port": PORT,
                                                "scheme": "HTTPS" if w.protocol == "https" else "HTTP"},
                                    "periodSeconds": PROBE_PERIOD, "failureThreshold": 1}}
    env = [{"name": k, "value": v} for k, v in w.extra_env.items()]
    if w.consumer == "env":
        env += [{"name": var, "valueFrom": {"secretKeyRef": {"name": w.secret, "key": key}}}
                for var, key in (("TLS_CRT", "tls.crt"), ("TLS_KEY", "tls.key"))]
    elif w.consumer == "volume":
        container["volumeMounts"] = [{"name": "tls", "mountPath": MOUNT, "readOnly": True}]
    else:
        container["volumeMounts"] = [{"name": "tls", "mountPath": f"{MOUNT}/{key}", "subPath": key, "readOnly": True}
                                     for key in ("tls.crt", "tls.key")]
    if w.consumer != "volume":
        # The witness: the same Secret as a plain volume the server never reads. When its file changes the
        # kubelet has synced this pod, so a subPath file or an env var that did not change never will.
        container.setdefault("volumeMounts", []).append({"name": "tls", "mountPath": WITNESS, "readOnly": True})
    if env:
        container["env"] = env
    return container


def reloader_annotations(w: Workload) -> dict[str, str]:
    if w.reloader == "auto":
        return {AUTO_ANNOTATION: "true"}
    if w.reloader == "named":
        return {RELOAD_ANNOTATION: w.secret if w.reload_names is None else w.reload_names}
    if w.reloader == "search":
        return {SEARCH_ANNOTATION: "true"}
    return {}


def deployment(w: Workload, image: str) -> dict:
    annotations = reloader_annotations(w)
    template = {"labels": w.selector}
    if w.annotated == "template" and annotations:
        template["annotations"], annotations = annotations, {}
    spec = {"containers": [_container(w, image)],
            # A killed replica goes at once: the scenarios measure the new pods, not a 30 s grace period.
            "terminationGracePeriodSeconds": 1}
    spec["volumes"] = [{"name": "tls", "secret": {"secretName": w.secret}}]
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": w.name, "labels": w.selector, "annotations": annotations},
            "spec": {"replicas": w.replicas, "selector": {"matchLabels": w.selector},
                     "template": {"metadata": template, "spec": spec}}}


def service(w: Workload) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": w.name, "labels": w.selector},
            "spec": {"selector": w.selector, "ports": [{"name": "https", "port": PORT, "targetPort": PORT}]}}
