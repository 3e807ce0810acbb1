"""Secret not updated in the workload: cert-manager renews the Secret, and pods keep serving the old certificate.

Spec: what each pod really serves on the wire (a TLS handshake with every pod, through the API server's
port-forward) against the Secret's serial, with the kubelet of a kind node projecting the Secret. As the
Kubernetes documentation says: a mounted Secret volume is updated after the kubelet's sync (its
syncFrequency, 10 s in this stack, plus jitter), so a server that reloads on change serves the renewal;
a server that loaded its certificate once keeps the old one although the file changed; a subPath mount
never changes, even after the kubelet synced the pod (a plain volume of the same Secret, the witness, shows
the sync); an environment variable from the Secret never changes without a restart. With Stakater
Reloader's annotations as users write them (auto; the Secret named, each name a regex matched whole; search
with match on the Secret; on the Deployment or only on its pod template) the Deployment is rolled (env var
STAKATER_<SECRET>_SECRET = SHA1 of the Secret's data, an Event "Reloaded" on it) and every pod serves the
renewal; a Secret annotated ignore rolls nothing; a reloader that is down during the renewal leaves the pods
stale, and once back it does not catch up (Reloader ignores Secrets it sees appear at start:
--reload-on-create and --sync-after-restart are off by default); a renewal during an unrelated rollout
leaves no pod on the old certificate. The reloader is our build of Reloader v1.4.22, or the user's image
(`certchaos run --reloader-image`; pytest's --certchaos-reloader-image). Evidence: per-pod served serials
and "stale since" on the timeline, the projected file's serial in each pod, the Deployment's rollout status
and Events; figures (kubelet propagation delay, Reloader delay) as notes.
"""

from __future__ import annotations

import pytest
from kubernetes import client

from harness.scenario_api import (
    IGNORE_ANNOTATION, KUBELET_SYNC_FREQUENCY, MATCH_ANNOTATION, MOUNT, RELOADER_NAME, WITNESS, ReloadBench,
    ReloaderDown, Seen, Workload, certificate, certificate_done_issuing, create_certificate, data_hash,
    env_var_name, event_on, every_pod_file, every_pod_serves, holds_throughout, holds_until, prepare_images,
    restart_workload, rolled_out, secret_serial_changed, trigger_renewal,
)

pytestmark = pytest.mark.requires(node=True)

REPLICAS = 2
ISSUED = 30  # a CA issuer signs in well under a second; the margin covers a loaded machine
SERVES = 60  # ready pods serve what they loaded: the first handshakes through port-forward, under load
# The kubelet resyncs a pod every syncFrequency (10 s here) plus up to half of it of jitter, then swaps the
# volume's ..data; measured 3-16 s on this loaded machine. 60 s is about four syncs.
KUBELET_SYNC = 60
RELOAD = 15  # our server polls the files every second; the margin covers port-forward handshakes under load
# "Stays stale" windows, once the kubelet has certainly synced: two more full kubelet resyncs with jitter.
STALE_WINDOW = 30
# Reloader delay: the reloader's watch sees the update in ~1 s, then a rolling update of 2 replicas, each new
# pod ready in 5-20 s here (probe every 2 s) and the old one gone after a 1 s grace: ~40 s under load; 120 s.
ROLLOUT = 120
# The observer's record of a change a scenario's own handshakes already saw: its next poll, a round of handshakes
# through port-forward (seconds under load).
OBSERVED = 30


@pytest.fixture(scope="session")
def reloader_image(kube, pytestconfig) -> str:
    """The reloader image for this session (--certchaos-reloader-image, else our build of Reloader), loaded into the cluster
    together with the workload image. A missing image is a clear error."""
    return prepare_images(kube, pytestconfig.getoption("--certchaos-reloader-image", default=None),
                          pytestconfig.getoption("--certchaos-bin-dir", default=None))


@pytest.fixture
def bench(scenario, kube, namespace, reloader_image):
    """The scenario's workloads and observers; undo: stops the observers (the namespace takes the rest)."""
    made = ReloadBench(scenario, kube, namespace, reloader_image)
    yield made
    made.close()


def issue(scenario, kube, namespace, issuer, name="web", secret_annotations=None) -> str:
    """A Certificate `name` issued; `secret_annotations` go on its Secret (spec.secretTemplate, as users put
    Reloader's match or ignore on a Secret cert-manager owns)."""
    spec = {"secretTemplate": {"annotations": secret_annotations}} if secret_annotations else {}
    create_certificate(kube, namespace, certificate(name, issuer, [f"{name}.{namespace}.svc"], **spec))
    scenario.steady_state(certificate_done_issuing(kube, namespace, name), subject=f"Certificate {namespace}/{name}",
                          expected="issued", within=ISSUED)
    return name


def renew(scenario, bench, kube, namespace, name) -> tuple[str, str, float]:
    """Renew the certificate; (old serial, new serial, journal offset of the renewal request). Delays are
    measured from the request: the CA issuer signs within a second, while the time our poll notices the
    Secret's change is later under load (measured 3 s after the kubelet had already projected it)."""
    old = bench.secret_serial(name)
    requested = scenario.journal.now()
    trigger_renewal(kube, namespace, name)
    scenario.expect(secret_serial_changed(kube, namespace, name, old), subject=f"Secret {namespace}/{name}",
                    expected="to hold the renewed certificate", within=ISSUED)
    new = bench.secret_serial(name)
    scenario.note("renewal landed in the Secret", old_serial=old, new_serial=new, requested=requested,
                  seen=scenario.journal.now())
    return old, new, requested


def serve_steadily(scenario, bench, kube, target) -> None:
    scenario.steady_state(every_pod_serves(bench.handshaker, kube, target, REPLICAS),
                          subject=f"pods of {target.namespace}/{target.name}",
                          expected="each serves the Secret's certificate", within=SERVES)


def serving(scenario, bench, kube, namespace, issuer, secret_annotations=None, **workload):
    """A certificate "web", a Deployment "web" consuming it as `workload` says, every pod serving it; the
    reloader first when the workload is annotated for it. Returns (Secret name, observed target)."""
    secret = issue(scenario, kube, namespace, issuer, secret_annotations=secret_annotations)
    if workload.get("reloader"):
        bench.install_reloader()
    target = bench.deploy(Workload("web", secret, replicas=REPLICAS, **workload))
    serve_steadily(scenario, bench, kube, target)
    return secret, target


def figure(scenario, name: str, seconds: float, **detail) -> None:
    """A measured figure on the journal (benchmarks/reloads.py collects them across runs)."""
    scenario.note(f"figure: {name}", seconds=round(seconds, 1), **detail)


def serving_figure(scenario, bench, target, new, renewed_at, name: str, **detail) -> None:
    """The figure "renewal request to the last pod first seen serving `new`", from the observer's record."""
    scenario.expect(bench.observed_serving(target.name, new, REPLICAS),
                    subject=f"the served-certificate observer of {target.namespace}/{target.name}",
                    expected="to have recorded every pod serving the renewal", within=OBSERVED)
    first = bench.first_served(target.name, new)
    figure(scenario, name, max(first.values()) - renewed_at,
           per_pod={pod: round(at - renewed_at, 1) for pod, at in first.items()}, **detail)


def assert_stays_stale(scenario, bench, kube, target, old, new, witness: str) -> None:
    """Every pod keeps serving `old` until the kubelet has projected `new` into `witness` in every pod, and
    for STALE_WINDOW after: stale, with the observer's "stale since" as evidence."""
    pods = f"pods of {target.namespace}/{target.name}"
    scenario.expect(holds_until(every_pod_serves(bench.handshaker, kube, target, REPLICAS, old),
                                every_pod_file(bench.handshaker, kube, target, witness, new, REPLICAS)),
                    subject=pods, expected=f"to serve the old certificate while the kubelet projects the renewal "
                                           f"into {witness}", within=KUBELET_SYNC)
    scenario.expect(holds_throughout(every_pod_serves(bench.handshaker, kube, target, REPLICAS, old), STALE_WINDOW),
                    subject=pods, expected="to keep serving the old certificate (stale)", within=STALE_WINDOW + RELOAD)
    since = bench.stale_since(target.name)
    scenario.note("stale pods", stale_since=since, secret_serial=new, served_serial=old)
    assert len(since) >= REPLICAS, f"the observer saw no 'stale since' for the pods of {target.name}: {since}"


def test_a_mounted_volume_and_a_reloading_server_serve_the_renewal_after_the_kubelet_sync(
        scenario, kube, namespace, ca_issuer, bench):
    secret, target = serving(scenario, bench, kube, namespace, ca_issuer, consumer="volume", mode="reload")
    old, new, renewed_at = renew(scenario, bench, kube, namespace, secret)
    scenario.expect(every_pod_file(bench.handshaker, kube, target, f"{MOUNT}/tls.crt", new, REPLICAS),
                    subject=f"{MOUNT}/tls.crt in the pods of {namespace}/web",
                    expected="the renewed certificate, projected by the kubelet", within=KUBELET_SYNC)
    figure(scenario, "kubelet propagation delay", scenario.journal.now() - renewed_at,
           sync_frequency=KUBELET_SYNC_FREQUENCY, note="renewal request to the new file seen in every pod")
    scenario.expect(every_pod_serves(bench.handshaker, kube, target, REPLICAS, new), subject=f"pods of {namespace}/web",
                    expected="each serves the renewed certificate", within=RELOAD)
    serving_figure(scenario, bench, target, new, renewed_at,
                   "renewal to every pod serving it (volume, reload on change)")


def test_a_server_that_loads_once_keeps_the_old_certificate_although_the_file_changed(
        scenario, kube, namespace, ca_issuer, bench):
    secret, target = serving(scenario, bench, kube, namespace, ca_issuer, consumer="volume", mode="once")
    old, new, _ = renew(scenario, bench, kube, namespace, secret)
    assert_stays_stale(scenario, bench, kube, target, old, new, f"{MOUNT}/tls.crt")


def test_a_subpath_mount_never_changes_so_a_reloading_server_stays_stale(scenario, kube, namespace, ca_issuer, bench):
    secret, target = serving(scenario, bench, kube, namespace, ca_issuer, consumer="subpath", mode="reload")
    old, new, _ = renew(scenario, bench, kube, namespace, secret)
    assert_stays_stale(scenario, bench, kube, target, old, new, f"{WITNESS}/tls.crt")
    scenario.expect(every_pod_file(bench.handshaker, kube, target, f"{MOUNT}/tls.crt", old, REPLICAS),
                    subject=f"the subPath file {MOUNT}/tls.crt in the pods", expected="still the old certificate",
                    within=RELOAD)


def test_an_environment_variable_never_changes_without_a_restart(scenario, kube, namespace, ca_issuer, bench):
    secret, target = serving(scenario, bench, kube, namespace, ca_issuer, consumer="env", mode="once")
    old, new, _ = renew(scenario, bench, kube, namespace, secret)
    assert_stays_stale(scenario, bench, kube, target, old, new, f"{WITNESS}/tls.crt")
    restart_workload(kube, namespace, "web", "the operator restarts it")
    scenario.expect(every_pod_serves(bench.handshaker, kube, target, REPLICAS, new), subject=f"pods of {namespace}/web",
                    expected="to serve the renewal once restarted", within=ROLLOUT)


def assert_rolled_by_reloader(scenario, bench, kube, namespace, target, new, renewed_at) -> None:
    scenario.expect(every_pod_serves(bench.handshaker, kube, target, REPLICAS, new), subject=f"pods of {namespace}/web",
                    expected=f"to be replaced by {bench.reloader.description}'s rollout and serve the renewal",
                    within=ROLLOUT)
    serving_figure(scenario, bench, target, new, renewed_at, "Reloader delay", reloader=bench.reloader.description)
    secret = client.CoreV1Api(kube).read_namespaced_secret(target.secret, namespace)
    template = client.AppsV1Api(kube).read_namespaced_deployment(target.name, namespace).spec.template
    env = {e.name: e.value for e in template.spec.containers[0].env or []}
    name, value = env_var_name(target.secret), data_hash(secret.data)
    assert env.get(name) == value, (f"the rollout should set {name}={value} (SHA1 of the Secret's data) in the "
                                    f"pod template, as Reloader's env-vars strategy does; the template has {env}")
    scenario.expect(event_on(kube, namespace, "Deployment", target.name, "Reloaded"),
                    subject=f"Events of Deployment {namespace}/{target.name}",
                    expected=f"{bench.reloader.description}'s record of the rollout", within=OBSERVED)


def generation(kube, namespace, name) -> int:
    return client.AppsV1Api(kube).read_namespaced_deployment(name, namespace).metadata.generation


def assert_not_rolled(before: dict[str, int], kube, namespace, why: str) -> None:
    after = {name: generation(kube, namespace, name) for name in before}
    assert after == before, f"{why}; generations went from {before} to {after}"


def rolling(kube, namespace, name) -> Seen:
    """The Deployment is in the middle of a rollout (not every replica updated and ready)."""
    seen = rolled_out(kube, namespace, name)
    return Seen(not seen.ok, seen.state)


@pytest.mark.parametrize("annotation", ["auto", "named", "search"])
def test_reloader_rolls_the_workload_and_every_pod_serves_the_renewal(
        scenario, kube, namespace, ca_issuer, bench, annotation):
    # search rolls on a change of a Secret annotated match: both Secrets carry it.
    match = {MATCH_ANNOTATION: "true"} if annotation == "search" else None
    secret, target = serving(scenario, bench, kube, namespace, ca_issuer, consumer="volume", mode="once",
                             reloader=annotation, secret_annotations=match)
    other = issue(scenario, kube, namespace, ca_issuer, name="other", secret_annotations=match)
    # A Deployment without Reloader's annotations, mounting the renewed Secret too: it must not roll.
    bench.deploy(Workload("bystander", secret, consumer="volume", mode="once", replicas=REPLICAS))
    # One with the annotation whose Secret does not change: it must not roll either.
    bench.deploy(Workload("other", other, consumer="volume", mode="once", replicas=REPLICAS, reloader=annotation))
    before = {name: generation(kube, namespace, name) for name in ("bystander", "other")}
    _, new, renewed_at = renew(scenario, bench, kube, namespace, secret)
    assert_rolled_by_reloader(scenario, bench, kube, namespace, target, new, renewed_at)
    assert_not_rolled(before, kube, namespace, "only the annotated Deployment of the changed Secret may roll")


def test_reloader_reads_its_annotation_on_the_pod_template_when_the_deployment_has_none(
        scenario, kube, namespace, ca_issuer, bench):
    secret, target = serving(scenario, bench, kube, namespace, ca_issuer, consumer="volume", mode="once",
                             reloader="auto", annotated="template")
    _, new, renewed_at = renew(scenario, bench, kube, namespace, secret)
    assert_rolled_by_reloader(scenario, bench, kube, namespace, target, new, renewed_at)


def test_the_named_secret_is_a_regex_matched_against_the_whole_name(scenario, kube, namespace, ca_issuer, bench):
    # "w.b" matches "web" only as a regex; "we", a prefix of "web", matches only if the regex is not anchored.
    secret, target = serving(scenario, bench, kube, namespace, ca_issuer, consumer="volume", mode="once",
                             reloader="named", reload_names="nothing, w.b")
    bench.deploy(Workload("prefix", secret, consumer="volume", mode="once", replicas=REPLICAS, reloader="named",
                          reload_names="we"))
    before = {"prefix": generation(kube, namespace, "prefix")}
    _, new, renewed_at = renew(scenario, bench, kube, namespace, secret)
    assert_rolled_by_reloader(scenario, bench, kube, namespace, target, new, renewed_at)
    assert_not_rolled(before, kube, namespace, "a name pattern matches the whole Secret name, not a prefix")


def test_a_secret_annotated_ignore_rolls_nothing_and_the_pods_stay_stale(scenario, kube, namespace, ca_issuer, bench):
    secret, target = serving(scenario, bench, kube, namespace, ca_issuer, consumer="volume", mode="once",
                             reloader="auto", secret_annotations={IGNORE_ANNOTATION: "true"})
    before = {target.name: generation(kube, namespace, target.name)}
    old, new, _ = renew(scenario, bench, kube, namespace, secret)
    assert_stays_stale(scenario, bench, kube, target, old, new, f"{MOUNT}/tls.crt")
    assert_not_rolled(before, kube, namespace, "Reloader rolls nothing for a Secret annotated ignore")


def test_reloader_down_during_a_renewal_leaves_the_pods_stale_and_does_not_catch_up(
        scenario, kube, namespace, ca_issuer, bench):
    secret, target = serving(scenario, bench, kube, namespace, ca_issuer, consumer="volume", mode="once",
                             reloader="auto")
    with scenario.fault(ReloaderDown(kube, namespace, bench.reloader.description)):
        old, new, _ = renew(scenario, bench, kube, namespace, secret)
        assert_stays_stale(scenario, bench, kube, target, old, new, f"{MOUNT}/tls.crt")
    pods = f"pods of {namespace}/web"
    scenario.expect(lambda: rolled_out(kube, namespace, RELOADER_NAME), subject=bench.reloader.description,
                    expected="back: its replica ready", within=ROLLOUT, recovers=True)
    scenario.expect(holds_throughout(every_pod_serves(bench.handshaker, kube, target, REPLICAS, old), STALE_WINDOW),
                    subject=pods, expected="to stay stale after the reloader is back (it does not catch up)",
                    within=STALE_WINDOW + RELOAD)
    _, newer, renewed_at = renew(scenario, bench, kube, namespace, secret)
    assert_rolled_by_reloader(scenario, bench, kube, namespace, target, newer, renewed_at)


def test_a_renewal_during_an_unrelated_rollout_leaves_no_pod_on_the_old_certificate(
        scenario, kube, namespace, ca_issuer, bench):
    secret, target = serving(scenario, bench, kube, namespace, ca_issuer, consumer="volume", mode="once",
                             reloader="auto")
    restart_workload(kube, namespace, "web", "a new release")
    scenario.expect(lambda: rolling(kube, namespace, "web"), subject=f"Deployment {namespace}/web",
                    expected="to be rolling out", within=ROLLOUT)
    _, new, renewed_at = renew(scenario, bench, kube, namespace, secret)
    assert_rolled_by_reloader(scenario, bench, kube, namespace, target, new, renewed_at)
    scenario.expect(lambda: rolled_out(kube, namespace, "web"), subject=f"Deployment {namespace}/web",
                    expected="rolled out", within=ROLLOUT)
    scenario.expect(every_pod_serves(bench.handshaker, kube, target, REPLICAS, new), subject=f"pods of {namespace}/web",
                    expected="every pod, after both rollouts, serves the renewal", within=RELOAD)
