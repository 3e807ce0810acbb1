"""certchaos's public namespace for scenario authors: everything a scenario module imports.

As `pytest` is to `_pytest`, this module is to the rest of the harness: scenarios import from here and
nowhere else in harness/ (tests/unit/test_scenario_api.py checks it), so the harness may move its modules
while what a scenario reads stays put. It re-exports, and defines nothing:

- building:    certificate, create_certificate (Certificate manifests and their creation); annotated Ingresses;
               an ACME Issuer of several RFC 2136 solvers, or a ClusterIssuer (dns01_zone, rfc2136_solver,
               create_acme_issuer, delete_cluster_issuer)
- faults:      PropagationLag, TsigKeyRevoked, ..., Route53PolicyDetached, ControllerKilled, NodeDown,
               AcmeRateLimited, ... (apply/revert, never assert)
- actions:     trigger_renewal (as `cmctl renew`), expire_authorizations, issued_and_due_for_a_fresh_challenge,
               rotate_access_key, backdate_last_failure, ...
- conditions:  what expectations wait for (certificate_ready, webhook_unreachable, gaps, ...) and the
               combinators all_of, not_, holds_throughout, holds_until; Seen and wait_for for one of your own
- timings:     cert-manager's documented timings (ISSUANCE, DNS01_CHECK_WAIT, issuance_backoff, ...) and the
               kind cluster's (NODE_MONITOR_GRACE_PERIOD, ...), which deadlines are built from
- limits:      Limit, a deadline that is the spec's bound rather than the harness's patience
- timeline:    issuance_starts (each Issuing=True in the journal, with the renewalTime and revision before it)
- resources:   kinds (CERTIFICATE, SECRET), get, related, epoch; tlsinspect; what pods serve
- names:       cert-manager's namespace and Lease; journal EntryKind; the plugin's NOT_APPLICABLE_PREFIX
- workloads:   the reload scenarios' bench, workloads and rollouts
- exploration: Step and replay_schedule, what a scenario written by `certchaos explore` replays

A name a new scenario needs is added here, in its group and in __all__.
"""

from __future__ import annotations

from harness.chaos.acme_faults import (
    AcmeAnswerLost, AcmeAuthorizationExpired, AcmeBadNonce, AcmeOrderExpired, AcmeOrderLost, AcmeRateLimited,
    AcmeRefused, AcmeServerError, AcmeSlowFinalize,
)
from harness.chaos.actions import (
    CLEANED_UP, backdate_last_failure, expire_authorizations, issued_and_due_for_a_fresh_challenge, rotate_access_key,
    standby_controller, trigger_renewal,
)
from harness.chaos.aws_faults import (
    AccessKeyDeactivated, Route53ChangesPending, Route53PolicyDetached, Route53PolicyNarrowed, Route53Refuses,
)
from harness.chaos.admission import (
    REFUSED, TIMED_OUT, UNREACHABLE, admission_of, admission_of_change, denied_by_webhook, invalid_probe, webhook_unreachable,
)
from harness.chaos.certificates import certificate, create_certificate
from harness.chaos.dns_faults import PropagationLag, TsigKeyRevoked, TsigPolicyNarrowed
from harness.chaos.ingress_faults import (
    ARecordElsewhere, HttpsRedirectInFront, IngressControllerDown, NodeLabelRemoved, SolverIngressClassWrong,
)
from harness.chaos.invariants import issuance_starts
from harness.chaos.kube_faults import CertificateRequestDeleted, SecretMisplaced
from harness.chaos.node_faults import NodeDown
from harness.chaos.process_faults import Controller, ControllerKilled, ControllerStopped
from harness.chaos.proxy_faults import ProxyDown, ProxyLatency
from harness.chaos.reload_faults import ReloaderDown
from harness.chaos.scenario import Limit
from harness.explore.replay import replay_schedule
from harness.explore.schedule import Step
from harness.lab.issuers import create_acme_issuer, delete_cluster_issuer, dns01_zone, rfc2136_solver
from harness.observe.conditions.acme import (
    challenge_presented, challenge_reason_contains, challenge_state, challenges_gone, order_reason_contains,
    order_state,
)
from harness.observe.conditions.acme_layer import acme_requests, retries, statuses_per_url
from harness.observe.conditions.alerts import (
    ABSENT, ACME_ERRORS, NOT_READY, alert_state, certificate_labels, certificates_quiet, no_alert_firing,
    notification_received,
)
from harness.observe.conditions.certificates import (
    certificate_condition, certificate_done_issuing, certificate_event, certificate_not_ready, certificate_ready,
    certificate_request_condition, certificate_request_count, certificate_request_replaced,
    certificate_status_field, renewal_due, secret_serial_changed,
)
from harness.observe.conditions.controller import (
    controller_flag, controller_go_module, controller_log, go_duration_seconds, issuance_backoff_announced,
    next_issuance_attempts,
)
from harness.observe.conditions.aws import route53_answers
from harness.observe.conditions.dns import ca_answers, first_seen, gaps, refused_updates, txt_queries
from harness.observe.conditions.general import all_of, holds_throughout, holds_until, not_
from harness.observe.conditions.http01 import (
    challenge_path_redirected, serves_secret, shim_certificate, solver_pod_unschedulable, solver_pods_scheduled,
    solvers_gone, solvers_present,
)
from harness.observe.conditions.kube import event_on
from harness.observe.conditions.lease import lease_held_by, lease_taken_over, lease_unrenewed, lease_view
from harness.observe.conditions.metrics import (
    acme_duration_totals, acme_request_total, acme_requests_at_least, certificate_metrics_equal,
    certificate_ready_metric, mean_durations,
)
from harness.observe.conditions.nodes import node_paths_to, node_ready, pod_nodes, ready_endpoints, ready_pods_on
from harness.observe.resources import CERTIFICATE, SECRET, epoch, get, related
from harness.observe.served import every_pod_file, every_pod_serves
from harness.observe.tlsinspect import inspect_secret, secret_data
from harness.pytest_plugin import NOT_APPLICABLE_PREFIX
from harness.report.journal import EntryKind
from harness.stack.certmanager import CONTROLLER_LEASE, LEADER_ELECTION_NAMESPACE, NAMESPACE
from harness.stack.kind.provider import KUBELET_SYNC_FREQUENCY, NODE_MONITOR_GRACE_PERIOD, UNREACHABLE_TOLERATION_SECONDS
from harness.stack.timings import (
    CHALLENGE_BACKOFF_MAX, DNS01_CHECK_RETRY_PERIOD, DNS01_CHECK_WAIT, HTTP01_ISSUANCE,
    ISSUANCE, ROUTE53_CHANGE_POLL, ROUTE53_CHANGE_WAIT,
    challenge_backoff, challenge_retry_gaps, challenge_retry_mismatch, issuance_backoff, renewal_time,
)
from harness.wait import Seen, wait_for
from harness.workloads.deploy import restart as restart_workload, rolled_out
from harness.workloads.bench import ReloadBench, prepare_images
from harness.workloads.manifests import IGNORE_ANNOTATION, MATCH_ANNOTATION, MOUNT, WITNESS, Workload
from harness.workloads.reloader import NAME as RELOADER_NAME, data_hash, env_var_name
from harness.workloads.ingress import annotated_ingress, create_ingress

__all__ = [
    # building
    "certificate", "create_certificate", "annotated_ingress", "create_ingress", "create_acme_issuer",
    "rfc2136_solver", "dns01_zone", "delete_cluster_issuer",
    # faults
    "AcmeAnswerLost", "AcmeAuthorizationExpired", "AcmeBadNonce", "AcmeOrderExpired", "AcmeOrderLost", "AcmeRefused",
    "AcmeRateLimited", "AcmeServerError", "AcmeSlowFinalize", "Controller", "ControllerKilled", "ControllerStopped",
    "CertificateRequestDeleted", "SecretMisplaced", "NodeDown", "PropagationLag", "ProxyDown", "ProxyLatency", "ReloaderDown", "TsigKeyRevoked", "TsigPolicyNarrowed",
    "ARecordElsewhere", "HttpsRedirectInFront", "IngressControllerDown", "NodeLabelRemoved",
    "SolverIngressClassWrong",
    "AccessKeyDeactivated", "Route53ChangesPending", "Route53PolicyDetached", "Route53PolicyNarrowed",
    "Route53Refuses",
    # actions
    "CLEANED_UP", "backdate_last_failure", "expire_authorizations", "issued_and_due_for_a_fresh_challenge",
    "rotate_access_key", "standby_controller", "trigger_renewal",
    # conditions: admission (they create probe Certificates); admission_of, one dry-run create's answer
    "REFUSED", "TIMED_OUT", "UNREACHABLE", "denied_by_webhook", "invalid_probe", "webhook_unreachable",
    "admission_of", "admission_of_change",
    # conditions: combinators and the wait loop
    "Seen", "all_of", "holds_throughout", "holds_until", "not_", "wait_for",
    # conditions: Events of an object; certificates, ACME, controller, DNS, leases, metrics, nodes, alerts
    "event_on",
    "certificate_condition", "certificate_done_issuing", "certificate_event", "certificate_not_ready",
    "certificate_ready", "certificate_request_condition", "certificate_request_count",
    "certificate_request_replaced", "certificate_status_field", "renewal_due", "secret_serial_changed",
    "challenge_presented", "challenge_reason_contains", "challenge_state", "challenges_gone",
    "order_reason_contains", "order_state", "acme_requests", "retries", "statuses_per_url",
    "challenge_path_redirected", "serves_secret", "shim_certificate", "solver_pod_unschedulable",
    "solver_pods_scheduled", "solvers_gone", "solvers_present",
    "controller_flag", "controller_go_module", "controller_log", "go_duration_seconds", "issuance_backoff_announced",
    "next_issuance_attempts", "issuance_starts",
    "ca_answers", "first_seen", "gaps", "refused_updates", "txt_queries",
    "route53_answers",
    "lease_held_by", "lease_taken_over", "lease_unrenewed", "lease_view",
    "acme_duration_totals", "acme_request_total", "acme_requests_at_least", "certificate_metrics_equal",
    "certificate_ready_metric", "mean_durations",
    "node_paths_to", "node_ready", "pod_nodes", "ready_endpoints", "ready_pods_on",
    "ABSENT", "ACME_ERRORS", "NOT_READY", "alert_state", "certificate_labels", "certificates_quiet",
    "no_alert_firing", "notification_received",
    # timings
    "CHALLENGE_BACKOFF_MAX", "DNS01_CHECK_RETRY_PERIOD", "DNS01_CHECK_WAIT", "ISSUANCE",
    "HTTP01_ISSUANCE",
    "challenge_backoff", "challenge_retry_gaps", "challenge_retry_mismatch", "issuance_backoff", "renewal_time",
    "ROUTE53_CHANGE_POLL", "ROUTE53_CHANGE_WAIT",
    "KUBELET_SYNC_FREQUENCY", "NODE_MONITOR_GRACE_PERIOD", "UNREACHABLE_TOLERATION_SECONDS",
    # limits
    "Limit",
    # resources and what pods serve
    "CERTIFICATE", "SECRET", "epoch", "get", "related", "inspect_secret", "secret_data",
    "every_pod_file", "every_pod_serves",
    # names
    "CONTROLLER_LEASE", "LEADER_ELECTION_NAMESPACE", "NAMESPACE", "EntryKind", "NOT_APPLICABLE_PREFIX",
    # workloads
    "IGNORE_ANNOTATION", "MATCH_ANNOTATION", "MOUNT", "RELOADER_NAME", "WITNESS", "ReloadBench", "Workload", "data_hash", "env_var_name", "prepare_images",
    "restart_workload", "rolled_out",
    # exploration
    "Step", "replay_schedule",
]
