"""Issuers a scenario needs, created in its own namespace: ACME on Pebble with DNS-01 over RFC 2136 + TSIG
(its own zone and its own TSIG key, so one scenario's DNS faults never touch another's) or through cert-manager's
Route 53 solver against the lab's AWS API (its own hosted zone and IAM identity), a CA issuer, and a ClusterIssuer
on Pebble solving HTTP-01 through an ingress class (its own zone for the A records)."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path
from dataclasses import dataclass, field

from kubernetes import client

from harness.chaos.certificates import refused_if_denied
from harness.observe.conditions.kube import resource_ready
from harness.lab.lab import LabClient
from harness.stack.acme_control import AcmeRoute
from harness.stack.certmanager import NAMESPACE as CERT_MANAGER_NAMESPACE
from harness.observe.resources import CLUSTER_ISSUER, ISSUER
from harness.stack.toxiproxy import Proxy
from harness.wait import wait_for

TSIG_ALGORITHM = "hmac-sha256"
CERT_MANAGER_TSIG_ALGORITHM = "HMACSHA256"  # cert-manager's spelling of the same algorithm
# The scenario zone's SOA minimum: how long the lagging resolvers cache NXDOMAIN. cert-manager's zone lookup
# asks for the challenge name's SOA before the record exists, so a 60 s default would add a minute to every
# issuance; 5 s keeps steady-state issuance quick (a scenario about negative caching raises it).
NEGATIVE_TTL = 5
# Registering an ACME account with Pebble takes well under a second; the margin covers a loaded CI machine.
ISSUER_READY_TIMEOUT = 60.0


def _create(api: client.ApiClient, namespace: str | None, plural: str, body: dict) -> dict:
    """Create a cert-manager object of the lab's (an Issuer, a ClusterIssuer when `namespace` is None); a denial
    by cert-manager's webhook is the webhook refusing a valid object: CertificateRefused, a deviation."""
    objects = client.CustomObjectsApi(api)
    try:
        if namespace is None:
            return objects.create_cluster_custom_object("cert-manager.io", "v1", plural, body)
        return objects.create_namespaced_custom_object("cert-manager.io", "v1", namespace, plural, body)
    except client.ApiException as error:
        where = f"{namespace}/{body['metadata']['name']}" if namespace else body["metadata"]["name"]
        raise refused_if_denied(error, body["kind"], where) from None


def wait_issuer_ready(api: client.ApiClient, namespace: str | None, name: str) -> None:
    """An Issuer, or a ClusterIssuer when `namespace` is None, is Ready (its ACME account registered)."""
    kind, subject = (ISSUER, f"Issuer {namespace}/{name}") if namespace else (CLUSTER_ISSUER, f"ClusterIssuer {name}")
    wait_for(resource_ready(api, kind, namespace, name), subject=subject, expected="Ready=True",
             timeout=ISSUER_READY_TIMEOUT)


class OnPebble:
    """What an ACME Issuer of the lab offers a scenario, whatever its solver: its directory (through the
    scenario's own proxy), names in its zone, its issuerRef."""

    name: str
    zone: str
    proxy: Proxy

    @property
    def directory(self) -> str:
        return f"https://{self.proxy.listen[0]}:{self.proxy.listen[1]}/dir"

    def dns_name(self, label: str) -> str:
        return f"{label}.{self.zone.rstrip('.')}"

    @property
    def ref(self) -> dict:
        return {"name": self.name, "kind": "Issuer"}


@dataclass(frozen=True)
class AcmeIssuer(OnPebble):
    name: str
    namespace: str
    zone: str  # the scenario's own DNS zone, e.g. "ns-1.certchaos.test."
    key: str  # its TSIG key's name
    secret: str  # the key's base64 secret, as the cluster Secret holds it
    proxy: Proxy  # the scenario's own path to the CA: a CA outage here breaks no other scenario
    acme: AcmeRoute | None = None  # its route through the ACME fault layer behind the proxy; None: no layer

    def close(self) -> None:
        """Delete the scenario's proxy and route (the Issuer goes with the namespace)."""
        self.proxy.delete()
        if self.acme is not None:
            self.acme.delete()

    def report_secrets(self) -> dict[str, str]:
        """What a report must never hold: the TSIG key's secret."""
        return {f"TSIG key {self.key}": self.secret}


def rfc2136_solver(lab: LabClient, namespace: str, key: str, names: list[str], secret_name: str,
                   selector: dict | None = None) -> tuple[dict, str]:
    """A TSIG key `key` that may write only the TXT records `names` (globs: its policy at the fake DNS), its
    Secret `secret_name` in `namespace`, and an RFC 2136 DNS-01 solver using it, chosen for the names `selector`
    matches (None: any name). Returns the solver and the key's base64 secret."""
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    lab.dns.add_key(key, TSIG_ALGORITHM, secret, {"names": names, "types": ["TXT"]})
    client.CoreV1Api(lab.kube).create_namespaced_secret(namespace, {
        "metadata": {"name": secret_name}, "stringData": {"secret": secret}})
    host, port = lab.info.dns_authoritative
    solver: dict = {"dns01": {"rfc2136": {
        "nameserver": f"{host}:{port}",
        "tsigKeyName": key,
        "tsigAlgorithm": CERT_MANAGER_TSIG_ALGORITHM,
        "tsigSecretSecretRef": {"name": secret_name, "key": "secret"},
    }}}
    if selector is not None:
        solver["selector"] = selector
    return solver, secret


def create_acme_issuer(lab: LabClient, namespace: str | None, name: str, directory: str,
                       solvers: list[dict]) -> None:
    """An ACME Issuer on Pebble at `directory` (a scenario's proxy) with `solvers`, Ready (its account registered);
    a ClusterIssuer when `namespace` is None (its Secrets then in cert-manager's namespace: delete_cluster_issuer)."""
    body = {"apiVersion": "cert-manager.io/v1", "kind": "Issuer" if namespace else "ClusterIssuer",
            "metadata": {"name": name},
            "spec": {"acme": {
                "server": directory,
                "caBundle": base64.b64encode(Path(lab.info.pebble_ca_bundle_path).read_bytes()).decode(),
                "privateKeySecretRef": {"name": f"{name}-account"},
                "solvers": solvers,
            }}}
    _create(lab.kube, namespace, "issuers" if namespace else "clusterissuers", body)
    wait_issuer_ready(lab.kube, namespace, name)


def delete_cluster_issuer(lab: LabClient, name: str, secrets: tuple[str, ...] = ()) -> None:
    """The ClusterIssuer, its ACME account Secret and `secrets`, in cert-manager's namespace (its cluster resource
    namespace); those already gone are no error."""
    calls = [lambda: client.CustomObjectsApi(lab.kube).delete_cluster_custom_object(
        "cert-manager.io", "v1", "clusterissuers", name)]
    calls += [lambda secret=secret: client.CoreV1Api(lab.kube).delete_namespaced_secret(secret, CERT_MANAGER_NAMESPACE)
              for secret in (f"{name}-account", *secrets)]
    for call in calls:
        try:
            call()
        except client.ApiException as error:
            if error.status != 404:
                raise


def dns01_zone(lab: LabClient, namespace: str, secret_namespace: str, secret_name: str) -> tuple[str, dict, str]:
    """A zone <namespace>.<lab zone> with a TSIG key (named `namespace`) that may write its _acme-challenge TXT
    records, the key's Secret `secret_name` in `secret_namespace` and an RFC 2136 solver using it: (the zone,
    the solver, the key's base64 secret)."""
    zone = f"{namespace}.{lab.info.zone}"
    lab.dns.add_zone(zone)
    lab.dns.set_zone(zone, soa_minimum=NEGATIVE_TTL)
    solver, secret = rfc2136_solver(lab, secret_namespace, namespace,
                                    [f"_acme-challenge.{zone}", f"_acme-challenge.*.{zone}"], secret_name)
    return zone, solver, secret


def make_acme_issuer(lab: LabClient, namespace: str, name: str = "pebble") -> AcmeIssuer:
    """A zone <namespace>.<lab zone> with a TSIG key that may write its _acme-challenge TXT records, the
    key's Secret, a Toxiproxy proxy "acme-<namespace>" to Pebble (through the lab's ACME fault layer, a
    route of the same name, when the lab has one), and an ACME Issuer on Pebble through that proxy solving
    DNS-01 with the key. The caller deletes the proxy and route (AcmeIssuer.close())."""
    key = namespace
    zone, solver, secret = dns01_zone(lab, namespace, namespace, f"{name}-tsig")
    route = lab.acme_layer.add_route(f"acme-{namespace}", lab.info.pebble_listen) if lab.acme_layer else None
    proxy = lab.proxy_to(f"acme-{namespace}", route.listen if route else lab.info.pebble_listen)
    issuer = AcmeIssuer(name, namespace, zone, key, secret, proxy, route)
    try:
        create_acme_issuer(lab, namespace, name, issuer.directory, [solver])
    except BaseException:
        issuer.close()
        raise
    return issuer


@dataclass(frozen=True)
class Http01Issuer(OnPebble):
    """A ClusterIssuer on Pebble solving HTTP-01 with solver Ingresses of `ingress_class`; a scenario's names are
    in `zone` (its namespace's), their A records naming `address`, where the ingress controller answers."""

    name: str
    zone: str
    ingress_class: str
    address: str
    proxy: Proxy  # the scenario's own path to the CA

    @property
    def ref(self) -> dict:
        return {"name": self.name, "kind": "ClusterIssuer"}


def make_http01_issuer(lab: LabClient, namespace: str, ingress_class: str, address: str,
                       names: tuple[str, ...] = ()) -> Http01Issuer:
    """A zone <namespace>.<lab zone> whose `names` (labels) have A records naming `address`, a Toxiproxy proxy
    "acme-<namespace>" to Pebble, and a ClusterIssuer "http01-<namespace>" on Pebble through that proxy solving
    HTTP-01 with the ingress class annotation `ingress_class` (cert-manager v1.11's `class`). The caller
    deletes it with delete_http01_issuer."""
    zone = f"{namespace}.{lab.info.zone}"
    lab.dns.add_zone(zone)
    lab.dns.set_zone(zone, soa_minimum=NEGATIVE_TTL)
    issuer = Http01Issuer(f"http01-{namespace}", zone, ingress_class, address,
                          lab.proxy_to(f"acme-{namespace}", lab.info.pebble_listen))
    for label in names:
        lab.dns.add_record(issuer.dns_name(label) + ".", "A", address)
    proxy = issuer.proxy
    _create(lab.kube, None, "clusterissuers", {
        "apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer", "metadata": {"name": issuer.name},
        "spec": {"acme": {
            "server": f"https://{proxy.listen[0]}:{proxy.listen[1]}/dir",
            "caBundle": base64.b64encode(Path(lab.info.pebble_ca_bundle_path).read_bytes()).decode(),
            "privateKeySecretRef": {"name": f"{issuer.name}-account"},
            "solvers": [{"http01": {"ingress": {"class": ingress_class}}}],
        }},
    })
    wait_issuer_ready(lab.kube, None, issuer.name)
    return issuer


def delete_http01_issuer(lab: LabClient, issuer: Http01Issuer) -> None:
    """The ClusterIssuer, its ACME account Secret (in cert-manager's namespace, its cluster resource
    namespace) and its proxy."""
    delete_cluster_issuer(lab, issuer.name)
    issuer.proxy.delete()


def make_ca_issuer(api: client.ApiClient, namespace: str, name: str = "ca") -> dict:
    """A self-signed bootstrap Issuer, a CA Certificate from it, and a CA Issuer signing with that CA."""
    _create(api, namespace, "issuers", {"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
                                        "metadata": {"name": f"{name}-bootstrap"}, "spec": {"selfSigned": {}}})
    _create(api, namespace, "certificates", {
        "apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": f"{name}-root"},
        "spec": {"isCA": True, "commonName": f"certchaos {namespace} CA", "secretName": f"{name}-root",
                 "issuerRef": {"name": f"{name}-bootstrap"}}})
    _create(api, namespace, "issuers", {"apiVersion": "cert-manager.io/v1", "kind": "Issuer",
                                        "metadata": {"name": name}, "spec": {"ca": {"secretName": f"{name}-root"}}})
    wait_issuer_ready(api, namespace, name)
    return {"name": name, "kind": "Issuer"}


@dataclass(frozen=True)
class Route53Issuer(OnPebble):
    """An ACME Issuer whose DNS-01 solver is cert-manager's own Route 53 one, against the lab's AWS API."""

    name: str
    namespace: str
    zone: str  # the scenario's own zone, e.g. "ns-1.certchaos.test.": a Route 53 hosted zone served by the fake DNS
    zone_id: str  # its hosted zone id
    user: str  # the IAM user whose access key is in the Secret
    access_key_id: str
    policy_arn: str  # the managed policy granting cert-manager's Route 53 permissions on the zone
    role: str | None  # the role the solver assumes through STS (its name), holding the policy; None: the user does
    secret: str  # the Secret holding the key: access-key-id, secret-access-key
    proxy: Proxy  # the scenario's own path to the CA
    secret_access_key: str = field(default="", repr=False)  # the key's secret, as the Secret holds it

    @property
    def identity(self) -> dict:
        """Where the policy is attached: {"role": name} or {"user": name} (AwsAdmin.attach/detach's keywords)."""
        return {"role": self.role} if self.role else {"user": self.user}

    def close(self) -> None:
        """Delete the scenario's proxy (the Issuer goes with the namespace, the IAM user and zone with the lab)."""
        self.proxy.delete()

    def report_secrets(self) -> dict[str, str]:
        """What a report must never hold: the access key's secret (a rotated key's is the Secret's, not this)."""
        return {f"AWS secret access key of {self.user}": self.secret_access_key}


def make_route53_issuer(lab: LabClient, namespace: str, name: str = "route53", assume_role: bool = False,
                        ) -> Route53Issuer:
    """A zone <namespace>.<lab zone> both as a Route 53 hosted zone and in the fake DNS (which serves what the API
    accepts), an IAM user "cert-manager-<namespace>" with an access key in a Secret, cert-manager's documented
    policy on the zone attached to the user (or, `assume_role`, to a role the user may only assume), a proxy
    "acme-<namespace>" to Pebble, and an ACME Issuer solving DNS-01 with cert-manager's route53 solver. The caller
    deletes the proxy (proxy.delete())."""
    from harness.stack.aws.admin import zone_policy, user_arn
    from harness.stack.aws.emulator import REGION

    zone = f"{namespace}.{lab.info.zone}"
    lab.dns.add_zone(zone)
    lab.dns.set_zone(zone, soa_minimum=NEGATIVE_TTL)
    zone_id = lab.aws.create_zone(zone)
    user = f"cert-manager-{namespace}"
    policy_arn = lab.aws.create_policy(f"cert-manager-route53-{namespace}", zone_policy(zone_id))
    role = f"cert-manager-dns01-{namespace}" if assume_role else None
    credentials = lab.aws.create_user(user, None if role else policy_arn)
    solver = {"region": REGION, "accessKeyIDSecretRef": {"name": f"{name}-aws", "key": "access-key-id"},
              "secretAccessKeySecretRef": {"name": f"{name}-aws", "key": "secret-access-key"}}
    if role:
        solver["role"] = lab.aws.create_role(role, user_arn(user), policy_arn)
        lab.aws.put_user_policy(user, "assume-dns01-role", {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": solver["role"]}]})
    client.CoreV1Api(lab.kube).create_namespaced_secret(namespace, {
        "metadata": {"name": f"{name}-aws"},
        "stringData": {"access-key-id": credentials.access_key_id, "secret-access-key": credentials.secret_access_key}})
    proxy = lab.proxy_to(f"acme-{namespace}", lab.info.pebble_listen)
    _create(lab.kube, namespace, "issuers", {
        "apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": name},
        "spec": {"acme": {
            "server": f"https://{proxy.listen[0]}:{proxy.listen[1]}/dir",
            "caBundle": base64.b64encode(Path(lab.info.pebble_ca_bundle_path).read_bytes()).decode(),
            "privateKeySecretRef": {"name": f"{name}-account"},
            "solvers": [{"dns01": {"route53": solver}}],
        }},
    })
    wait_issuer_ready(lab.kube, namespace, name)
    return Route53Issuer(name, namespace, zone, zone_id, user, credentials.access_key_id, policy_arn, role,
                         f"{name}-aws", proxy, credentials.secret_access_key)
