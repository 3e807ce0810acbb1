"""The docker-less "local" provider: the real stack as local processes on loopback, the way envtest does it.

etcd -> kube-apiserver -> kube-controller-manager -> cert-manager CRDs -> the chart's RBAC and
ServiceAccounts (rendered by helm) and a token kubeconfig per component -> cert-manager webhook (+ its
Validating/MutatingWebhookConfigurations by URL) -> cainjector -> cert-manager controller. cert-manager
runs as it runs in a cluster: as its own ServiceAccounts with the chart's RBAC, leader election on (the
chart's namespace kube-system, cert-manager's default lease timings), the controller with a pod's own
hostname (its lease identity) and resolv.conf (see pod.py). Each component logs to
<run-dir>/logs/<name>.log and has a readiness check with a deadline; teardown runs in reverse, also on
Ctrl-C and on a failed start.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Sequence

from kubernetes import client

from harness.stack.leftovers import owned_prefix
from harness.errors import ComponentFailed
from harness.stack import binaries, certmanager, versions
from harness.stack.netjail import LoopbackJail
from harness.stack.kube import api_client, apply_crds, apply_rbac, ensure_namespace, write_kubeconfig
from harness.stack.pod import pod_argv, pod_name, write_resolv_conf
from harness.stack.pki import RunPKI
from harness.stack.ports import LOOPBACK, free_port, port_or_free
from harness.stack.probes import http_ok, log_contains
from harness.stack.support import minor as supported_minor
from harness.stack.process import ManagedProcess
from harness.stack.protocol import LOCAL
from harness.wait import Seen, wait_for
from harness.stack.service import Service, sigint_ignored, wait_until_interrupted

# Readiness deadlines. A cold kube-apiserver bootstraps RBAC and priority levels before /readyz turns
# green: ~5-10 s on an idle 2-core machine; the others are ready in a few seconds. The margins cover a
# CI machine that is also compiling or running other suites.
ETCD_READY = 30.0
APISERVER_READY = 90.0
COMPONENT_READY = 60.0

CONTROLLERS = (
    "garbagecollector", "namespace", "deployment", "replicaset", "endpoint", "endpointslice",
    "serviceaccount", "serviceaccount-token",
)
STACK_MARKER = "CERTCHAOS_STACK"
# cert-manager up to v1.12 can crash at start with "fatal error: concurrent map read and map write" while
# leader election decodes its Lease (cert-manager issue #6822; seen here with v1.11.5): in a cluster the
# kubelet restarts the container. Three crashes in a row would be a real failure to start.
CONTROLLER_START_ATTEMPTS = 3
SERVICE_CIDR = "10.96.0.0/16"  # only allocated, never routed: no Service traffic leaves loopback here


def stack_processes(run_dir: Path) -> list[int]:
    """PIDs of the running processes of the stack whose run dir is `run_dir` (they carry STACK_MARKER)."""
    marker = f"{STACK_MARKER}={Path(run_dir).resolve()}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and marker in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return found


def _scratch_dir(purpose: str) -> Path:
    """A fresh, short-named dir on tmpfs when there is one: etcd's data (etcd fsyncs every write; the data
    is thrown away) and the webhook jail's unix sockets (a socket path must stay under 108 bytes, which a
    run dir inside a long --report-dir would exceed).

    The name carries the harness's PID, so dirs left by a harness that was SIGKILLed are removed here.
    """
    shm = Path("/dev/shm")
    parent = shm if shm.is_dir() else Path(tempfile.gettempdir())
    for stale in parent.glob(f"certchaos-{purpose}-*-*"):
        pid = stale.name.split("-")[2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"certchaos-{purpose}-{os.getpid()}-", dir=parent))


class LocalStack(Service):
    """The running local stack. Use as a context manager, or start()/stop()."""

    capabilities = LOCAL  # harness.stack.protocol.LOCAL

    def __init__(
        self,
        bin_dir: str | os.PathLike | None = None,
        run_dir: str | os.PathLike | None = None,
        api_port: int | None = None,
        dns01_recursive_nameservers: Sequence[str] = (),
        controller_args: Sequence[str] = (),
        dns01_recursive_nameservers_only: bool = True,
        pod_dns: str | None = None,
        controller_env: dict[str, str] | None = None,
        kubernetes: str | None = None,
    ):
        """`dns01_recursive_nameservers_only` False: the DNS-01 self-check asks the zone's authoritative
        nameservers (cert-manager's default) found through the recursive ones; `pod_dns` is the
        nameserver of the controller's resolv.conf (the pod's cluster DNS), which resolves their names;
        `controller_env` joins the controller's environment (the lab's AWS CA bundle and proxy); `kubernetes`: the
        API server's and controller manager's version (None: the default; binaries.kubernetes_versions())."""
        self.bin_dir = bin_dir
        self.kubernetes = kubernetes or binaries.default_kubernetes()
        self._own_run_dir = run_dir is None
        self.run_dir = Path(run_dir or tempfile.mkdtemp(prefix=owned_prefix("stack"))).resolve()
        self.api_port = api_port
        self.dns01_recursive_nameservers = list(dns01_recursive_nameservers)
        self.controller_args = list(controller_args)
        self.dns01_recursive_nameservers_only = dns01_recursive_nameservers_only
        self.pod_dns = pod_dns
        self.controller_env = dict(controller_env or {})
        self.controller_pod: str | None = None  # the running controller's hostname: its Lease identity
        self.kubeconfigs: dict[str, Path] = {}  # component -> kubeconfig with its ServiceAccount's token
        self.processes: dict[str, ManagedProcess] = {}
        self.ports: dict[str, int] = {}
        self.kubeconfig = self.run_dir / "kubeconfig"
        self._api: client.ApiClient | None = None
        self._etcd_data: Path | None = None
        self._jail_dir: Path | None = None
        self.controller_crashes: list[str] = []  # startup crashes restarted as the kubelet would

    # -- lifecycle ---------------------------------------------------------------------------------

    def _start(self) -> None:
        """Start every component in order; on any failure stop what was started and re-raise."""
        # Resolve every binary first: a missing one fails before anything runs.
        self.resolved = {name: binaries.resolve(name, self.bin_dir, self.kubernetes) for name in (
            "etcd", "kube-apiserver", "kube-controller-manager", "cert-manager-webhook",
            "cert-manager-cainjector", "cert-manager-controller", "helm")}
        self.bins = {name: resolved.path for name, resolved in self.resolved.items()}
        self.crds = certmanager.crds(self.bin_dir)
        self.pki = RunPKI(self.run_dir / "pki")
        self._start_etcd()
        self._start_apiserver()
        self._start_controller_manager()
        apply_crds(self.api(), self.crds)
        ensure_namespace(self.api(), certmanager.NAMESPACE)
        self._install_identities()
        self._start_webhook()
        self._start_cainjector()
        self._start_controller()

    def stop(self) -> None:
        """Stop every component in reverse start order; remove the run dir if the stack made it.
        A second Ctrl-C while stopping is ignored so teardown always completes."""
        with sigint_ignored():
            for process in reversed(list(self.processes.values())):
                process.stop()
            self.processes.clear()
        if self._api is not None:
            self._api.close()
            self._api = None
        for scratch in (self._etcd_data, self._jail_dir):
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
        if self._own_run_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def wait_until_interrupted(self) -> None:
        """Block until SIGINT/SIGTERM, failing if a component exits meanwhile."""

        def check() -> None:
            for process in self.processes.values():
                if not process.running():
                    raise process.failure("exited while the stack was running")

        wait_until_interrupted(check, interval=1.0)

    # -- access ------------------------------------------------------------------------------------

    def api(self) -> client.ApiClient:
        if self._api is None:
            self._api = api_client(self.kubeconfig)
        return self._api

    @property
    def api_url(self) -> str:
        return f"https://{LOOPBACK}:{self.ports['kube-apiserver']}"

    @property
    def metrics_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports['cert-manager-metrics']}/metrics"

    @property
    def webhook_url(self) -> str:
        return f"https://{LOOPBACK}:{self.ports['cert-manager-webhook']}"

    def endpoints(self) -> dict[str, str]:
        return {
            "etcd": f"http://{LOOPBACK}:{self.ports['etcd']}",
            "kube-apiserver": self.api_url,
            "cert-manager-webhook": self.webhook_url,
            "cert-manager-metrics": self.metrics_url,
        }

    def versions(self) -> dict[str, dict]:
        """Per component: the version it ran, where the binary came from (cache, bin-dir, apt, ...) and its
        path: a journal says which build was tested, never ours by mistake for the user's."""
        return {name: versions.facts(resolved) for name, resolved in self.resolved.items()}

    def write_kubeconfig(self, path: str | os.PathLike) -> Path:
        return write_kubeconfig(Path(path).expanduser().resolve(), self.api_url, self.pki.ca_cert,
                                self.admin.cert, self.admin.key)

    def log_path(self, name: str) -> Path:
        return self.run_dir / "logs" / f"{name}.log"

    def rss_bytes(self) -> int:
        """Resident memory of all stack processes (and their children), from /proc."""
        total = 0
        for process in self.processes.values():
            if process.pid is None:
                continue
            try:
                for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
            except FileNotFoundError:
                continue
        return total

    # -- components --------------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list, probe: Callable[[], Seen], timeout: float = COMPONENT_READY,
               env: dict[str, str] | None = None) -> ManagedProcess:
        # The marker lets anyone (tests, `ps e`) find every process of this stack.
        process = ManagedProcess(name, argv, self.log_path(name), env={**(env or {}), STACK_MARKER: str(self.run_dir)})
        self.processes[name] = process
        process.start()
        process.wait_ready(probe, timeout)
        return process

    def _start_etcd(self) -> None:
        client_port = self.ports["etcd"] = free_port()
        peer_port = free_port()
        data_dir = self._etcd_data = _scratch_dir("etcd")
        url = f"http://{LOOPBACK}:{client_port}"
        peer = f"http://{LOOPBACK}:{peer_port}"
        self._spawn("etcd", [
            self.bins["etcd"], "--name", "certchaos", "--data-dir", data_dir,
            "--listen-client-urls", url, "--advertise-client-urls", url,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", f"certchaos={peer}", "--log-level", "warn",
        ], http_ok(f"{url}/health"), ETCD_READY)

    def _start_apiserver(self) -> None:
        port = self.ports["kube-apiserver"] = port_or_free("kube-apiserver", self.api_port)
        serving = self.pki.serving("kube-apiserver", "kubernetes", "kubernetes.default",
                                   "kubernetes.default.svc")
        self.admin = self.pki.client("admin", "certchaos-admin", ("system:masters",))
        self.service_account = self.pki.service_account_keys()
        self._spawn("kube-apiserver", [
            self.bins["kube-apiserver"],
            f"--etcd-servers=http://{LOOPBACK}:{self.ports['etcd']}",
            f"--bind-address={LOOPBACK}", f"--advertise-address={LOOPBACK}", f"--secure-port={port}",
            f"--tls-cert-file={serving.cert}", f"--tls-private-key-file={serving.key}",
            f"--client-ca-file={self.pki.ca_cert}",
            f"--service-account-key-file={self.service_account.cert}",
            f"--service-account-signing-key-file={self.service_account.key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=RBAC", "--allow-privileged=true",
            f"--cert-dir={self.run_dir / 'kube-apiserver'}",
            # The `kubernetes` Service's endpoints would be the advertised 127.0.0.1, which Endpoints may not hold
            # (a loopback address): v1.26 logs its failed writes, v1.3x refuses to start ("cannot use public IP
            # 127.0.0.1 with endpoint reconciler"). No pod here reaches the API through that Service.
            "--endpoint-reconciler-type=none",
            "--profiling=false",
        ], http_ok(f"{self.api_url}/readyz", verify=str(self.pki.ca_cert),
                    cert=(str(self.admin.cert), str(self.admin.key))), APISERVER_READY)
        write_kubeconfig(self.kubeconfig, self.api_url, self.pki.ca_cert, self.admin.cert, self.admin.key)

    def _start_controller_manager(self) -> None:
        port = self.ports["kube-controller-manager"] = free_port()
        serving = self.pki.serving("kube-controller-manager")
        self._spawn("kube-controller-manager", [
            self.bins["kube-controller-manager"],
            f"--kubeconfig={self.kubeconfig}",
            f"--authentication-kubeconfig={self.kubeconfig}",
            f"--authorization-kubeconfig={self.kubeconfig}",
            f"--controllers={','.join(CONTROLLERS)}",
            "--leader-elect=false", f"--bind-address={LOOPBACK}", f"--secure-port={port}",
            f"--tls-cert-file={serving.cert}", f"--tls-private-key-file={serving.key}",
            f"--service-account-private-key-file={self.service_account.key}",
            f"--root-ca-file={self.pki.ca_cert}",
            "--profiling=false",
        ], http_ok(f"https://{LOOPBACK}:{port}/healthz", verify=str(self.pki.ca_cert)))

    def _install_identities(self) -> None:
        """The chart's ServiceAccounts and RBAC, and a kubeconfig per component with its token."""
        apply_rbac(self.api(), certmanager.chart_rbac(self.kubernetes, self.bin_dir))
        tokens = certmanager.component_tokens(self.api(), self.run_dir / "tokens")
        for component, token in tokens.items():
            self.kubeconfigs[component] = write_kubeconfig(
                self.run_dir / f"kubeconfig-{component}", self.api_url, self.pki.ca_cert, token_file=token)

    def _start_webhook(self) -> None:
        port = self.ports["cert-manager-webhook"] = free_port()
        healthz = self.ports["cert-manager-webhook-healthz"] = free_port()
        serving = self.pki.serving("cert-manager-webhook")
        # v1.11's webhook binds ":<port>": jail it so it is reachable on host loopback only (see netjail).
        # Inside the jail it uses the same port numbers, bridged to the host's.
        self._jail_dir = _scratch_dir("jail")
        jail = LoopbackJail(self._jail_dir, serves={port: port, healthz: healthz},
                            reaches=[self.ports["kube-apiserver"]])
        for index, (bridge, ready) in enumerate(jail.host_bridges()):
            self._spawn(f"cert-manager-webhook-bridge-{index}", bridge, ready)
        self._spawn("cert-manager-webhook", jail.wrap([
            self.bins["cert-manager-webhook"], f"--kubeconfig={self.kubeconfigs['cert-manager-webhook']}",
            f"--secure-port={port}", f"--healthz-port={healthz}",
            f"--tls-cert-file={serving.cert}", f"--tls-private-key-file={serving.key}",
        ]), http_ok(f"http://{LOOPBACK}:{healthz}/healthz"))
        self.register_webhook(self.webhook_url)

    def register_webhook(self, url: str, timeout_seconds: int = certmanager.WEBHOOK_TIMEOUT_SECONDS) -> None:
        """(Re)register cert-manager's admission webhooks at `url` (e.g. a Toxiproxy in front of it)."""
        certmanager.apply_webhook_configurations(
            self.api(), certmanager.webhook_configurations(url, self.pki.ca_pem, timeout_seconds))

    def _serves_more(self, name: str) -> bool:
        """Whether component `name` is of cert-manager v1.12 or later, whose controller serves a healthz and
        whose cainjector serves metrics, each on 0.0.0.0 and a fixed port unless told otherwise (v1.11's do
        neither, and refuse the flags): two labs on one machine would collide, and the lab binds loopback only."""
        found = supported_minor(versions.reported(self.resolved[name]).version)
        return found is not None and found >= (1, 12)

    def _start_cainjector(self, since: int = 0) -> None:
        """The cainjector, ready once its injectors run (its log from `since` says so). Given --kubeconfig and
        $KUBECONFIG both: v1.20's reads only the variable (its flag sets a field nothing reads)."""
        kubeconfig = self.kubeconfigs["cert-manager-cainjector"]
        argv = [self.bins["cert-manager-cainjector"], f"--kubeconfig={kubeconfig}", "--leader-elect=true",
                f"--leader-election-namespace={certmanager.LEADER_ELECTION_NAMESPACE}"]
        if self._serves_more("cert-manager-cainjector"):
            port = self.ports["cert-manager-cainjector-metrics"] = free_port()
            argv.append(f"--metrics-listen-address={LOOPBACK}:{port}")
        self._spawn("cert-manager-cainjector", argv,
                    log_contains(self.log_path("cert-manager-cainjector"), "Starting workers", since=since),
                    env={"KUBECONFIG": str(kubeconfig)})

    def controller_argv(self, metrics_port: int | None = None) -> list:
        """The controller's command line (as the chart's Deployment runs it: leader election in
        kube-system with cert-manager's default lease timings, 60 s / 40 s / 15 s, which the chart
        leaves unset), metrics on `metrics_port` (default: the stack's)."""
        port = metrics_port or self.ports.setdefault("cert-manager-metrics", free_port())
        argv = [
            self.bins["cert-manager-controller"], f"--kubeconfig={self.kubeconfigs['cert-manager-controller']}",
            "--leader-elect=true", f"--leader-election-namespace={certmanager.LEADER_ELECTION_NAMESPACE}",
            f"--cluster-resource-namespace={certmanager.NAMESPACE}",
            f"--metrics-listen-address={LOOPBACK}:{port}",
        ]
        if self._serves_more("cert-manager-controller"):  # each replica its own (nothing here probes it)
            argv.append(f"--internal-healthz-listen-address={LOOPBACK}:{free_port()}")
        if self.dns01_recursive_nameservers:
            argv.append(f"--dns01-recursive-nameservers={','.join(self.dns01_recursive_nameservers)}")
            if self.dns01_recursive_nameservers_only:
                argv.append("--dns01-recursive-nameservers-only")
        return argv + self.controller_args

    def controller_pod_argv(self, argv: Sequence, hostname: str) -> list[str]:
        """`argv` in a pod sandbox named `hostname`, with the pod DNS as its resolv.conf if there is one."""
        resolv = write_resolv_conf(self.run_dir / "controller-resolv.conf", self.pod_dns) if self.pod_dns else None
        return pod_argv(argv, hostname, resolv)

    def _start_controller(self) -> None:
        # Every start is a new pod (as a ReplicaSet replaces an evicted or deleted one): a new hostname,
        # hence a new Lease identity that must wait for the old holder's lease to expire.
        self.controller_pod = pod_name("cert-manager")
        for attempt in range(1, CONTROLLER_START_ATTEMPTS + 1):
            try:
                self._spawn("cert-manager-controller",
                            self.controller_pod_argv(self.controller_argv(), self.controller_pod),
                            http_ok(self.metrics_url), env=self.controller_env)
                return
            except ComponentFailed as error:
                if attempt == CONTROLLER_START_ATTEMPTS or self.processes["cert-manager-controller"].running():
                    raise
                # The container crashed in its pod: the kubelet restarts it in the same pod (same hostname,
                # so it takes its own Lease back at once). Its log keeps the crash (the log is appended).
                self.controller_crashes.append(str(error).splitlines()[0])

    def restart_controller(self, dns01_recursive_nameservers: Sequence[str] | None = None,
                           controller_args: Sequence[str] | None = None) -> None:
        """Stop the cert-manager controller and start it again, optionally with new settings."""
        if dns01_recursive_nameservers is not None:
            self.dns01_recursive_nameservers = list(dns01_recursive_nameservers)
        if controller_args is not None:
            self.controller_args = list(controller_args)
        old = self.processes.pop("cert-manager-controller", None)
        if old is not None:
            old.stop()
        self._start_controller()

    # -- upgrade in place (`certchaos upgrade-check`) ----------------------------------------------------

    def upgrade_cert_manager(self, bin_dir: str | os.PathLike | None, *, supervised: bool = False,
                             on_step: Callable[[str], None] = lambda step: None) -> None:
        """Upgrade cert-manager in place to the binaries (and crds/, chart/) of `bin_dir` (None: the cache),
        in the order a `helm upgrade` of the chart implies: CRDs, then the RBAC and ServiceAccounts, then the
        Deployments (webhook first, so the new API is admitted before anything writes it, then cainjector,
        then the controller). The new binaries, CRDs and chart are all resolved before anything is changed.
        `supervised`: a ControllerSupervisor watches the controller, so the old one is stopped (SIGTERM: it
        releases its Lease) and the supervisor starts the new one from controller_argv(), as a Deployment's
        rollout replaces a pod; else it is restarted here. `on_step` hears each step's name first."""
        names = ("cert-manager-webhook", "cert-manager-cainjector", "cert-manager-controller")
        resolved = {name: binaries.resolve(name, bin_dir) for name in names}
        crds = certmanager.crds(bin_dir)
        rbac = certmanager.chart_rbac(self.kubernetes, bin_dir)
        on_step("crds")
        apply_crds(self.api(), crds)
        self.crds, self.bin_dir = crds, bin_dir
        on_step("rbac")
        apply_rbac(self.api(), rbac)
        for name in names:
            self.resolved[name], self.bins[name] = resolved[name], resolved[name].path
        on_step("cert-manager-webhook")
        self.processes.pop("cert-manager-webhook").stop()
        port, healthz = self.ports["cert-manager-webhook"], self.ports["cert-manager-webhook-healthz"]
        # The same socket dir and ports as at start, so the host-side bridges (still running) reach it.
        jail = LoopbackJail(self._jail_dir, serves={port: port, healthz: healthz},
                            reaches=[self.ports["kube-apiserver"]])
        serving = self.pki.directory / "cert-manager-webhook"  # the pair _start_webhook had issued
        self._spawn("cert-manager-webhook", jail.wrap([
            self.bins["cert-manager-webhook"], f"--kubeconfig={self.kubeconfigs['cert-manager-webhook']}",
            f"--secure-port={port}", f"--healthz-port={healthz}",
            f"--tls-cert-file={serving}.crt", f"--tls-private-key-file={serving}.key",
        ]), http_ok(f"http://{LOOPBACK}:{healthz}/healthz"))
        on_step("cert-manager-cainjector")
        self.processes.pop("cert-manager-cainjector").stop()
        log = self.log_path("cert-manager-cainjector")
        self._start_cainjector(since=log.stat().st_size if log.exists() else 0)
        on_step("cert-manager-controller")
        self.replace_controller(supervised)

    def replace_controller(self, supervised: bool) -> None:
        """A new controller pod from controller_argv() (and the current environment): `supervised`, the old
        one is stopped (SIGTERM: it releases its Lease) and the ControllerSupervisor starts the new one, as
        a rollout replaces a pod; else it is restarted here."""
        if not supervised:
            self.restart_controller()
            return
        old = self.processes["cert-manager-controller"]
        old.stop()

        def replaced() -> Seen:
            current = self.processes.get("cert-manager-controller")
            if current is None or current is old or not current.running():
                return Seen(False, {"controller": repr(current), "replaced": current is not old})
            return http_ok(self.metrics_url)()

        # The supervisor notices within POLL (0.5 s) and starts the new pod; a v1.10/v1.11 controller
        # serves /metrics within seconds (measured 2-6 s), three crash restarts included well under 120 s.
        wait_for(replaced, subject="cert-manager controller", expected=f"replaced by {self.bins['cert-manager-controller']}",
                 timeout=120.0)
