"""ACME DNS-01 end to end without Kubernetes: a real ACME client, Pebble and the fake DNS server.

Spec: a client that publishes the challenge TXT record with a TSIG-signed RFC 2136 update gets a certificate
chaining to Pebble's root; when the CA's resolver lags behind the update, validation fails with Pebble's
"unauthorized" problem; when the TSIG key is revoked, the update is refused and the zone is unchanged.
"""

from __future__ import annotations

import datetime
import uuid

import dns.message
import dns.query
import dns.update
import josepy as jose
import pytest
from acme import challenges, client, crypto_util, messages
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.verification import PolicyBuilder, Store
from dns.rcode import Rcode
from dns.tsig import PeerBadKey

from harness.wait import Seen, wait_for

pytestmark = pytest.mark.integration

VALIDITY = 300  # seconds: a short certificate, as compressed-time scenarios use
# Pebble validates at once (PEBBLE_VA_NOSLEEP) with one DNS query to loopback (milliseconds); 30 s also
# covers a query that hits Pebble's own 15 s DNS timeout on a loaded machine.
SETTLE_TIMEOUT = 30.0
# Issuing is signing one certificate; 30 s covers a loaded machine.
FINALIZE_TIMEOUT = 30.0
# Far longer than the client waits between the update and answering the challenge (not at all).
LAG = 30.0
DNS_TIMEOUT = 5.0  # one update over loopback TCP


class Client:
    """An ACME account at Pebble (certbot's acme library), trusting the run CA."""

    def __init__(self, pebble):
        self.key = jose.JWKRSA(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
        network = client.ClientNetwork(self.key, user_agent="certchaos-tests", verify_ssl=str(pebble.ca_bundle))
        self.acme = client.ClientV2(client.ClientV2.get_directory(pebble.directory_url, network), network)
        self.acme.new_account(messages.NewRegistration.from_data(terms_of_service_agreed=True))

    def order(self, name: str) -> tuple[messages.OrderResource, messages.ChallengeBody]:
        """An order for `name` and its dns-01 challenge."""
        private_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        order = self.acme.new_order(crypto_util.make_csr(private_key, [name]))
        (authorization,) = order.authorizations
        (challenge,) = [c for c in authorization.body.challenges if isinstance(c.chall, challenges.DNS01)]
        return order, challenge

    def txt(self, challenge: messages.ChallengeBody) -> str:
        return challenge.chall.validation(self.key)

    def answer(self, challenge: messages.ChallengeBody) -> None:
        self.acme.answer_challenge(challenge, challenge.chall.response(self.key))

    def settled(self, order: messages.OrderResource) -> Seen:
        """Condition: the order's authorization left "pending"; state is (status, problems of its challenges)."""
        (authorization,) = order.authorizations
        current, _ = self.acme.poll(authorization)
        problems = tuple(f"{c.error.typ}: {c.error.detail}" for c in current.body.challenges if c.error)
        return Seen(current.body.status != messages.STATUS_PENDING, (current.body.status.name, problems))


def publish_txt(server: tuple[str, int], zone: str, tsig_key, name: str, value: str) -> dns.message.Message:
    """Send the TSIG-signed RFC 2136 update that sets `name` TXT `value`, as a DNS-01 provider does."""
    update = dns.update.UpdateMessage(zone, keyring=tsig_key.dnspython_key())
    update.replace(name + ".", 60, "TXT", f'"{value}"')
    host, port = server
    return dns.query.tcp(update, host, port=port, timeout=DNS_TIMEOUT)


def unique_name(zone: str) -> str:
    return f"www-{uuid.uuid4().hex[:8]}.{zone.rstrip('.')}"


def test_dns01_issues_a_certificate_that_chains_to_pebbles_root(make_pebble, pebble_binary, dns, zone, tsig_key):
    pebble = make_pebble(resolver=dns.ca_resolver, binary=pebble_binary, validity=VALIDITY)
    account = Client(pebble)
    name = unique_name(zone)
    order, challenge = account.order(name)

    response = publish_txt(dns.authoritative, zone, tsig_key, f"_acme-challenge.{name}", account.txt(challenge))
    assert response.rcode() == Rcode.NOERROR
    account.answer(challenge)
    status, problems = wait_for(lambda: account.settled(order), subject=f"authorization for {name}",
                                expected="to leave pending", timeout=SETTLE_TIMEOUT)
    assert (status, problems) == ("valid", ())

    deadline = datetime.datetime.now() + datetime.timedelta(seconds=FINALIZE_TIMEOUT)
    order = account.acme.finalize_order(order, deadline)
    leaf, *intermediates = x509.load_pem_x509_certificates(order.fullchain_pem.encode())
    root = x509.load_pem_x509_certificate(pebble.management.roots().encode())
    verifier = (PolicyBuilder().store(Store([root])).time(leaf.not_valid_before_utc)
                .build_server_verifier(x509.DNSName(name)))
    chain = verifier.verify(leaf, intermediates)
    assert chain[-1] == root

    # Pebble's notAfter is inclusive: notBefore + validity - 1 s.
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert lifetime == datetime.timedelta(seconds=VALIDITY - 1)
    assert pebble.management.cert_status(leaf.serial_number).status == "Valid"
    assert [v.valid for v in pebble.validations()] == [True]
    record = f"_acme-challenge.{name}"
    assert {entry.rcode for entry in dns.log.queries(record, view="ca_resolver", rtype="TXT")} == {"NOERROR"}


def test_dns01_fails_when_the_cas_resolver_lags_behind_the_update(make_pebble, pebble_binary, dns, zone,
                                                                   tsig_key):
    pebble = make_pebble(resolver=dns.ca_resolver, binary=pebble_binary)
    dns.set_propagation_delay(zone, LAG, view="ca_resolver")
    account = Client(pebble)
    name = unique_name(zone)
    order, challenge = account.order(name)
    record = f"_acme-challenge.{name}"

    publish_txt(dns.authoritative, zone, tsig_key, record, account.txt(challenge))
    account.answer(challenge)  # at once: no waiting for propagation
    status, problems = wait_for(lambda: account.settled(order), subject=f"authorization for {name}",
                                expected="to leave pending", timeout=SETTLE_TIMEOUT)

    assert status == "invalid"
    (problem,) = problems
    # Pebble asked its resolver, which does not see the record yet: NXDOMAIN (rcode 3), which v2.10.3
    # prints as 3 and Debian's 2.4 as the quoted byte '\x03'.
    failed_lookup = ("urn:ietf:params:acme:error:unauthorized: Error retrieving TXT records for DNS challenge "
                     f'("DNS lookup for \\"{record}\\" returned an unsuccessful response: ')
    assert problem in (failed_lookup + '3")', failed_lookup + "'\\\\x03'\")"), problem
    assert dns.records(record, "TXT", view="resolver"), "the self-check's resolver sees the record all along"
    seen_by_ca = {entry.rcode for entry in dns.log.queries(record, view="ca_resolver", rtype="TXT")}
    assert seen_by_ca == {"NXDOMAIN"}
    assert [v.valid for v in pebble.validations()] == [False]


def test_a_revoked_tsig_key_cannot_publish_the_challenge(pebble, dns, zone, tsig_key):
    account = Client(pebble)
    name = unique_name(zone)
    _, challenge = account.order(name)
    record = f"_acme-challenge.{name}"
    dns.revoke_key(tsig_key.name)

    # The server answers NOTAUTH with TSIG error BADKEY, which dnspython raises as PeerBadKey.
    with pytest.raises(PeerBadKey):
        publish_txt(dns.authoritative, zone, tsig_key, record, account.txt(challenge))
    (update,) = dns.log.updates()
    assert (update.rcode, update.tsig_error) == ("NOTAUTH", "BADKEY")
    assert any(change.startswith(f"add {record}.") for change in update.changes), update.changes  # what it asked for
    assert dns.records(record, "TXT") == []
