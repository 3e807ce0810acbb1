"""Certificate spec drift: what a Certificate asks for (key algorithm, size and encoding, usages, names, subject,
duration) is not what gets issued and stored, and a workload or a client fails on it.

Spec: the Secret's tls.key is the asked algorithm and size in the asked PEM encoding (PKCS#1: "RSA PRIVATE KEY" /
"EC PRIVATE KEY"; PKCS#8: "PRIVATE KEY"; Ed25519 is PKCS#8 whatever is asked) and matches tls.crt; the request
cert-manager sent (the CertificateRequest's spec.request) carries that public key, every asked name (DNS, IP, URI,
email), the subject and the usages (cert-manager's defaults, digital signature and key encipherment, when none are
asked); the CA and self-signed issuers sign exactly that: the certificate has those names, that subject, exactly
those usages, notAfter - notBefore = the duration, renewalTime = notAfter - renewBefore, and it verifies to ca.crt.
An ACME CA decides the subject and usages itself (Pebble, as Let's Encrypt, ignores the CSR's): there only the
request, the key and the names are cert-manager's to get right; a key the CA refuses (Ed25519: badCSR at
finalize) fails the issuance once with the CA's words on the Certificate, with no second order for 30 s (the
backoff), and no Secret is written.
Evidence: the Secret (tls.key's PEM and key, tls.crt, ca.crt), the CertificateRequest's CSR, the Certificate's status
and Events.
"""

from __future__ import annotations

import base64
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.scenario_api import (
    CERTIFICATE, ISSUANCE, SECRET, acme_requests, all_of, certificate, certificate_done_issuing, certificate_event,
    certificate_status_field, create_certificate, epoch, get, go_duration_seconds, holds_throughout, inspect_secret,
    not_, related, secret_data,
)

ISSUED = 30  # a CA issuer signs in well under a second (an RSA 4096 key takes the controller a few); load margin
QUIET = 30  # no second order in this long after the failure: a retry without backoff comes within seconds
DEFAULT_USAGES = {"digital signature", "key encipherment"}  # cert-manager's when a Certificate names none
PEM_LABEL = {("RSA", "PKCS1"): "RSA PRIVATE KEY", ("ECDSA", "PKCS1"): "EC PRIVATE KEY"}  # else "PRIVATE KEY"
KEY_USAGES = {"digital signature": "digital_signature", "content commitment": "content_commitment",
              "key encipherment": "key_encipherment", "data encipherment": "data_encipherment",
              "key agreement": "key_agreement", "cert sign": "key_cert_sign", "crl sign": "crl_sign"}
EXTENDED_USAGES = {"server auth": ExtendedKeyUsageOID.SERVER_AUTH, "client auth": ExtendedKeyUsageOID.CLIENT_AUTH,
                   "code signing": ExtendedKeyUsageOID.CODE_SIGNING,
                   "email protection": ExtendedKeyUsageOID.EMAIL_PROTECTION}
SUBJECT = {"organizations": NameOID.ORGANIZATION_NAME, "organizationalUnits": NameOID.ORGANIZATIONAL_UNIT_NAME,
           "countries": NameOID.COUNTRY_NAME, "provinces": NameOID.STATE_OR_PROVINCE_NAME,
           "localities": NameOID.LOCALITY_NAME, "streetAddresses": NameOID.STREET_ADDRESS,
           "postalCodes": NameOID.POSTAL_CODE}


def key(algorithm: str, size: int | None = None, encoding: str = "PKCS1") -> dict:
    return {"algorithm": algorithm, **({"size": size} if size else {}), "encoding": encoding}


# What users write, one Certificate each: every key algorithm and size cert-manager offers in both encodings (RSA
# also without a size: 2048), a server certificate with IP SANs and a full subject, a client certificate with only
# a URI and an email, a workload's SPIFFE identity with only a URI (as istio-csr's and mTLS meshes' are) and one
# revision kept.
KEYS = {
    "rsa-default": key("RSA"), "rsa-2048-pkcs1": key("RSA", 2048), "rsa-3072-pkcs8": key("RSA", 3072, "PKCS8"),
    "rsa-4096": key("RSA", 4096),
    "ecdsa-256-pkcs8": key("ECDSA", 256, "PKCS8"), "ecdsa-384": key("ECDSA", 384), "ecdsa-521": key("ECDSA", 521),
    "ed25519": key("Ed25519"),
}
SERVER = dict(
    commonName="api.certchaos.test", ipAddresses=["192.0.2.10", "2001:db8::10"], duration="2h", renewBefore="30m",
    usages=["server auth", "digital signature", "key encipherment"], privateKey=key("RSA", 3072, "PKCS8"),
    subject={"organizations": ["certchaos"], "organizationalUnits": ["platform"], "countries": ["NL"],
             "provinces": ["Noord-Holland"], "localities": ["Amsterdam"], "streetAddresses": ["Dam 1"],
             "postalCodes": ["1012 JS"], "serialNumber": "42"})
# Not "email protection": up to v1.12 the webhook denies its requests at random (test_webhook_validation.py's
# known issue), which would make this scenario's verdict a coin toss.
CLIENT = dict(uris=["spiffe://certchaos.test/ns/payments/sa/client"], emailAddresses=["ops@certchaos.test"],
              usages=["client auth", "digital signature", "key agreement", "code signing"],
              privateKey=key("ECDSA", 384))
WORKLOAD = dict(uris=["spiffe://certchaos.test/ns/payments/sa/api"], revisionHistoryLimit=1,
                usages=["server auth", "client auth", "digital signature", "key encipherment"],
                privateKey=key("ECDSA", 256))


def usages_of(extensions: x509.Extensions) -> set[str]:
    """cert-manager's names for the key usages and extended key usages in `extensions`."""
    found = set()
    try:
        bits = extensions.get_extension_for_class(x509.KeyUsage).value
        found |= {name for name, attribute in KEY_USAGES.items() if getattr(bits, attribute)}
    except x509.ExtensionNotFound:
        pass
    try:
        oids = set(extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
        found |= {name for name, oid in EXTENDED_USAGES.items() if oid in oids}
    except x509.ExtensionNotFound:
        pass
    return found


def names_of(extensions: x509.Extensions) -> dict:
    """The subjectAltNames in `extensions`, by the Certificate spec field that asks for each kind."""
    try:
        san = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return {"dnsNames": [], "ipAddresses": [], "uris": [], "emailAddresses": []}
    return {"dnsNames": sorted(san.get_values_for_type(x509.DNSName)),
            "ipAddresses": sorted(str(ip) for ip in san.get_values_for_type(x509.IPAddress)),
            "uris": sorted(san.get_values_for_type(x509.UniformResourceIdentifier)),
            "emailAddresses": sorted(san.get_values_for_type(x509.RFC822Name))}


def subject_of(name: x509.Name) -> dict:
    found = {field: sorted(a.value for a in name.get_attributes_for_oid(oid)) for field, oid in SUBJECT.items()}
    found["serialNumber"] = ",".join(a.value for a in name.get_attributes_for_oid(NameOID.SERIAL_NUMBER))
    found["commonName"] = ",".join(a.value for a in name.get_attributes_for_oid(NameOID.COMMON_NAME))
    return found


def asked_names(spec: dict) -> dict:
    return {"dnsNames": sorted(spec.get("dnsNames") or []),
            "ipAddresses": sorted(str(ipaddress.ip_address(ip)) for ip in spec.get("ipAddresses", [])),
            "uris": sorted(spec.get("uris", [])), "emailAddresses": sorted(spec.get("emailAddresses", []))}


def asked_subject(spec: dict) -> dict:
    subject = spec.get("subject", {})
    asked = {field: sorted(subject.get(field, [])) for field in SUBJECT}
    asked["serialNumber"], asked["commonName"] = subject.get("serialNumber", ""), spec.get("commonName", "")
    return asked


def key_kind(private_key) -> tuple[str, int | None]:
    if isinstance(private_key, rsa.RSAPrivateKey):
        return "RSA", private_key.key_size
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return "ECDSA", private_key.curve.key_size
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return "Ed25519", None
    return type(private_key).__name__, None


def stored_key(secret: dict, asked: dict) -> list[str]:
    """What is wrong with the Secret's tls.key against the asked privateKey (algorithm, size, encoding)."""
    pem = secret_data(secret)["tls.key"]
    label = pem.split(b"\n", 1)[0].decode().removeprefix("-----BEGIN ").removesuffix("-----")
    algorithm, size = key_kind(load_pem_private_key(pem, None))
    want_label = PEM_LABEL.get((asked["algorithm"], asked["encoding"]), "PRIVATE KEY")
    want_size = asked.get("size") or {"RSA": 2048, "ECDSA": 256}.get(asked["algorithm"])
    wrong = []
    if (algorithm, size) != (asked["algorithm"], want_size):
        wrong.append(f"tls.key is {algorithm} {size or ''}, asked {asked['algorithm']} {want_size or ''}")
    if label != want_label:
        wrong.append(f"tls.key is PEM {label!r}, {asked['encoding']} asks {want_label!r}")
    return wrong


def sent_request(kube, namespace: str, name: str) -> x509.CertificateSigningRequest:
    """The CSR cert-manager sent for the Certificate's current revision (its CertificateRequest's spec.request)."""
    found = related(kube, namespace, name, acme=False)
    assert found.latest_request is not None, f"Certificate {namespace}/{name}: no CertificateRequest found"
    return x509.load_pem_x509_csr(base64.b64decode(found.latest_request["spec"]["request"]))


def content_differences(what: str, extensions: x509.Extensions, subject: x509.Name, spec: dict) -> list[str]:
    """What a CSR or certificate (`what`) lacks or adds against the spec: names, subject, usages."""
    found = {"names": names_of(extensions), "subject": subject_of(subject), "usages": usages_of(extensions)}
    asked = {"names": asked_names(spec), "subject": asked_subject(spec),
             "usages": set(spec.get("usages") or DEFAULT_USAGES)}
    return [f"{what} {part} {found[part]}, asked {asked[part]}" for part in found if found[part] != asked[part]]


def request_differences(csr: x509.CertificateSigningRequest, spec: dict, secret: dict) -> list[str]:
    """What the CSR cert-manager sent lacks or adds against the Certificate's spec (and the Secret's key)."""
    stored = load_pem_private_key(secret_data(secret)["tls.key"], None).public_key()
    wrong = [] if csr.public_key() == stored else ["the request's public key is not the Secret's"]
    return wrong + content_differences("request", csr.extensions, csr.subject, spec)


def issued_differences(leaf: x509.Certificate, spec: dict, status: dict) -> list[str]:
    """What the signed certificate lacks or adds against the spec, for an issuer that signs what it is asked."""
    wrong = content_differences("certificate", leaf.extensions, leaf.subject, spec)
    lifetime = (leaf.not_valid_after_utc - leaf.not_valid_before_utc).total_seconds()
    asked = go_duration_seconds(spec["duration"]) if "duration" in spec else 90 * 24 * 3600  # default: 90 days
    if abs(lifetime - asked) > 1:  # NotBefore and NotAfter are truncated to the second
        wrong.append(f"certificate valid {lifetime:.0f} s, asked {asked:.0f} s")
    # cert-manager's default renewBefore: a third of the lifetime
    renew_before = go_duration_seconds(spec["renewBefore"]) if "renewBefore" in spec else asked / 3
    want = leaf.not_valid_after_utc.timestamp() - renew_before
    if abs(epoch(status["renewalTime"]) - want) > 1:
        wrong.append(f"renewalTime {status['renewalTime']}, notAfter - renewBefore is {want:.0f}")
    return wrong


def manifest(name: str, issuer_ref: dict, spec: dict) -> dict:
    return certificate(name, issuer_ref, spec.get("dnsNames", []), **{k: v for k, v in spec.items() if k != "dnsNames"})


def issue_all(scenario, kube, namespace: str, issuer_ref: dict, specs: dict[str, dict], within: float) -> dict:
    """Create every Certificate at once (they issue in parallel) and wait until each is issued."""
    for name, spec in specs.items():
        create_certificate(kube, namespace, manifest(name, issuer_ref, spec))
    for name in specs:
        scenario.steady_state(certificate_done_issuing(kube, namespace, name),
                              subject=f"Certificate {namespace}/{name}", expected="issued", within=within)
    return {name: get(kube, SECRET, namespace, name) for name in specs}


def test_the_ca_and_self_signed_issuers_store_and_sign_exactly_what_each_certificate_asks_for(
        scenario, kube, namespace, ca_issuer):
    specs = {name: {"dnsNames": [f"{name}.certchaos.test"], "privateKey": asked} for name, asked in KEYS.items()}
    specs.update(server={**SERVER, "dnsNames": ["api.certchaos.test", "api.internal"]}, client=CLIENT,
                 workload=WORKLOAD)
    self_signed = {"self-signed-ed25519": {"dnsNames": ["self.certchaos.test"],
                                           "privateKey": key("Ed25519", None, "PKCS8")}}
    secrets = issue_all(scenario, kube, namespace, ca_issuer, specs, ISSUED)
    # make_ca_issuer's bootstrap Issuer is a self-signed one: the certificate signs itself with its own key.
    secrets |= issue_all(scenario, kube, namespace, {"name": f"{ca_issuer['name']}-bootstrap", "kind": "Issuer"},
                         self_signed, ISSUED)
    wrong = {}
    for name, spec in (specs | self_signed).items():
        secret, status = secrets[name], get(kube, CERTIFICATE, namespace, name)["status"]
        found = inspect_secret(secret)
        leaf = x509.load_pem_x509_certificates(secret_data(secret)["tls.crt"])[0]
        problems = (stored_key(secret, spec.get("privateKey") or key("RSA"))
                    + request_differences(sent_request(kube, namespace, name), spec, secret)
                    + issued_differences(leaf, spec, status))
        if not (found.key_matches and found.verified):
            problems.append(f"key matches: {found.key_matches}, chain verifies to ca.crt: {found.verified} "
                            f"({found.verify_error})")
        scenario.note("issued as asked" if not problems else "not as asked", certificate=name,
                      problems=problems, issued=found.summary())
        if problems:
            wrong[name] = problems
    assert not wrong, f"Certificates not issued and stored as asked: {wrong}"


def acme_spec(acme_issuer, asked: dict) -> dict:
    return {"dnsNames": [acme_issuer.dns_name("web"), acme_issuer.dns_name("www")], "privateKey": asked,
            "subject": {"organizations": ["certchaos"]},  # no commonName: the zone's names exceed its 64 bytes
            "usages": ["server auth", "client auth", "digital signature"]}


def test_an_acme_certificate_is_requested_and_stored_as_asked(scenario, kube, namespace, acme_issuer):
    name, asked = "web", key("ECDSA", 384, "PKCS8")
    spec = acme_spec(acme_issuer, asked)
    secret = issue_all(scenario, kube, namespace, acme_issuer.ref, {name: spec}, ISSUANCE)[name]
    found = inspect_secret(secret)
    leaf = x509.load_pem_x509_certificates(secret_data(secret)["tls.crt"])[0]
    problems = stored_key(secret, asked) + request_differences(sent_request(kube, namespace, name), spec, secret)
    # Pebble signs the names of the order; the subject and usages are its own (the CSR's are checked above).
    if names_of(leaf.extensions)["dnsNames"] != asked_names(spec)["dnsNames"] or not found.key_matches:
        problems.append(f"certificate names {names_of(leaf.extensions)}, key matches {found.key_matches}")
    scenario.note("issued as asked" if not problems else "not as asked", certificate=name, problems=problems,
                  issued=found.summary())
    assert not problems, f"Certificate {namespace}/{name} not requested and stored as asked: {problems}"


def test_an_ed25519_key_the_acme_ca_refuses_fails_the_issuance_once_with_the_cas_reason(
        scenario, kube, namespace, acme_issuer):
    # Pebble, as Let's Encrypt, refuses Ed25519 CSRs at finalize (badCSR): a key the CA cannot sign must show as
    # the CA's own words on the Certificate, one failed attempt (then the 1 h backoff), no Secret written.
    name, subject = "web", f"Certificate {namespace}/web"
    create_certificate(kube, namespace, manifest(name, acme_issuer.ref, acme_spec(acme_issuer, key("Ed25519"))))
    scenario.expect(all_of(certificate_event(kube, namespace, name, "Warning", "Failed", message_contains="badCSR",
                                             involved_kind="Certificate"),
                           certificate_status_field(kube, namespace, name, "failedIssuanceAttempts", equals=1)),
                    subject=subject, expected="failed once with the CA's badCSR", within=ISSUANCE)
    # Catches a controller without the backoff, which also reads 1 at the moment of the first failure.
    scenario.expect(holds_throughout(all_of(
        certificate_status_field(kube, namespace, name, "failedIssuanceAttempts", equals=1),
        not_(acme_requests(acme_issuer.acme, "newOrder", at_least=2))), QUIET),
        subject=subject, expected=f"no second order for {QUIET} s", within=QUIET + 15)
    csr = sent_request(kube, namespace, name)
    assert isinstance(csr.public_key(), ed25519.Ed25519PublicKey) and get(kube, SECRET, namespace, name) is None, (
        f"the request should carry an Ed25519 key ({type(csr.public_key()).__name__}) and no Secret be written")
