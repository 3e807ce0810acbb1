"""Point a user's setup at the lab, changing only what must change, and say what changed.

- ACME issuers: `server` -> the lab's Pebble (through its proxy), `caBundle` -> the CA that signs Pebble's
  TLS certificate; an externalAccountBinding is dropped (Pebble needs none; its Secret is a credential).
- DNS-01 solvers of any provider (cloudflare, route53, clouddns, azureDNS, digitalocean, akamai, acmeDNS,
  webhook, rfc2136) -> rfc2136 against the fake DNS's authoritative view, signed with a lab TSIG key of
  the issuer's own (its Secret is added to the setup); the provider's credentials are not used and are
  listed in the report. The lab serves each zone the setup's DNS-01 names fall in (see `zone_of`).
- HTTP-01 solvers, where the provider runs solver pods (kind): the solver's ingress class -> the lab's ingress
  controller's, and each name the issuer is asked for gets an A record naming that controller (in the most
  specific zone the lab serves for it). Where it runs none (local), the HTTP-01 issuers and what they issue
  (their Certificates, the Ingresses annotated with them) are left out and listed as not applicable, why said.
- Route 53 solvers on a lab with an AWS API (`LabTarget.aws`) stay Route 53 solvers as written (region,
  cnameStrategy, the form of their credentials): only the hosted zone id, the role's ARN and the credentials
  are mapped to the lab's account (an IAM user of the issuer's own, its key in a Secret added to the setup),
  each listed; `route53_needs` says beforehand which zones and identities the lab must make.
- What the lab cannot stand in for is refused with the object and field named: Vault and Venafi issuers,
  external issuer groups, HTTP-01 on a named Ingress (edit in place) or a Gateway API route.

Everything else is left exactly as written. Rewriting a rewritten setup changes nothing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

from harness.upgrade.setup import InvalidSetup, Problem, SetupObject

DNS01_PROVIDERS = ("rfc2136", "cloudflare", "route53", "clouddns", "azureDNS", "digitalocean", "akamai",
                   "acmeDNS", "webhook")
UNSUPPORTED_ISSUERS = {"vault": "HashiCorp Vault", "venafi": "Venafi TPP/Cloud"}
TSIG_ALGORITHM = "HMACSHA256"  # cert-manager's spelling; the lab's keys are hmac-sha256 (lab/issuers.py)
TSIG_SECRET_KEY = "secret"
CLUSTER_RESOURCE_NAMESPACE = "cert-manager"  # where a ClusterIssuer's Secrets live (--cluster-resource-namespace)
ISSUER_KINDS = ("Issuer", "ClusterIssuer")
ISSUER_ANNOTATIONS = {"cert-manager.io/issuer": "Issuer", "cert-manager.io/cluster-issuer": "ClusterIssuer"}
SOLVER_CLASS_FIELDS = ("class", "ingressClassName")  # v1.10-v1.11 know `class`; later versions add ingressClassName
HTTP01_NOT_APPLICABLE = ("HTTP-01 needs solver pods served through an ingress controller, and this provider has no "
                         "nodes: left out of the check here; --provider kind checks it")

IssuerKey = tuple[str, "str | None", str]  # (kind, namespace or None for a ClusterIssuer, name)


@dataclass(frozen=True)
class LabTarget:
    """What the setup is pointed at: the lab's ACME directory and CA bundle (base64), the fake DNS's
    authoritative nameserver (host:port) and the TSIG secret (base64) its keys share."""

    acme_server: str
    ca_bundle: str | None  # None: the version has no acme.caBundle (v1.10); the lab trusts Pebble otherwise
    nameserver: str
    tsig_secret: str
    # The lab's ingress controller: its class (what HTTP-01 solvers are pointed at) and the address its port 80
    # answers on (what HTTP-01 names' A records name). None: the provider runs no solver pods (local).
    ingress_class: str | None = None
    ingress_address: str | None = None
    aws: AwsTarget | None = None  # the lab's AWS API: Route 53 solvers stay Route 53; None: they become rfc2136


@dataclass(frozen=True)
class AwsIdentity:
    """The lab's IAM identity for one issuer's Route 53 solvers: a user's key, and the role holding the policy
    when the issuer's solver assumes one."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    role_arn: str | None = None


@dataclass(frozen=True)
class AwsTarget:
    """The lab's AWS account as the setup's Route 53 solvers see it (harness.upgrade.route53 makes it)."""

    zone_ids: dict[str, str]  # zone (absolute, lowercase) -> the lab's hosted zone id
    identities: dict[str, AwsIdentity]  # issuer ref ("ClusterIssuer name") -> its identity


@dataclass(frozen=True)
class Route53Need:
    """What the lab's AWS account must hold for one issuer's Route 53 solvers, before the rewrite."""

    issuer: str  # its ref, "Kind [namespace/]name"
    zones: tuple[str, ...]  # absolute, lowercase
    role: bool  # its solver assumes a role


@dataclass(frozen=True)
class Rewrite:
    file: str
    object: str  # Kind namespace/name
    field: str
    old: str
    new: str

    def __str__(self) -> str:
        return f"{self.object} ({self.file}): {self.field}: {self.old} -> {self.new}"


@dataclass(frozen=True)
class Credential:
    """A credential of the user's setup the lab does not use (replaced by a lab TSIG key, or dropped)."""

    object: str
    field: str
    what: str  # e.g. "cloudflare API token: Secret cloudflare-token, key api-token"


@dataclass(frozen=True)
class NotApplicable:
    """A setup object the provider cannot check, and why (reported, never silently dropped)."""

    file: str
    object: str
    reason: str


@dataclass(frozen=True)
class TsigKey:
    name: str
    namespace: str  # of its Secret
    secret_name: str
    zones: tuple[str, ...]  # absolute, lowercase, trailing dot


@dataclass
class Rewritten:
    objects: list[SetupObject]
    secrets: list[dict]  # the lab TSIG keys' Secrets, applied before the setup
    keys: list[TsigKey]
    zones: list[str]  # every zone the lab must serve
    rewrites: list[Rewrite] = field(default_factory=list)
    credentials: list[Credential] = field(default_factory=list)
    a_records: list[tuple[str, str]] = field(default_factory=list)  # (absolute name, address): HTTP-01 names
    http01_issuers: list[IssuerKey] = field(default_factory=list)  # applied issuers that solve HTTP-01
    not_applicable: list[NotApplicable] = field(default_factory=list)
    hosted_zones: dict[str, str] = field(default_factory=dict)  # zone -> lab hosted zone id, of kept Route 53 solvers


def tsig_key_name(issuer: SetupObject) -> str:
    scope = issuer.namespace or "cluster"
    return f"certchaos-{scope}-{issuer.name}".lower()


def secret_name(issuer: SetupObject) -> str:
    return f"certchaos-tsig-{issuer.name}"


def aws_secret_name(issuer: SetupObject) -> str:
    return f"certchaos-aws-{issuer.name}"


AWS_KEY_ID, AWS_SECRET_KEY = "access-key-id", "secret-access-key"  # the keys of the lab's AWS Secret


def zone_of(dns_name: str) -> str:
    """The zone the lab serves for a DNS-01 name: its last two labels (after a leading `*.`), the
    registered domain for names like www.example.com. A solver's selector.dnsZones overrides it."""
    labels = dns_name.lower().rstrip(".").removeprefix("*.").split(".")
    return ".".join(labels[-2:]) + "."


def _secret_refs(value, path: str = "") -> list[str]:
    """Every `...SecretRef` under a provider's config, as 'field: Secret name, key k'."""
    found = []
    if isinstance(value, dict):
        for name, item in value.items():
            here = f"{path}.{name}" if path else name
            if name.endswith("SecretRef") and isinstance(item, dict):
                found.append(f"{here}: Secret {item.get('name')}" + (f", key {item['key']}" if item.get("key") else ""))
            else:
                found += _secret_refs(item, here)
    return found


def _solver_zones(solver: dict, dns_names: list[str]) -> set[str]:
    """The zones a solver serves: its selector's dnsZones, else the zones of the names its issuer is asked for."""
    selector_zones = ((solver.get("selector") or {}).get("dnsZones")) or []
    return {zone.lower().rstrip(".") + "." for zone in selector_zones} or {zone_of(n) for n in dns_names}


def route53_needs(objects: list[SetupObject]) -> list[Route53Need]:
    """Per issuer with a Route 53 solver: the zones its solvers serve and whether one assumes a role."""
    names = _certificate_names(objects)
    needs = []
    for obj in objects:
        acme = (obj.body.get("spec") or {}).get("acme") if obj.kind in ISSUER_KINDS else None
        solvers = [s for s in (acme or {}).get("solvers") or [] if "route53" in (s.get("dns01") or {})]
        if solvers:
            dns_names = names.get((obj.kind, obj.namespace, obj.name), [])
            zones = set().union(*(_solver_zones(s, dns_names) for s in solvers))
            needs.append(Route53Need(obj.ref, tuple(sorted(zones)),
                                     any(s["dns01"]["route53"].get("role") for s in solvers)))
    return needs


def _ref(ref: dict | None) -> str:
    return f"Secret {ref.get('name')}, key {ref.get('key')}" if ref else "(none: ambient credentials)"


def _bundle(text: str | None) -> str:
    return f"<caBundle, {len(text)} base64 chars>" if text else "(none)"


def issuer_key(obj: SetupObject) -> IssuerKey:
    return (obj.kind, obj.namespace, obj.name)


def issuers_of(obj: SetupObject) -> list[IssuerKey]:
    """The issuers a Certificate (its issuerRef) or an annotated Ingress (ingress-shim's annotations) asks."""
    if obj.kind == "Certificate":
        ref = (obj.body.get("spec") or {}).get("issuerRef") or {}
        kind = ref.get("kind") or "Issuer"
        return [(kind, obj.namespace if kind == "Issuer" else None, ref.get("name"))]
    if obj.kind == "Ingress":
        annotations = (obj.body.get("metadata") or {}).get("annotations") or {}
        return [(kind, obj.namespace if kind == "Issuer" else None, annotations[annotation])
                for annotation, kind in ISSUER_ANNOTATIONS.items() if annotation in annotations]
    return []


def http01_issuers(objects: list[SetupObject]) -> list[IssuerKey]:
    """The setup's ACME issuers with at least one HTTP-01 solver."""
    return [issuer_key(obj) for obj in objects if obj.kind in ISSUER_KINDS
            and any("http01" in (solver or {}) for solver in
                    (((obj.body.get("spec") or {}).get("acme") or {}).get("solvers") or []))]


def _certificate_names(objects: list[SetupObject]) -> dict[IssuerKey, list[str]]:
    """(issuer kind, issuer namespace or None, issuer name) -> the DNS names the setup asks it for."""
    names: dict[IssuerKey, list[str]] = {}
    for obj in objects:
        for key in issuers_of(obj):
            if obj.kind == "Certificate":
                names.setdefault(key, []).extend(obj.body["spec"].get("dnsNames") or [])
            else:
                for tls in (obj.body.get("spec") or {}).get("tls") or []:
                    names.setdefault(key, []).extend(tls.get("hosts") or [])
    return names


def serving_zone(name: str, zones: list[str]) -> str:
    """The zone the lab serves `name` in: the most specific of `zones` holding it, else `zone_of(name)`."""
    absolute = name.lower().rstrip(".") + "."
    holding = [zone for zone in zones if absolute == zone or absolute.endswith("." + zone)]
    return max(holding, key=len) if holding else zone_of(name)


def rewrite(objects: list[SetupObject], target: LabTarget) -> Rewritten:
    """The setup pointed at `target` (copies; `objects` are untouched), or InvalidSetup naming each object
    and field the lab cannot stand in for."""
    result = Rewritten(objects=[SetupObject(o.file, o.index, copy.deepcopy(o.body)) for o in objects],
                       secrets=[], keys=[], zones=[])
    http01 = http01_issuers(objects)
    if http01 and target.ingress_class is None:
        _leave_out(result, set(http01))
        http01 = []
    objects = result.objects
    problems: list[Problem] = []
    names = _certificate_names(objects)
    for obj in result.objects:
        if obj.kind in ISSUER_KINDS:
            problems += _rewrite_issuer(obj, target, names.get((obj.kind, obj.namespace, obj.name), []), result)
        elif obj.kind == "Certificate":
            group = obj.body.get("spec", {}).get("issuerRef", {}).get("group")
            if group not in (None, "", "cert-manager.io"):
                problems.append(Problem(obj.file, obj.ref, "spec.issuerRef.group",
                                        f"external issuer {group!r}: the lab runs only cert-manager's own issuers"))
    if problems:
        raise InvalidSetup("(rewrite for the lab)", problems)
    zones = {zone for key in result.keys for zone in key.zones}
    served = sorted(zones)
    for key in http01:
        for name in names.get(key, []):
            if name.startswith("*."):
                continue  # no HTTP-01 for a wildcard (RFC 8555 8.3): the CA refuses it, as it would in production
            zones.add(serving_zone(name, served))
            result.a_records.append((name.lower().rstrip(".") + ".", target.ingress_address))
    result.a_records = sorted(set(result.a_records))
    result.http01_issuers = http01
    result.zones = sorted(zones | set(result.hosted_zones))
    return result


def _asks_http01(obj: SetupObject, issuers: set[IssuerKey]) -> bool:
    """An HTTP-01 issuer itself, or a Certificate or annotated Ingress asking one."""
    return (obj.kind in ISSUER_KINDS and issuer_key(obj) in issuers) or bool(set(issuers_of(obj)) & issuers)


def _leave_out(result: Rewritten, issuers: set[IssuerKey]) -> None:
    """HTTP-01 issuers and what asks them (Certificates, annotated Ingresses) out of `result.objects`, each
    listed as not applicable."""
    kept = []
    for obj in result.objects:
        if _asks_http01(obj, issuers):
            result.not_applicable.append(NotApplicable(obj.file, obj.ref, HTTP01_NOT_APPLICABLE))
        else:
            kept.append(obj)
    result.objects = kept


def check_something_left(objects: list[SetupObject]) -> None:
    """Where HTTP-01 is left out (no solver pods): InvalidSetup when nothing would be issued without it, before
    anything starts (a check of nothing is no check)."""
    issuers = set(http01_issuers(objects))
    issued = [obj for obj in objects if issuers_of(obj)]
    if issuers and issued and all(_asks_http01(obj, issuers) for obj in issued):
        raise InvalidSetup("(for this provider)", [Problem(
            obj.file, obj.ref, "", f"every Certificate and annotated Ingress of the setup is issued over HTTP-01: "
                                   f"{HTTP01_NOT_APPLICABLE}") for obj in issued[:1]])


def _rewrite_issuer(obj: SetupObject, target: LabTarget, dns_names: list[str], result: Rewritten) -> list[Problem]:
    spec = obj.body.get("spec") or {}
    for kind, label in UNSUPPORTED_ISSUERS.items():
        if kind in spec:
            return [Problem(obj.file, obj.ref, f"spec.{kind}", f"a {label} issuer has no stand-in in the lab")]
    acme = spec.get("acme")
    if acme is None:
        return []  # selfSigned and CA issuers run as written

    def change(path: str, old: str, new: str) -> None:
        result.rewrites.append(Rewrite(obj.file, obj.ref, path, old, new))

    if acme.get("server") != target.acme_server:
        change("spec.acme.server", acme.get("server", "(none)"), target.acme_server)
        acme["server"] = target.acme_server
    if target.ca_bundle is not None and acme.get("caBundle") != target.ca_bundle:
        change("spec.acme.caBundle", _bundle(acme.get("caBundle")), f"{_bundle(target.ca_bundle)} (the lab's Pebble CA)")
        acme["caBundle"] = target.ca_bundle
    if "externalAccountBinding" in acme:
        binding = acme.pop("externalAccountBinding")
        change("spec.acme.externalAccountBinding", f"key ID {binding.get('keyID')}", "(removed: Pebble needs none)")
        result.credentials.append(Credential(obj.ref, "spec.acme.externalAccountBinding",
                                             "; ".join(_secret_refs(binding)) or "external account binding"))
    problems = []
    key = TsigKey(tsig_key_name(obj), obj.namespace or CLUSTER_RESOURCE_NAMESPACE, secret_name(obj), ())
    zones: set[str] = set()
    tsig = False  # a solver of this issuer signs with the lab's TSIG key
    for index, solver in enumerate(acme.get("solvers") or []):
        path = f"spec.acme.solvers[{index}]"
        if "http01" in solver:
            problems += _rewrite_http01(obj, f"{path}.http01", solver["http01"] or {}, target, change)
            continue
        dns01 = solver.get("dns01")
        if dns01 is None:
            continue
        if target.aws is not None and [name for name in DNS01_PROVIDERS if name in dns01] == ["route53"]:
            problems += _point_route53(obj, path, dns01["route53"], _solver_zones(solver, dns_names), target.aws,
                                       change, result)
            continue
        tsig = True
        zones |= _solver_zones(solver, dns_names)
        lab = {"nameserver": target.nameserver, "tsigKeyName": key.name, "tsigAlgorithm": TSIG_ALGORITHM,
               "tsigSecretSecretRef": {"name": key.secret_name, "key": TSIG_SECRET_KEY}}
        providers = [name for name in DNS01_PROVIDERS if name in dns01]
        if providers == ["rfc2136"] and dns01["rfc2136"] == lab:
            continue
        for provider in providers:
            old = dns01.pop(provider)
            refs = _secret_refs(old)
            if provider == "rfc2136":
                described = f"rfc2136 at {old.get('nameserver')}, key {old.get('tsigKeyName')}"
            else:
                described = provider
            change(f"{path}.dns01.{provider}", described,
                   f"rfc2136 at {target.nameserver} (the lab's fake DNS), TSIG key {key.name}")
            result.credentials.append(Credential(obj.ref, f"{path}.dns01.{provider}",
                                                 f"{provider}: " + ("; ".join(refs) or "ambient credentials")))
        dns01["rfc2136"] = lab
    if tsig:
        result.keys.append(TsigKey(key.name, key.namespace, key.secret_name, tuple(sorted(zones))))
        result.secrets.append({"apiVersion": "v1", "kind": "Secret",
                               "metadata": {"name": key.secret_name, "namespace": key.namespace},
                               "stringData": {TSIG_SECRET_KEY: target.tsig_secret}})
    return problems


def _rewrite_http01(obj: SetupObject, path: str, http01: dict, target: LabTarget, change) -> list[Problem]:
    """A solver's ingress class -> the lab controller's (a class given, or none: the cluster's default); a named
    Ingress edited in place and a Gateway API route are refused (the lab serves neither)."""
    if "gatewayHTTPRoute" in http01:
        return [Problem(obj.file, obj.ref, f"{path}.gatewayHTTPRoute",
                        "a Gateway API solver has no stand-in in the lab (its ingress controller serves Ingresses)")]
    ingress = http01.get("ingress")
    if ingress is None:
        return []
    if ingress.get("name"):
        return [Problem(obj.file, obj.ref, f"{path}.ingress.name",
                        "a solver editing your Ingress in place has no stand-in in the lab: use a class")]
    given = [name for name in SOLVER_CLASS_FIELDS if name in ingress]
    chosen = given[0] if len(given) == 1 else "class"  # the user's field, where the version has it
    if given == [chosen] and ingress[chosen] == target.ingress_class:
        return []
    old = "; ".join(f"{name} {ingress.pop(name)}" for name in given) or "(none: the cluster's default class)"
    ingress[chosen] = target.ingress_class
    change(f"{path}.ingress.{chosen}", old, f"{target.ingress_class} (the lab's ingress controller)")
    return []


def _point_route53(obj: SetupObject, path: str, route53: dict, zones: set[str], aws: AwsTarget,
                   change: Callable[[str, str, str], None], result: Rewritten) -> list[Problem]:
    """Keep a Route 53 solver as written, its hosted zone, role and credentials mapped to the lab's account."""
    identity = aws.identities.get(obj.ref)
    missing = sorted(zone for zone in zones if zone not in aws.zone_ids)
    if identity is None or missing:
        return [Problem(obj.file, obj.ref, f"{path}.dns01.route53",
                        f"the lab's AWS account has no identity or hosted zone for it ({', '.join(missing)})")]
    here = f"{path}.dns01.route53"
    result.hosted_zones.update({zone: aws.zone_ids[zone] for zone in zones})
    if "hostedZoneID" in route53:
        if len(zones) != 1:
            return [Problem(obj.file, obj.ref, f"{here}.hostedZoneID",
                            f"one hosted zone for {len(zones)} zones ({', '.join(sorted(zones))}): give the solver "
                            "a selector.dnsZones of its zone")]
        (zone,) = zones
        if route53["hostedZoneID"] != aws.zone_ids[zone]:
            change(f"{here}.hostedZoneID", route53["hostedZoneID"], f"{aws.zone_ids[zone]} (the lab's {zone})")
            route53["hostedZoneID"] = aws.zone_ids[zone]
    if route53.get("role") and route53["role"] != identity.role_arn:
        change(f"{here}.role", route53["role"], f"{identity.role_arn} (the lab's, with the documented policy)")
        route53["role"] = identity.role_arn
    secret = {"name": aws_secret_name(obj)}
    used = _secret_refs(route53) + ([f"accessKeyID {route53['accessKeyID']}"] if route53.get("accessKeyID") else [])
    listed = len(result.rewrites)
    if "accessKeyID" in route53:  # the user's form of the key id (a literal, or a Secret's key) is kept
        if route53["accessKeyID"] != identity.access_key_id:
            change(f"{here}.accessKeyID", route53["accessKeyID"], f"{identity.access_key_id} (the lab's IAM user)")
            route53["accessKeyID"] = identity.access_key_id
    elif route53.get("accessKeyIDSecretRef") != {**secret, "key": AWS_KEY_ID}:
        change(f"{here}.accessKeyIDSecretRef", _ref(route53.get("accessKeyIDSecretRef")),
               f"Secret {secret['name']}, key {AWS_KEY_ID} (the lab's IAM user)")
        route53["accessKeyIDSecretRef"] = {**secret, "key": AWS_KEY_ID}
    if route53.get("secretAccessKeySecretRef") != {**secret, "key": AWS_SECRET_KEY}:
        change(f"{here}.secretAccessKeySecretRef", _ref(route53.get("secretAccessKeySecretRef")),
               f"Secret {secret['name']}, key {AWS_SECRET_KEY} (the lab's IAM user)")
        route53["secretAccessKeySecretRef"] = {**secret, "key": AWS_SECRET_KEY}
    if len(result.rewrites) > listed:  # the user's credentials (or the pod's ambient ones) are not used
        result.credentials.append(Credential(obj.ref, here, "route53: " + ("; ".join(used) or "ambient credentials")))
    namespace = obj.namespace or CLUSTER_RESOURCE_NAMESPACE
    if not any(s["metadata"] == {"name": secret["name"], "namespace": namespace} for s in result.secrets):
        result.secrets.append({"apiVersion": "v1", "kind": "Secret",
                               "metadata": {"name": secret["name"], "namespace": namespace},
                               "stringData": {AWS_KEY_ID: identity.access_key_id,
                                              AWS_SECRET_KEY: identity.secret_access_key}})
    return []
