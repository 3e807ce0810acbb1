"""The DNS fault injectors against a real fake-DNS server through its real control API: each apply
changes what the server does, each revert restores exactly what was there before."""

from __future__ import annotations

import base64

import dns.query
import dns.rcode
import dns.tsig
import dns.tsigkeyring
import dns.update
import pytest

from fakes.dns import DnsServer, Policy, TsigKey
from harness.chaos.dns_faults import PropagationLag, TsigKeyRevoked, TsigKeyRotated, TsigPolicyNarrowed

ZONE = "lab.certchaos.test."
SECRET = base64.b64encode(b"k" * 32).decode()
POLICY = Policy(names=(f"_acme-challenge.*.{ZONE}",), types=("TXT",))


@pytest.fixture
def control(dns_control):
    """A DnsServer with one scoped key, its control API, and a client of it; all stopped afterwards."""
    with DnsServer([ZONE], [TsigKey("lab", "hmac-sha256", SECRET, POLICY)]) as server:
        yield server, dns_control(server)


def publish(server: DnsServer, secret: str = SECRET) -> str:
    """Send cert-manager's kind of update: add the challenge TXT record, signed with the key."""
    update = dns.update.Update(ZONE, keyring=dns.tsigkeyring.from_text({"lab.": ("hmac-sha256", secret)}),
                               keyalgorithm=dns.tsig.HMAC_SHA256)
    update.add(f"_acme-challenge.web.{ZONE}", 60, "TXT", '"token"')
    host, port = server.authoritative
    try:
        return dns.rcode.to_text(dns.query.tcp(update, host, port=port, timeout=5).rcode())
    except dns.tsig.PeerError as error:
        return type(error).__name__


def test_propagation_lag_sets_the_view_delay_and_restores_the_previous_one(control):
    server, client = control
    client.set_zone(ZONE, ca_propagation_delay=3)
    lag = PropagationLag(client, ZONE, 90, view="ca")
    lag.apply()
    assert client.zone_settings(ZONE)["ca_propagation_delay"] == 90
    assert client.zone_settings(ZONE)["propagation_delay"] == 0
    lag.revert()
    assert client.zone_settings(ZONE)["ca_propagation_delay"] == 3


@pytest.mark.parametrize("make_fault, refused_as", [
    (lambda client: TsigKeyRevoked(client, "lab"), "PeerBadKey"),
    (lambda client: TsigPolicyNarrowed(client, "lab"), "REFUSED"),
    (lambda client: TsigKeyRotated(client, "lab", old_secret=SECRET), "PeerBadSignature"),
], ids=["revoked", "policy-narrowed", "rotated"])
def test_a_key_fault_refuses_the_challenge_update_until_reverted(control, make_fault, refused_as):
    server, client = control
    fault = make_fault(client)
    fault.apply()
    assert publish(server) == refused_as
    fault.revert()
    assert publish(server) == "NOERROR"
    assert next(k for k in client.keys() if k["name"] == "lab")["policy"] == POLICY.to_json()


def test_a_rotated_key_keeps_its_secrets_out_of_the_journal(control):
    _, client = control
    assert SECRET not in repr(TsigKeyRotated(client, "lab", old_secret=SECRET))
