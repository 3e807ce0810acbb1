"""The upgrade check as phases, each timed and recorded with its verdict, run in order until one fails:

    validate   the setup against version A's CRDs (nothing runs yet)
    start      the lab with A's binaries
    apply      the setup pointed at the lab (every rewrite printed), the lab's zones and TSIG keys
    ready      every issuer and Certificate Ready (ingress-shim's for annotated Ingresses too); record spec, serial,
               key, revision per certificate, the CertificateRequests, each issuer's spec
    upgrade    in place to B (Lab.upgrade_cert_manager): on local CRDs, RBAC, webhook, cainjector, controller;
               on kind B's images, CRDs, `helm upgrade` with the same values
    kept       B's controller holds the Lease, then nothing it must keep changes for KEPT_WINDOW (no re-issue unless
               due, no spec changed, every issuer still Ready with its spec, its solvers read the same: a Route 53
               solver is still one, as written)
    webhook    B's webhook admits every setup object (server-side dry run of an update)
    renewal    each certificate renewed on B (cmctl renew), a new serial and revision, Ready (HTTP-01's: next phase);
               a Route 53 solver's renewal reached its hosted zone through the lab's AWS API
    http01     kind: each certificate of an HTTP-01 issuer renewed on B, witnessed end to end (harness.upgrade.http01),
               then no solver object left; not applicable (why said) where the provider runs no solver pods or
               the setup has no HTTP-01 issuer
    catalogue  the scenario catalogue (or -k part) on B, then on A, each as `certchaos run` runs it

Whatever happens, the lab is stopped (also on Ctrl-C) and the report says which phase failed and why.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, TextIO

from kubernetes import client

from harness.chaos.actions import trigger_renewal
from harness.errors import HarnessError
from harness.lab.issuers import NEGATIVE_TTL, TSIG_ALGORITHM
from harness.lab import providers
from harness.lab.lab import Lab, LabClient
from harness.observe.conditions.general import holds_throughout
from harness.observe.conditions.lease import lease_held_by
from harness.observe.metrics import scrape
from harness.observe.resources import EVENT, list_objects
from harness.stack import certmanager, support
from harness.observe.conditions.http01 import solvers_gone
from harness.observe.resources import CERTIFICATE, get
from harness.upgrade import certificates, route53, setup
from harness.upgrade.http01 import Http01Witness, missing
from harness.upgrade.rewrite import (HTTP01_NOT_APPLICABLE, ISSUER_KINDS, LabTarget, Rewritten, http01_issuers,
                                     issuer_key, issuers_of, rewrite, route53_needs)
from harness.upgrade.solvers import issuer_solvers, solver_changes, solver_type
from harness.workloads import ingress
from harness.upgrade.versions import VersionBinaries
from harness.wait import Seen, WaitTimeout, wait_for

# Deadlines (multiplied by CERTCHAOS_TIME_SCALE). An ACME DNS-01 issuance takes ~65 s (cert-manager waits
# 60 s after its self-check); certificates issue in parallel, a CA chain in two steps of seconds; 300 s
# covers several ACME issuers and a loaded 2-core machine.
ISSUANCE = 300.0
# A SIGTERMed controller releases its Lease; the new one takes it on its next retry (15 s retry period,
# measured 15-30 s under load); a crashed one's lease expires after 60 s.
LEASE = 120.0
# After B's controller leads, a re-issue caused by the upgrade shows within its first sync of every
# Certificate (a new CertificateRequest within seconds, measured < 5 s on an idle lab); 30 s of nothing
# changing is the evidence. Scaled too.
KEPT_WINDOW = 30.0
# ingress-shim makes an annotated Ingress's Certificate on its first sync (0.4-0.8 s measured on kind); margin.
SHIMMED = 60.0
# An issuer turns Ready on its next sync once what it needs exists (a CA issuer: its CA's Secret): seconds.
ISSUERS_READY = 60.0
# Solver objects go once the Challenge is final (the Order deletes it, its finalizer cleans up): seconds.
SOLVERS_CLEANED = 60.0
CATALOGUE = 60 * 60.0  # the whole catalogue takes ~10 min on this machine; an hour means it hung
CHILD_STOP = 60.0  # a lab stops in ~5-15 s; a minute before it is killed
SYSTEM_ROOTS = "/etc/ssl/certs/ca-certificates.crt"  # Debian's bundle, what Go reads when SSL_CERT_FILE is unset
SETUP_KINDS = ("Issuer", "ClusterIssuer", "Certificate")  # what cert-manager's webhook admits
# The renewals are Ready when this is asked, so their changes were answered already: seconds for a loaded poll.
ROUTE53_EVIDENCE = 15.0


def time_scale() -> float:
    return float(os.environ.get("CERTCHAOS_TIME_SCALE") or 1.0)


class CheckFailed(Exception):
    """A check found cert-manager not doing what the upgrade promises (a deviation, not a harness error)."""


class NotApplicableHere(Exception):
    """The phase has nothing it can check with this provider and setup; the message says why."""


@dataclass
class Phase:
    name: str
    verdict: str = "not run"  # passed, failed (the upgrade broke something), error (the harness or input), not run
    started_at: float | None = None
    seconds: float | None = None
    detail: dict = field(default_factory=dict)
    error: str | None = None
    reason: str | None = None  # why a phase is not applicable


PHASES = ("validate", "start", "apply", "ready", "upgrade", "kept", "webhook", "renewal", "http01", "catalogue")
DONE = ("passed", "skipped", "not applicable")  # verdicts of a check that passed


@dataclass
class UpgradeCheck:
    source: VersionBinaries
    target: VersionBinaries
    setup_dir: Path
    report_dir: Path
    keyword: str | None = None  # -k of the catalogue
    catalogue: bool = True
    provider: str = "local"  # a provider that installs cert-manager (harness.lab.providers): local or kind
    values: Path | None = None  # kind: the user's Helm values, after the lab's, for A's install and B's upgrade
    kubernetes: str | None = None  # local: another Kubernetes than the lab's default (harness.stack.binaries)
    unsupported_allowed: bool = False  # --allow-unsupported-kubernetes: the catalogue's runs need it too
    out: TextIO = sys.stdout
    phases: dict[str, Phase] = field(default_factory=dict)
    facts: dict = field(default_factory=dict)  # what the report compares (snapshots, metrics, events, runs)
    issuers: list = field(default_factory=list)  # the applied setup's issuers, (kind, namespace or None, name)
    ingress_controller: ingress.IngressController | None = None  # the lab's, when the setup solves HTTP-01

    def __post_init__(self):
        self.phases = {name: Phase(name) for name in PHASES}
        if not self.catalogue:
            self.phases["catalogue"].verdict = "skipped"

    def say(self, text: str) -> None:
        print(f"upgrade-check: {text}", file=self.out, flush=True)

    def _phase(self, name: str, action: Callable[[], dict | None]) -> None:
        phase = self.phases[name]
        phase.started_at = time.time()
        started = time.monotonic()
        self.say(f"phase {name} ...")
        try:
            phase.detail = action() or {}
            phase.verdict = "passed"
        except NotApplicableHere as why:
            phase.verdict, phase.reason = "not applicable", str(why)
        except (CheckFailed, WaitTimeout) as failure:
            phase.verdict, phase.error = "failed", str(failure)
            raise
        except BaseException as error:  # noqa: BLE001 - recorded, then re-raised to stop the run
            phase.verdict = "interrupted" if isinstance(error, KeyboardInterrupt) else "error"
            phase.error = f"{type(error).__name__}: {error}"
            raise
        finally:
            phase.seconds = round(time.monotonic() - started, 1)
            why = f": {phase.reason}" if phase.reason else ""
            self.say(f"phase {name}: {phase.verdict} in {phase.seconds}s{why}")

    # -- the run ----------------------------------------------------------------------------------

    def run(self, schemas: setup.Schemas, objects: list[setup.SetupObject]) -> bool:
        """All phases; True when every one passed. The lab is always stopped."""
        self.schemas = schemas
        self._environ_before = os.environ.get("SSL_CERT_FILE")
        self.report_dir.mkdir(parents=True, exist_ok=True)
        self._phase("validate", lambda: self._validate(schemas, objects))
        # On kind, a private ACME CA must be trusted when A's controller starts (helm install): decided from A's
        # CRDs now, done by the lab's provision step (harness.lab.providers.kind.trust_values).
        # The lab's run dir holds its keys and tokens: a temp dir, only its logs copied to the report's lab/.
        chart = providers.provider(self.provider).CAPABILITIES.helm_values
        lab = Lab(bin_dir=self.source.bin_dir, logs_to=self.report_dir / "lab", provider=self.provider,
                  values=self.values if chart else None,
                  trust_acme_ca=chart and not acme_ca_bundle_field(schemas), kubernetes=self.kubernetes)
        self.facts["lab_run_dir"] = str(lab.run_dir)
        try:
            self._phase("start", lambda: self._start(lab))
            rewritten = self._run_phase_apply(lab, objects)
            namespaces = sorted({obj.namespace for obj in rewritten.objects if obj.namespace} |
                                {obj.name for obj in rewritten.objects if obj.kind == "Namespace"})
            api = lab.stack.api()
            self._phase("ready", lambda: self._ready(lab, api, namespaces, rewritten))
            self._phase("upgrade", lambda: self._upgrade(lab))
            self._phase("kept", lambda: self._kept(lab, api, namespaces, rewritten))
            self._phase("webhook", lambda: self._webhook(api, rewritten))
            self._phase("renewal", lambda: self._renewal(lab, api, namespaces, rewritten))
            self._phase("http01", lambda: self._http01(lab, api, rewritten))
            # After the same work on each side (issuance on A, renewal on B): a labelled counter exists only
            # once something incremented it, so B's names right after its start would all look "vanished".
            self.facts["metrics_b"] = metric_names(lab.info.metrics_url)
            self.facts["events_after"] = event_reasons(api, namespaces)
        finally:
            self.say("stopping the lab")
            lab.stop()
            if self._environ_before is not None:
                os.environ["SSL_CERT_FILE"] = self._environ_before
            else:
                os.environ.pop("SSL_CERT_FILE", None)
        if self.catalogue:
            self._phase("catalogue", self._catalogue)
        return all(phase.verdict in DONE for phase in self.phases.values())

    def _run_phase_apply(self, lab: Lab, objects) -> Rewritten:
        holder: list[Rewritten] = []
        self._phase("apply", lambda: self._apply(lab, objects, holder))
        return holder[0]

    # -- phases -----------------------------------------------------------------------------------

    def _validate(self, schemas, objects) -> dict:
        return {"objects": len(objects), "kinds": sorted({obj.kind for obj in objects}),
                "checked_against": f"cert-manager {schemas.version} CRDs"}

    def _start(self, lab: Lab) -> dict:
        lab.start()
        components = self.facts["components_a"] = stamped(lab.stack.versions(), self.source)
        return {"cert-manager": components["cert-manager-controller"]}

    def _apply(self, lab: Lab, objects, holder: list) -> dict:
        info = lab.info
        labclient = LabClient(info)
        try:
            # A proxy of its own to Pebble, as each scenario has: the setup's ACME issuers reach the CA the
            # way the lab's issuers do.
            proxy = labclient.proxy_to("acme-upgrade", info.pebble_listen)
            host, port = info.dns_authoritative
            ca_bundle = base64.b64encode(Path(info.pebble_ca_bundle_path).read_bytes()).decode()
            if not acme_ca_bundle_field(self.schemas):
                ca_bundle = None
                self._trust_pebble(lab)
            controller = self._ingress_controller(lab, objects)
            # With the lab's AWS API the setup's Route 53 solvers stay Route 53: their zones and identities first.
            needs = route53_needs(objects) if info.aws is not None else []
            target = LabTarget(acme_server=f"https://{proxy.listen[0]}:{proxy.listen[1]}/dir", ca_bundle=ca_bundle,
                               nameserver=f"{host}:{port}",
                               tsig_secret=base64.b64encode(secrets.token_bytes(32)).decode(),
                               ingress_class=controller and controller.ingress_class,
                               ingress_address=controller and controller.address,
                               aws=route53.provision(labclient, needs) if needs else None)
            rewritten = rewrite(objects, target)
            holder.append(rewritten)
            for change in rewritten.rewrites:
                self.say(f"rewrite: {change}")
            for credential in rewritten.credentials:
                self.say(f"credential replaced: {credential.object} {credential.field}: {credential.what}")
            for left_out in rewritten.not_applicable:
                self.say(f"not applicable: {left_out.object} ({left_out.file}): {left_out.reason}")
            for zone in rewritten.zones:
                labclient.dns.add_zone(zone)
                labclient.dns.set_zone(zone, soa_minimum=NEGATIVE_TTL)
            for name, address in rewritten.a_records:
                labclient.dns.add_record(name, "A", address)
            for key in rewritten.keys:
                names = [n for zone in key.zones for n in (f"_acme-challenge.{zone}", f"_acme-challenge.*.{zone}")]
                labclient.dns.add_key(key.name, TSIG_ALGORITHM, target.tsig_secret, {"names": names, "types": ["TXT"]})
        finally:
            labclient.close()
        api = lab.stack.api()
        ordered = sorted(rewritten.objects, key=lambda o: APPLY_ORDER.get(o.kind, len(APPLY_ORDER)))
        namespaces = {o.namespace for o in rewritten.objects if o.namespace} - {o.name for o in ordered
                                                                               if o.kind == "Namespace"}
        for namespace in sorted(namespaces):
            create(api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, None)
        for secret in rewritten.secrets:
            create(api, secret, secret["metadata"]["namespace"])
        for obj in ordered:
            create(api, obj.body, obj.namespace)
        self.facts["rewrites"] = [vars(change) for change in rewritten.rewrites]
        self.facts["credentials"] = [vars(credential) for credential in rewritten.credentials]
        self.facts["not_applicable"] = [vars(left_out) for left_out in rewritten.not_applicable]
        self.facts["hosted_zones"] = rewritten.hosted_zones
        return {"objects": len(rewritten.objects), "rewrites": len(rewritten.rewrites),
                "zones": rewritten.zones, "tsig_keys": [key.name for key in rewritten.keys],
                "a_records": [f"{name} A {address}" for name, address in rewritten.a_records],
                "not_applicable": [left_out.object for left_out in rewritten.not_applicable],
                "route53_hosted_zones": rewritten.hosted_zones}

    def _ingress_controller(self, lab: Lab, objects) -> ingress.IngressController | None:
        """The lab's ingress controller, installed when the setup solves HTTP-01 and the provider runs solver
        pods (nodes, images loaded into them); None otherwise (the rewrite then leaves HTTP-01 out)."""
        if not http01_issuers(objects) or lab.capabilities.lacking("nodes", "images"):
            return None
        controller = ingress.install(lab.stack.api())
        self.facts["ingress_controller"] = {**asdict(controller), "version": ingress.version()}
        self.say(f"ingress controller: Traefik {ingress.version()}, class {controller.ingress_class}, at "
                 f"{controller.address}:{controller.http_port} (node {controller.node})")
        self.ingress_controller = controller
        return controller

    def _trust_pebble(self, lab: Lab) -> None:
        """For a version whose ACME issuer has no caBundle (v1.10): Pebble's CA joins the system roots in
        the controller's SSL_CERT_FILE, as a user adds a private ACME CA to the image's trust store, and
        the controller is replaced to read it (no Certificate exists yet). B's controller inherits it.
        On kind the lab did it at install (Lab(trust_acme_ca=True)); B's helm upgrade gets the same values."""
        if lab.capabilities.helm_values:
            from harness.lab.providers.kind import TRUST_CONFIG_MAP, TRUST_DIR, TRUST_FILE

            note = (f"cert-manager {self.source.version} has no spec.acme.caBundle: Pebble's CA was added to the "
                    f"controller's trust roots instead, through the chart's values at install: ConfigMap "
                    f"{certmanager.NAMESPACE}/{TRUST_CONFIG_MAP} mounted at {TRUST_DIR} (volumes, volumeMounts), "
                    f"SSL_CERT_FILE={TRUST_DIR}/{TRUST_FILE} (extraEnv); B's helm upgrade gets the same values")
            self.facts.setdefault("notes", []).append(note)
            self.say(note)
            return
        trust = self.report_dir / "controller-trust.pem"
        system = Path(SYSTEM_ROOTS)
        trust.write_bytes((system.read_bytes() if system.is_file() else b"")
                          + Path(lab.info.pebble_ca_bundle_path).read_bytes())
        self._environ_before = os.environ.get("SSL_CERT_FILE")
        os.environ["SSL_CERT_FILE"] = str(trust)
        lab.stack.replace_controller(supervised=True)
        note = (f"cert-manager {self.source.version} has no spec.acme.caBundle: Pebble's CA was added to the "
                f"controller's trust roots instead (SSL_CERT_FILE={trust})")
        self.facts.setdefault("notes", []).append(note)
        self.say(note)

    def _ready(self, lab: Lab, api, namespaces: list[str], rewritten: Rewritten) -> dict:
        shimmed = shim_certificates(rewritten)
        if shimmed:
            wait_for(certificates_exist(api, shimmed), subject="ingress-shim's Certificates of the annotated Ingresses",
                     expected=f"{', '.join(shimmed)} made", timeout=SHIMMED * time_scale(), interval=1.0)
        wait_for(certificates.all_ready(api, namespaces), subject=f"the setup's Certificates in {', '.join(namespaces)}",
                 expected="all Ready=True with a certificate and key", timeout=ISSUANCE * time_scale(), interval=1.0)
        self.issuers = [issuer_key(obj) for obj in rewritten.objects if obj.kind in ISSUER_KINDS]

        def issuers_ready() -> Seen:  # a CA issuer turns Ready a moment after its CA's Secret is issued
            before = self.facts["before"] = certificates.snapshot(api, namespaces, self.issuers)
            not_ready = {ref: facts and facts["ready"] for ref, facts in before["issuers"].items()
                         if not facts or facts["ready"] != "True"}
            return Seen(not not_ready, not_ready or "all Ready")

        try:
            wait_for(issuers_ready, subject="the setup's issuers", expected="all Ready=True",
                     timeout=ISSUERS_READY * time_scale(), interval=1.0)
        except WaitTimeout as timeout:
            raise HarnessError(f"issuers of the setup not Ready on A, with every Certificate issued: {timeout}") from None
        before = self.facts["before"]
        self.facts["solvers_before"] = issuer_solvers(api, rewritten.objects)
        self.facts["metrics_a"] = metric_names(lab.info.metrics_url)
        self.facts["events_before"] = event_reasons(api, namespaces)
        return {"certificates": before["certificates"], "certificate_requests": before["requests"],
                "issuers": sorted(before["issuers"]), "shimmed": shimmed}

    def _upgrade(self, lab: Lab) -> dict:
        steps = []
        lab.upgrade_cert_manager(self.target.bin_dir,
                                 on_step=lambda step: (steps.append(step), self.say(f"upgrade: {step}")))
        components = self.facts["components_b"] = stamped(lab.stack.versions(), self.target)
        return {"steps": steps, "cert-manager": components["cert-manager-controller"]}

    def _kept(self, lab: Lab, api, namespaces: list[str], rewritten: Rewritten) -> dict:
        # B's controller pod: its name is its hostname, the prefix of its Lease identity (on kind, the running
        # pod of B's image once helm's rollout is done; on local, the pod sandbox's hostname).
        pod = lab.stack.controller_pod
        if not pod:
            raise HarnessError("after the upgrade no controller of B is running to hold the Lease")
        lease = wait_for(lease_held_by(api, certmanager.LEADER_ELECTION_NAMESPACE, certmanager.CONTROLLER_LEASE, pod),
                         subject="the controller Lease", expected=f"held by B's controller {pod}",
                         timeout=LEASE * time_scale(), interval=1.0)
        window = KEPT_WINDOW * time_scale()
        try:
            wait_for(holds_throughout(certificates.unchanged_since(api, namespaces, self.facts["before"], self.issuers),
                                      window),
                     subject="the setup's certificates and issuers after the upgrade",
                     expected=f"no re-issue unless due, no new CertificateRequest, no spec changed, all still Ready "
                              f"for {window:.0f}s",
                     timeout=window + 30.0, interval=1.0)  # +30 s: polls of a loaded API server
        except Exception as error:
            raise CheckFailed(f"the upgrade changed certificates: {error}") from error
        return {"lease": lease, "unchanged_for": window, "solvers": self._solvers_kept(api, rewritten)}

    def _solvers_kept(self, api, rewritten: Rewritten) -> dict:
        """Every issuer's solvers read as before the upgrade (else CheckFailed naming each change); their types."""
        before, after = self.facts["solvers_before"], issuer_solvers(api, rewritten.objects)
        changed = solver_changes(before, after)
        if changed:
            raise CheckFailed("the upgrade changed how the setup's issuers solve challenges:\n  " + "\n  ".join(changed))
        return {ref: [solver_type(s) for s in solvers or []] for ref, solvers in after.items()}

    def _webhook(self, api, rewritten: Rewritten) -> dict:
        admitted, refused = [], []
        for obj in rewritten.objects:
            if obj.kind not in SETUP_KINDS:
                continue
            try:
                dry_run_update(api, obj)
                admitted.append(obj.ref)
            except client.ApiException as error:
                refused.append(f"{obj.ref}: {error.status} {_message(error)}")
        if refused:
            raise CheckFailed("B's webhook refused setup objects: " + "; ".join(refused))
        return {"admitted": admitted}

    def _renewal(self, lab: Lab, api, namespaces: list[str], rewritten: Rewritten) -> dict:
        since = time.time()
        now = certificates.snapshot(api, namespaces)["certificates"]
        over_http01 = issued_over_http01(now, rewritten)
        result = {"renewed": renew(api, {ref: facts for ref, facts in now.items() if ref not in over_http01}),
                  "left_to_phase_http01": sorted(over_http01)}
        if not rewritten.hosted_zones:
            return result
        labclient = LabClient(lab.info)
        try:  # the renewals are done: their changes were answered already (a short wait for a loaded machine)
            result["route53_changes_accepted"] = wait_for(
                route53.changes_accepted(labclient, rewritten.hosted_zones, since),
                subject="the Route 53 hosted zones of the setup's solvers",
                expected="a change accepted on each by the AWS API since the renewal began",
                timeout=ROUTE53_EVIDENCE * time_scale(), interval=1.0)
        except WaitTimeout as error:
            raise CheckFailed(f"the renewal on B did not go through Route 53: {error}") from error
        finally:
            labclient.close()
        return result

    def _http01(self, lab: Lab, api, rewritten: Rewritten) -> dict:
        if rewritten.not_applicable:
            raise NotApplicableHere(f"{HTTP01_NOT_APPLICABLE} (left out: "
                                    f"{', '.join(n.object for n in rewritten.not_applicable)})")
        if not rewritten.http01_issuers:
            raise NotApplicableHere("the setup has no HTTP-01 issuer")
        namespaces = sorted({obj.namespace for obj in rewritten.objects if obj.namespace})
        now = certificates.snapshot(api, namespaces)["certificates"]
        chosen = {ref: now[ref] for ref in issued_over_http01(now, rewritten)}
        controller = self.ingress_controller
        witness = Http01Witness(api, sorted({ref.split("/")[0] for ref in chosen}), controller.address,
                                controller.http_port).start()
        labclient = LabClient(lab.info)
        try:
            renewed = renew(api, chosen)
            names = {ref: facts["spec"].get("dnsNames") or [] for ref, facts in chosen.items()}

            def evidence() -> Seen:
                answers = witness.ca_answers(labclient.dns, sorted({n for found in names.values() for n in found}))
                lacking = [gap for found in names.values()
                           for gap in missing(found, witness.seen(), answers, controller.address)]
                return Seen(not lacking, {"missing": lacking, "challenges": [c.view() for c in witness.seen()],
                                          "ca_lookups": answers, "witness errors": witness.errors[-3:]})

            try:
                seen = wait_for(evidence, subject="the renewals over HTTP-01 on B",
                                expected="each name's Challenge, solver pod Running, route serving the key at the "
                                         "ingress controller, the CA's lookup of the name and the Challenge valid",
                                timeout=30.0 * time_scale(), interval=1.0)  # all seen by the time it renewed
                for namespace in witness.namespaces:
                    wait_for(solvers_gone(api, namespace), subject=f"HTTP-01 solvers of {namespace}",
                             expected="every solver pod, Service and Ingress deleted",
                             timeout=SOLVERS_CLEANED * time_scale(), interval=1.0)
            except WaitTimeout as error:
                raise CheckFailed(f"a renewal over HTTP-01 on B did not go the whole way: {error}") from error
        finally:
            labclient.close()
            witness.stop()
        return {"renewed": renewed, "issuers": [" ".join(filter(None, key)) for key in rewritten.http01_issuers],
                "challenges": seen["challenges"], "ca_lookups": seen["ca_lookups"], "solvers": "none left"}

    def _catalogue(self) -> dict:
        runs = {}
        for side, versions in (("B", self.target), ("A", self.source)):
            # One lab at a time (on kind: one cluster per side, B's stopped before A's starts).
            runs[side] = run_catalogue(versions, self.report_dir / f"catalogue-{side}", self.keyword, self.say,
                                       provider=self.provider, values=self.values, kubernetes=self.kubernetes,
                                       unsupported_allowed=self.unsupported_allowed)
        self.facts["catalogue"] = runs
        if runs["B"]["returncode"] != 0:
            raise CheckFailed(f"the catalogue did not pass on B (exit {runs['B']['returncode']}); "
                              f"see {runs['B']['report_dir']}/summary.md")
        return {side: {"returncode": run["returncode"], "report_dir": run["report_dir"]} for side, run in runs.items()}


APPLY_ORDER = {"Namespace": 0, "Secret": 1, "ClusterIssuer": 2, "Issuer": 3, "Certificate": 4, "Ingress": 5}
_PLURALS = {"Issuer": "issuers", "ClusterIssuer": "clusterissuers", "Certificate": "certificates"}


def renew(api, chosen: dict[str, dict]) -> dict:
    """Each certificate of `chosen` (ref -> Kept as dict) renewed as `cmctl renew` does, then each awaited."""
    for ref in chosen:
        trigger_renewal(api, *ref.split("/"))
    return {ref: wait_for(certificates.renewed(api, *ref.split("/"), facts), subject=f"Certificate {ref}",
                          expected=f"renewed on B: revision > {facts['revision']}, a new serial, Ready",
                          timeout=ISSUANCE * time_scale(), interval=1.0)
            for ref, facts in chosen.items()}


def issued_over_http01(found: dict[str, dict], rewritten: Rewritten) -> set[str]:
    """The refs of `found` (ref -> Kept as dict, with spec) whose issuer solves HTTP-01."""
    issuers = set(rewritten.http01_issuers)
    chosen = set()
    for ref, facts in found.items():
        namespace = ref.split("/")[0]
        issuer = (facts.get("spec") or {}).get("issuerRef") or {}
        kind = issuer.get("kind") or "Issuer"
        if (kind, namespace if kind == "Issuer" else None, issuer.get("name")) in issuers:
            chosen.add(ref)
    return chosen


def shim_certificates(rewritten: Rewritten) -> list[str]:
    """ns/name of the Certificate ingress-shim makes per tls entry of each annotated Ingress (named after the
    entry's secretName: pkg/controller/certificate-shim/sync.go)."""
    return sorted({f"{obj.namespace}/{tls['secretName']}" for obj in rewritten.objects
                   if obj.kind == "Ingress" and issuers_of(obj)
                   for tls in (obj.body.get("spec") or {}).get("tls") or [] if tls.get("secretName")})


def certificates_exist(api, refs: list[str]):
    def condition_() -> Seen:
        absent = [ref for ref in refs if get(api, CERTIFICATE, *ref.split("/")) is None]
        return Seen(not absent, {"absent": absent})
    return condition_


def acme_ca_bundle_field(schemas: setup.Schemas) -> bool:
    """Whether this version's ACME issuers have spec.acme.caBundle (added in v1.11)."""
    for kind in ("Issuer", "ClusterIssuer"):
        schema = schemas.by_kind.get(("cert-manager.io/v1", kind), {})
        acme = schema.get("properties", {}).get("spec", {}).get("properties", {}).get("acme", {})
        if "caBundle" not in acme.get("properties", {}):
            return False
    return True


def stamped(components: dict, side: VersionBinaries) -> dict:
    """Components as the stack reports them; a pinned build whose binary cannot say its version (v1.10's
    controller, webhook and cainjector have no --version) gets the version it was built as, marked so."""
    result = {}
    for name, facts in components.items():
        if name.startswith("cert-manager-") and facts["version"] == "unknown" and side.source == "pinned":
            facts = {**facts, "version": side.version, "version_from": "versions.toml pin (no --version)"}
        result[name] = facts
    return result


def _message(error: client.ApiException) -> str:
    try:
        return json.loads(error.body).get("message", error.reason)
    except (TypeError, ValueError):
        return str(error.reason)


def create(api, body: dict, namespace: str | None) -> None:
    """Create one object of the setup (cert-manager kinds and the few core kinds setup.CORE_KINDS allows)."""
    kind = body["kind"]
    try:
        if kind in _PLURALS:
            objects = client.CustomObjectsApi(api)
            group, version = body["apiVersion"].split("/")
            if namespace:
                objects.create_namespaced_custom_object(group, version, namespace, _PLURALS[kind], body)
            else:
                objects.create_cluster_custom_object(group, version, _PLURALS[kind], body)
        elif kind == "Namespace":
            client.CoreV1Api(api).create_namespace(body)
        elif kind == "Secret":
            client.CoreV1Api(api).create_namespaced_secret(namespace, body)
        elif kind == "Ingress":
            client.NetworkingV1Api(api).create_namespaced_ingress(namespace, body)
        else:
            raise HarnessError(f"cannot apply {kind} {body['metadata']['name']}")
    except client.ApiException as error:
        if error.status == 409 and kind in ("Namespace",) or (kind == "Secret" and error.status == 409):
            return  # the namespace exists (cert-manager's own), or the Secret was already there
        raise HarnessError(f"applying {kind} {namespace or ''}/{body['metadata']['name']}: {error.status} "
                           f"{_message(error)}") from error


def dry_run_update(api, obj: setup.SetupObject) -> None:
    """`kubectl apply --dry-run=server` of a setup object that exists: an update through admission
    (the webhook) that is never stored."""
    objects = client.CustomObjectsApi(api)
    group, version = obj.body["apiVersion"].split("/")
    plural = _PLURALS[obj.kind]
    if obj.namespace:
        current = objects.get_namespaced_custom_object(group, version, obj.namespace, plural, obj.name)
    else:
        current = objects.get_cluster_custom_object(group, version, plural, obj.name)
    body = {**obj.body, "metadata": {**obj.body["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}}
    if obj.namespace:
        objects.replace_namespaced_custom_object(group, version, obj.namespace, plural, obj.name, body, dry_run="All")
    else:
        objects.replace_cluster_custom_object(group, version, plural, obj.name, body, dry_run="All")


def metric_names(url: str) -> list[str]:
    return sorted({sample.name for sample in scrape(url)})


# The kinds whose Events say what cert-manager did with the setup. A setup may keep a Secret in cert-manager's
# own namespace; on kind its pods, ReplicaSets and Jobs are there too, and their rollout Events are the
# upgrade's mechanics, not a change in cert-manager's behaviour.
SETUP_EVENT_KINDS = ("Certificate", "CertificateRequest", "Issuer", "ClusterIssuer", "Order", "Challenge",
                     "Ingress", "Secret")


def event_reasons(api, namespaces: list[str]) -> dict[str, int]:
    """Event reason -> count, over the namespaces (what cert-manager said about the setup's objects)."""
    reasons: dict[str, int] = {}
    for namespace in namespaces:
        for event in list_objects(api, EVENT, namespace):
            if event["involvedObject"].get("kind") not in SETUP_EVENT_KINDS:
                continue
            reason = f"{event['involvedObject'].get('kind')}/{event.get('reason')}"
            reasons[reason] = reasons.get(reason, 0) + int(event.get("count") or 1)
    return reasons


def catalogue_command(versions: VersionBinaries, report_dir: Path, keyword: str | None, *,
                      provider: str = "local", values: Path | None = None, kubernetes: str | None = None,
                      unsupported_allowed: bool = False) -> list[str]:
    """`certchaos run` of one side: its bin dir, and on kind the provider and the user's values; the check's
    Kubernetes (and its override of an unsupported pairing)."""
    command = [sys.executable, "-m", "harness.cli", "run", "--report-dir", str(report_dir)]
    if versions.bin_dir is not None:
        command += ["--bin-dir", str(versions.bin_dir)]
    if provider != providers.DEFAULT:
        command += ["--provider", provider]
    if values is not None and providers.provider(provider).CAPABILITIES.helm_values:
        command += ["--values", str(values)]
    if kubernetes is not None:
        command += ["--kubernetes", kubernetes]
    if unsupported_allowed:
        command.append(support.OVERRIDE)
    if keyword:
        command += ["-k", keyword]
    return command


def run_catalogue(versions: VersionBinaries, report_dir: Path, keyword: str | None, say, *,
                  provider: str = "local", values: Path | None = None, kubernetes: str | None = None,
                  unsupported_allowed: bool = False) -> dict:
    """`certchaos run` (its own lab) with the version's bin dir; its exit code and report dir."""
    command = catalogue_command(versions, report_dir, keyword, provider=provider, values=values,
                                kubernetes=kubernetes, unsupported_allowed=unsupported_allowed)
    say(f"catalogue on {versions.version}: {' '.join(command[2:])} (output in {report_dir}.log)")
    with open(f"{report_dir}.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            returncode = process.wait(timeout=CATALOGUE)
        except BaseException:
            # Ctrl-C (or the deadline): the child stops its lab on SIGINT; a minute later it is killed.
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=CHILD_STOP)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            raise
    return {"version": versions.version, "returncode": returncode, "report_dir": str(report_dir)}
