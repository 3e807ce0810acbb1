"""HTTP-01 through an ingress controller, and the Ingress annotation shortcut: what breaks solver pods and routes.

Spec: with a ClusterIssuer solving HTTP-01 through the ingress class of a real ingress controller (Traefik),
cert-manager creates a solver pod, Service and Ingress per Challenge, its self-check GETs
http://<domain>/.well-known/acme-challenge/<token> until it passes 5 times (2 s apart), Pebble validates over
HTTP on port 80 of the domain's A record, through the controller, and once the Challenge is final its
solver objects are deleted (pkg/issuer/acme/http/http.go: Check, CleanUp; the lifecycle invariant
http01_solvers_cleaned_up checks the last). An Ingress annotated cert-manager.io/cluster-issuer with a tls:
entry gets a Certificate from ingress-shim for exactly its hosts, owned by the Ingress, and the controller
serves it for every host (a real handshake with SNI per host). Failures, each during a renewal of such an
Ingress's certificate, the old certificate served all along: a solver Ingress of a class nobody serves, so
the self-check gets the controller's answer for the user's route (the Challenge's reason "Waiting for HTTP-01
challenge propagation: wrong status code"); once the issuer is fixed the renewal completes with no human
step: the Order controller rebuilds its required Challenges from the issuer at each sync and replaces the
stuck one, whose solver was copied into it (pkg/controller/acmeorders/sync.go: buildRequiredChallenges,
deleteLeftoverChallenges; the controller watches ClusterIssuers; seen 1.3 s after the fix). A solver pod that
cannot be scheduled (its nodeSelector's label gone from the node): Pending with the scheduler's reason, the
self-check failing; once the label is back the pod runs and the renewal completes by itself. An A record
pointing elsewhere: the self-check's connection is refused; fixed, the next check (10 s) passes. The ingress
controller down: nothing answers on 80 or 443, the self-check is refused; back, the renewal completes. A
redirect of all plain HTTP to HTTPS in the controller (Traefik's entrypoint redirection): the self-check follows
it, and on 443 no route serves the challenge path (the solver's Ingress has no tls: 404); removed, it renews.
Never presented to the CA while the self-check fails: Pebble sees no validation, the Order stays pending.
Evidence: Challenge reasons, solver objects and pod status, the served certificate per host before and after,
the Secret's serial. Not here: a NetworkPolicy blocking the solver (the kind lab's CNI, bridge + portmap,
enforces no NetworkPolicy: such a scenario would pass for the wrong reason) and an auth middleware.
"""

from __future__ import annotations

import pytest
from kubernetes import client

from harness.scenario_api import (
    DNS01_CHECK_RETRY_PERIOD, HTTP01_ISSUANCE, SECRET, ARecordElsewhere, HttpsRedirectInFront, IngressControllerDown,
    NodeLabelRemoved, SolverIngressClassWrong, all_of, challenge_path_redirected, annotated_ingress, certificate, certificate_done_issuing,
    challenge_reason_contains, challenge_state, create_certificate, create_ingress, expire_authorizations, get,
    holds_throughout, inspect_secret, not_, secret_serial_changed, serves_secret, shim_certificate,
    solver_pod_unschedulable, solver_pods_scheduled, solvers_gone, solvers_present, trigger_renewal,
)

pytestmark = pytest.mark.requires(node=True, images=True)

HOSTS = ("web", "www")  # labels of the annotated Ingress's hosts (the issuer's zone points them at the controller)
SECRET_NAME = "web-tls"
# ingress-shim creates the Certificate on the Ingress's first sync, within a second; margin for load.
SHIMMED = 30
# Traefik watches Secrets and serves a new one within a second or two; margin for a loaded node.
SERVED = 30
# Solver objects exist from Present to the Challenge's end: at least the 10 s of the self-check's five passes.
SOLVERS_SEEN = 60
# Cleanup follows the Challenge's final state within seconds (the Order deletes it, its finalizer cleans up).
CLEANED = 30
# A failing self-check writes its reason at once, then re-queues every --dns01-check-retry-period (10 s): the
# renewal's Present plus one check, with the solver pod's start; margin for load.
DETECTED = 60
# "Stays stalled" window: two retry periods of the self-check, each of which would have accepted a fixed path.
STALLED = 2 * DNS01_CHECK_RETRY_PERIOD + 5
# The label back, kube-scheduler retries the unschedulable solver pods at once (the node update's event); its
# backstop is the flush of pods unschedulable for 5 min, checked every 30 s (pkg/scheduler/internal/queue:
# podMaxInUnschedulablePodsDuration, flushUnschedulablePodsLeftover), plus 30 s for load: Kubernetes' time, not
# cert-manager's.
RESCHEDULED = 5 * 60 + 30 + 30
WRONG_CLASS = "nginx"  # a class no controller in the lab serves
SCHEDULER_SAYS = "didn't match pod's node affinity/selector"  # kube-scheduler v1.26's NodeAffinity filter


def hosts(issuer) -> list[str]:
    return [issuer.dns_name(label) for label in HOSTS]


def serves_everywhere(kube, namespace, controller, issuer):
    return all_of(*(serves_secret(kube, namespace, SECRET_NAME, controller.address, controller.https_port, host)
                    for host in hosts(issuer)))


def serial(kube, namespace) -> str:
    return inspect_secret(get(kube, SECRET, namespace, SECRET_NAME)).serial


def issue_through_annotated_ingress(scenario, kube, namespace, controller, issuer) -> str:
    """The shortcut's steady state: the annotated Ingress, its shimmed Certificate issued and served for every
    host; returns the served serial."""
    subject = f"Certificate {namespace}/{SECRET_NAME}"
    create_ingress(kube, namespace, annotated_ingress("web", issuer.name, hosts(issuer), SECRET_NAME,
                                                      controller.ingress_class))
    scenario.steady_state(shim_certificate(kube, namespace, SECRET_NAME, "web", hosts(issuer)), subject=subject,
                          expected="made by ingress-shim for Ingress web, naming its tls hosts", within=SHIMMED)
    scenario.steady_state(certificate_done_issuing(kube, namespace, SECRET_NAME), subject=subject,
                          expected="issued over HTTP-01", within=HTTP01_ISSUANCE)
    scenario.steady_state(serves_everywhere(kube, namespace, controller, issuer),
                          subject=f"ingress controller at {controller.address}:{controller.https_port}",
                          expected="the Secret's certificate for every host (SNI)", within=SERVED)
    return serial(kube, namespace)


def renew(scenario, lab, kube, namespace, issuer) -> None:
    """As `cmctl renew` does, the account's authorizations expired at the CA first: the renewal's Order needs a
    fresh challenge for every name, as one 60 days on does (Pebble may otherwise reuse one: see
    harness/chaos/actions.py)."""
    expired = expire_authorizations(kube, namespace, issuer.name, issuer.directory, lab.info.pebble_ca_bundle_path,
                                    kind=issuer.ref["kind"])
    scenario.note("authorizations expired at the CA: the renewal needs a fresh challenge per name",
                  authorizations=expired)
    trigger_renewal(kube, namespace, SECRET_NAME)


def renewal_stalls(scenario, kube, namespace, controller, issuer, reason: str) -> None:
    """During the fault, once renewed: the renewal's self-check fails with `reason`, the Challenge stays pending
    (never presented to the CA), the old certificate is served all along."""
    subject = f"Challenge for Certificate {namespace}/{SECRET_NAME}"
    scenario.expect(challenge_reason_contains(kube, namespace, SECRET_NAME, reason), subject=subject,
                    expected=f"the self-check failing: {reason}", within=DETECTED, detects=True)
    scenario.expect(holds_throughout(all_of(challenge_state(kube, namespace, SECRET_NAME, "pending"),
                                            serves_everywhere(kube, namespace, controller, issuer)), STALLED),
                    subject=subject, expected="pending (not accepted at the CA), the old certificate served",
                    within=STALLED + 30)


def renewal_completes(scenario, kube, namespace, controller, issuer, before: str, within: float) -> None:
    subject = f"Certificate {namespace}/{SECRET_NAME}"
    scenario.expect(all_of(certificate_done_issuing(kube, namespace, SECRET_NAME),
                           secret_serial_changed(kube, namespace, SECRET_NAME, before)),
                    subject=subject, expected="renewed", within=within, recovers=True)
    scenario.expect(serves_everywhere(kube, namespace, controller, issuer),
                    subject=f"ingress controller at {controller.address}:{controller.https_port}",
                    expected="the renewed certificate for every host", within=SERVED)
    scenario.expect(solvers_gone(kube, namespace), subject=f"HTTP-01 solvers of {namespace}",
                    expected="deleted", within=CLEANED)


def test_http01_issues_through_the_ingress_controller_and_its_solver_is_removed(
        scenario, kube, namespace, http01_issuer, ingress_controller, timeline):
    subject = f"Certificate {namespace}/web"
    create_certificate(kube, namespace, certificate("web", http01_issuer.ref, [http01_issuer.dns_name("web")]))
    scenario.expect(solvers_present(kube, namespace, "Pod", "Service", "Ingress"),
                    subject=f"HTTP-01 solvers of {namespace}", expected="a solver pod, Service and Ingress",
                    within=SOLVERS_SEEN)
    scenario.steady_state(certificate_done_issuing(kube, namespace, "web"), subject=subject,
                          expected="issued: Pebble validated over HTTP through the controller", within=HTTP01_ISSUANCE)
    scenario.expect(solvers_gone(kube, namespace), subject=f"HTTP-01 solvers of {namespace}", expected="deleted",
                    within=CLEANED)


def test_an_annotated_ingress_gets_its_certificate_served_for_every_host(
        scenario, kube, namespace, http01_issuer, ingress_controller, timeline):
    controller = ingress_controller
    scenario.steady_state(not_(serves_everywhere(kube, namespace, controller, http01_issuer)),
                          subject=f"ingress controller at {controller.address}:{controller.https_port}",
                          expected="before: not a certificate of ours (its default one)", within=SERVED)
    issue_through_annotated_ingress(scenario, kube, namespace, controller, http01_issuer)


def test_a_solver_ingress_of_the_wrong_class_stalls_until_the_issuer_is_fixed(
        scenario, lab, kube, namespace, http01_issuer, ingress_controller, timeline):
    controller, issuer = ingress_controller, http01_issuer
    before = issue_through_annotated_ingress(scenario, kube, namespace, controller, issuer)
    with scenario.fault(SolverIngressClassWrong(kube, issuer.name, WRONG_CLASS)):
        renew(scenario, lab, kube, namespace, issuer)
        renewal_stalls(scenario, kube, namespace, controller, issuer, "wrong status code")
    # No human step: the Order controller replaces the stuck Challenge with one of the fixed solver.
    renewal_completes(scenario, kube, namespace, controller, issuer, before, HTTP01_ISSUANCE)


@pytest.fixture
def solver_on_labelled_node(kube, namespace, http01_issuer) -> tuple[str, str]:
    """The user's setup: a node pods may run on (no NoSchedule taint: with workers, not the control plane)
    carries a label only this scenario's solver pods select (the issuer's solver podTemplate nodeSelector).
    Yields (node, label); removes the label from the node after."""
    label = f"http01.certchaos.io/{namespace}"[:63]
    nodes = client.CoreV1Api(kube)
    node = next(n.metadata.name for n in nodes.list_node().items
                if not any(t.effect == "NoSchedule" for t in n.spec.taints or []))
    nodes.patch_node(node, {"metadata": {"labels": {label: "true"}}})
    issuers = client.CustomObjectsApi(kube)
    found = issuers.get_cluster_custom_object("cert-manager.io", "v1", "clusterissuers", http01_issuer.name)
    solvers = found["spec"]["acme"]["solvers"]
    for solver in solvers:
        solver["http01"]["ingress"]["podTemplate"] = {"spec": {"nodeSelector": {label: "true"}}}
    issuers.patch_cluster_custom_object("cert-manager.io", "v1", "clusterissuers", http01_issuer.name,
                                        {"spec": {"acme": {"solvers": solvers}}})
    yield node, label
    nodes.patch_node(node, {"metadata": {"labels": {label: None}}})


def test_an_unschedulable_solver_pod_stalls_the_renewal_until_its_node_is_back(
        scenario, lab, kube, namespace, http01_issuer, ingress_controller, solver_on_labelled_node, timeline):
    controller, issuer = ingress_controller, http01_issuer
    before = issue_through_annotated_ingress(scenario, kube, namespace, controller, issuer)
    with scenario.fault(NodeLabelRemoved(kube, *solver_on_labelled_node)):
        renew(scenario, lab, kube, namespace, issuer)
        scenario.expect(solver_pod_unschedulable(kube, namespace, SCHEDULER_SAYS),
                        subject=f"HTTP-01 solver pod of {namespace}", expected="Pending: no node matches its selector",
                        within=DETECTED, detects=True)
        renewal_stalls(scenario, kube, namespace, controller, issuer, "wrong status code")
    scenario.expect(solver_pods_scheduled(kube, namespace), subject=f"HTTP-01 solver pods of {namespace}",
                    expected="scheduled on the labelled node again", within=RESCHEDULED)
    renewal_completes(scenario, kube, namespace, controller, issuer, before,
                      DNS01_CHECK_RETRY_PERIOD + HTTP01_ISSUANCE)


def test_an_a_record_pointing_elsewhere_stalls_the_self_check_until_it_is_fixed(
        scenario, lab, kube, namespace, http01_issuer, ingress_controller, timeline):
    controller, issuer = ingress_controller, http01_issuer
    before = issue_through_annotated_ingress(scenario, kube, namespace, controller, issuer)
    # Elsewhere: the lab's CA anchor, on the same network, where nothing listens on port 80.
    fault = ARecordElsewhere(lab.dns, issuer.dns_name(HOSTS[0]) + ".", controller.address, lab.info.proxy_host)
    with scenario.fault(fault):
        renew(scenario, lab, kube, namespace, issuer)
        renewal_stalls(scenario, kube, namespace, controller, issuer, "connection refused")
    renewal_completes(scenario, kube, namespace, controller, issuer, before,
                      DNS01_CHECK_RETRY_PERIOD + HTTP01_ISSUANCE)


@pytest.mark.exclusive
def test_the_ingress_controller_down_stalls_the_renewal_until_it_is_back(
        scenario, lab, kube, namespace, http01_issuer, ingress_controller, timeline):
    controller, issuer = ingress_controller, http01_issuer
    before = issue_through_annotated_ingress(scenario, kube, namespace, controller, issuer)
    with scenario.fault(IngressControllerDown(kube)):
        renew(scenario, lab, kube, namespace, issuer)
        scenario.expect(challenge_reason_contains(kube, namespace, SECRET_NAME, "connection refused"),
                        subject=f"Challenge for Certificate {namespace}/{SECRET_NAME}",
                        expected="the self-check refused", within=DETECTED, detects=True)
        scenario.expect(holds_throughout(challenge_state(kube, namespace, SECRET_NAME, "pending"), STALLED),
                        subject=f"Challenge for Certificate {namespace}/{SECRET_NAME}",
                        expected="pending, not accepted at the CA", within=STALLED + 30)
    renewal_completes(scenario, kube, namespace, controller, issuer, before,
                      DNS01_CHECK_RETRY_PERIOD + HTTP01_ISSUANCE)


@pytest.mark.exclusive
def test_a_redirect_to_https_in_front_of_the_challenge_path_stalls_the_renewal_until_it_is_removed(
        scenario, lab, kube, namespace, http01_issuer, ingress_controller, timeline):
    controller, issuer = ingress_controller, http01_issuer
    before = issue_through_annotated_ingress(scenario, kube, namespace, controller, issuer)
    host = issuer.dns_name(HOSTS[0])
    with scenario.fault(HttpsRedirectInFront(kube)):
        scenario.expect(challenge_path_redirected(controller.address, controller.http_port, host),
                        subject=f"http://{host}/.well-known/acme-challenge/", expected="redirected to https",
                        within=SERVED, probe=True)
        # The self-check follows the redirect (http.go: "follow any redirects"); on 443 the challenge path has no
        # route (the solver's Ingress has no tls): Traefik answers 404 there (observed).
        renew(scenario, lab, kube, namespace, issuer)
        renewal_stalls(scenario, kube, namespace, controller, issuer, "wrong status code '404'")
    renewal_completes(scenario, kube, namespace, controller, issuer, before,
                      DNS01_CHECK_RETRY_PERIOD + HTTP01_ISSUANCE)
