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
from fakes.dns.control import ControlServer
from harness.dnscontrol import DnsControl
from harness.injectors import PropagationLag, TsigKeyRevoked, TsigKeyRotated, TsigPolicyNarrowed

ZONE = "lab.certchaos.test."
SECRET = base64.b64encode(b"k" * 32).decode()
POLICY = Policy(names=(f"_acme-challenge.*.{ZONE}",), types=("TXT",))


@pytest.fixture
def control():
    """A DnsServer with one scoped key, its control API, and a client of it; all stopped afterwards."""
    with DnsServer([ZONE], [TsigKey("lab", "hmac-sha256", SECRET, POLICY)]) as server:
        api = ControlServer(server, "127.0.0.1").start()
        client = DnsControl(api.url)
        try:
            yield server, client
        finally:
            client.close()
            api.stop()


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


def test_a_revoked_key_is_refused_until_restored(control):
    server, client = control
    revoked = TsigKeyRevoked(client, "lab")
    revoked.apply()
    assert publish(server) == "PeerBadKey"
    revoked.revert()
    assert publish(server) == "NOERROR"


def test_a_narrowed_policy_refuses_challenges_and_revert_restores_the_old_policy(control):
    server, client = control
    narrowed = TsigPolicyNarrowed(client, "lab")
    narrowed.apply()
    assert publish(server) == "REFUSED"
    narrowed.revert()
    assert next(k for k in client.keys() if k["name"] == "lab")["policy"] == POLICY.to_json()
    assert publish(server) == "NOERROR"


def test_a_rotated_key_fails_the_old_secret_and_revert_brings_it_back(control):
    server, client = control
    rotated = TsigKeyRotated(client, "lab", old_secret=SECRET)
    rotated.apply()
    assert publish(server) == "PeerBadSignature"
    rotated.revert()
    assert publish(server) == "NOERROR"
    assert SECRET not in repr(rotated)
