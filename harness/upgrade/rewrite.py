"""Point a user's setup at the lab, changing only what must change, and say what changed.

- ACME issuers: `server` -> the lab's Pebble (through its proxy), `caBundle` -> the CA that signs Pebble's
  TLS certificate; an externalAccountBinding is dropped (Pebble needs none; its Secret is a credential).
- DNS-01 solvers of any provider (cloudflare, route53, clouddns, azureDNS, digitalocean, akamai, acmeDNS,
  webhook, rfc2136) -> rfc2136 against the fake DNS's authoritative view, signed with a lab TSIG key of
  the issuer's own (its Secret is added to the setup); the provider's credentials are not used and are
  listed in the report. The lab serves each zone the setup's DNS-01 names fall in (see `zone_of`).
- What the lab cannot stand in for is refused with the object and field named: HTTP-01 on the local
  provider (no pods to serve the challenge), Vault and Venafi issuers, external issuer groups.

Everything else is left exactly as written. Rewriting a rewritten setup changes nothing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from harness.upgrade.setup import InvalidSetup, Problem, SetupObject

DNS01_PROVIDERS = ("rfc2136", "cloudflare", "route53", "clouddns", "azureDNS", "digitalocean", "akamai",
                   "acmeDNS", "webhook")
UNSUPPORTED_ISSUERS = {"vault": "HashiCorp Vault", "venafi": "Venafi TPP/Cloud"}
TSIG_ALGORITHM = "HMACSHA256"  # cert-manager's spelling; the lab's keys are hmac-sha256 (lab/issuers.py)
TSIG_SECRET_KEY = "secret"
CLUSTER_RESOURCE_NAMESPACE = "cert-manager"  # where a ClusterIssuer's Secrets live (--cluster-resource-namespace)
ISSUER_KINDS = ("Issuer", "ClusterIssuer")
ISSUER_ANNOTATIONS = {"cert-manager.io/issuer": "Issuer", "cert-manager.io/cluster-issuer": "ClusterIssuer"}


@dataclass(frozen=True)
class LabTarget:
    """What the setup is pointed at: the lab's ACME directory and CA bundle (base64), the fake DNS's
    authoritative nameserver (host:port) and the TSIG secret (base64) its keys share."""

    acme_server: str
    ca_bundle: str | None  # None: the version has no acme.caBundle (v1.10); the lab trusts Pebble otherwise
    nameserver: str
    tsig_secret: str
    http01: bool = False  # the provider can run HTTP-01 solver pods (kind); local cannot


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


def tsig_key_name(issuer: SetupObject) -> str:
    scope = issuer.namespace or "cluster"
    return f"certchaos-{scope}-{issuer.name}".lower()


def secret_name(issuer: SetupObject) -> str:
    return f"certchaos-tsig-{issuer.name}"


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


def _bundle(text: str | None) -> str:
    return f"<caBundle, {len(text)} base64 chars>" if text else "(none)"


def _certificate_names(objects: list[SetupObject]) -> dict[tuple[str, str | None, str], list[str]]:
    """(issuer kind, issuer namespace or None, issuer name) -> the DNS names the setup asks it for."""
    names: dict[tuple[str, str | None, str], list[str]] = {}
    for obj in objects:
        if obj.kind == "Certificate":
            ref = obj.body.get("spec", {}).get("issuerRef", {})
            kind = ref.get("kind") or "Issuer"
            key = (kind, obj.namespace if kind == "Issuer" else None, ref.get("name"))
            names.setdefault(key, []).extend(obj.body["spec"].get("dnsNames") or [])
        elif obj.kind == "Ingress":
            annotations = (obj.body.get("metadata") or {}).get("annotations") or {}
            for annotation, kind in ISSUER_ANNOTATIONS.items():
                if annotation in annotations:
                    key = (kind, obj.namespace if kind == "Issuer" else None, annotations[annotation])
                    for tls in (obj.body.get("spec") or {}).get("tls") or []:
                        names.setdefault(key, []).extend(tls.get("hosts") or [])
    return names


def rewrite(objects: list[SetupObject], target: LabTarget) -> Rewritten:
    """The setup pointed at `target` (copies; `objects` are untouched), or InvalidSetup naming each object
    and field the lab cannot stand in for."""
    result = Rewritten(objects=[SetupObject(o.file, o.index, copy.deepcopy(o.body)) for o in objects],
                       secrets=[], keys=[], zones=[])
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
    result.zones = sorted({zone for key in result.keys for zone in key.zones})
    return result


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
    for index, solver in enumerate(acme.get("solvers") or []):
        path = f"spec.acme.solvers[{index}]"
        if "http01" in solver and not target.http01:
            problems.append(Problem(obj.file, obj.ref, f"{path}.http01",
                                    "HTTP-01 needs solver pods and the local provider has no nodes: use a DNS-01 "
                                    "solver for the check, or --provider kind once it runs the lab"))
            continue
        dns01 = solver.get("dns01")
        if dns01 is None:
            continue
        selector_zones = ((solver.get("selector") or {}).get("dnsZones")) or []
        zones |= {zone.lower().rstrip(".") + "." for zone in selector_zones} or {zone_of(n) for n in dns_names}
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
    if zones or any("dns01" in (s or {}) for s in acme.get("solvers") or []):
        result.keys.append(TsigKey(key.name, key.namespace, key.secret_name, tuple(sorted(zones))))
        result.secrets.append({"apiVersion": "v1", "kind": "Secret",
                               "metadata": {"name": key.secret_name, "namespace": key.namespace},
                               "stringData": {TSIG_SECRET_KEY: target.tsig_secret}})
    return problems
