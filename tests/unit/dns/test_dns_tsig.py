"""TSIG-authenticated updates are answered as a real primary answers them, and the key levers (revoke,
restore, rotate, narrow) change those answers at run time: the "DNS-provider permission drift" fault."""

from __future__ import annotations

import base64
import time

import dns.rcode
import dns.update
import pytest
from dns_testkit import KEYS, SECRETS, ZONE, ask, dnspython_key, send_update

from fakes.dns import Policy

CERTCHAOS = next(k for k in KEYS if k.name == "certchaos")
CHALLENGE = "_acme-challenge.www.example.test."


def add_challenge(name: str = CHALLENGE, value: str = '"token"') -> dns.update.UpdateMessage:
    update = dns.update.UpdateMessage(ZONE)
    update.add(name, 60, "TXT", value)
    return update


def txt(server, name: str = CHALLENGE) -> list[str]:
    return [r.data for r in server.records(name, "TXT")]


@pytest.mark.parametrize("key", KEYS[:4], ids=lambda k: k.algorithm)
def test_each_algorithm_signs_an_update_that_applies_and_a_signed_reply(dns_server, key):
    reply = send_update(dns_server.authoritative, add_challenge(), dnspython_key(key))
    assert (reply.rcode, reply.tsig_error, reply.verified) == (dns.rcode.NOERROR, 0, True)
    assert txt(dns_server) == ['"token"']
    (entry,) = dns_server.log.updates(key=key.name)
    assert entry.changes == (f'add {CHALLENGE} 60 TXT "token"',) and entry.rcode == "NOERROR"


def test_unsigned_update_is_refused_and_changes_nothing(dns_server):
    reply = send_update(dns_server.authoritative, add_challenge(), None)
    assert reply.rcode == dns.rcode.REFUSED and reply.message.tsig is None
    assert txt(dns_server) == []
    assert "TSIG key is required" in dns_server.log.updates()[-1].reason


def test_unknown_key_is_notauth_badkey_unsigned(dns_server):
    stranger = dns.tsig.Key("stranger.", SECRETS["hmac-sha256"], "hmac-sha256")
    reply = send_update(dns_server.authoritative, add_challenge(), stranger)
    assert (reply.rcode, reply.tsig_error, reply.mac) == (dns.rcode.NOTAUTH, dns.rcode.BADKEY, b"")
    assert dns_server.log.updates()[-1].reason == "unknown key stranger"


def test_wrong_algorithm_for_a_known_key_is_badkey(dns_server):
    wrong = dns.tsig.Key("certchaos.", CERTCHAOS.secret, "hmac-sha512")
    reply = send_update(dns_server.authoritative, add_challenge(), wrong)
    assert (reply.rcode, reply.tsig_error) == (dns.rcode.NOTAUTH, dns.rcode.BADKEY)


def test_wrong_secret_is_notauth_badsig_unsigned(dns_server):
    forged = dnspython_key(CERTCHAOS, base64.b64encode(b"not the secret").decode())
    reply = send_update(dns_server.authoritative, add_challenge(), forged)
    assert (reply.rcode, reply.tsig_error, reply.mac) == (dns.rcode.NOTAUTH, dns.rcode.BADSIG, b"")
    assert txt(dns_server) == []


@pytest.mark.parametrize("skew", [-3600, 3600])
def test_a_signature_outside_the_fudge_is_badtime_and_the_reply_is_signed_with_the_server_time(dns_server, skew):
    reply = send_update(dns_server.authoritative, add_challenge(), dnspython_key(CERTCHAOS), at=time.time() + skew)
    assert (reply.rcode, reply.tsig_error, reply.verified) == (dns.rcode.NOTAUTH, dns.rcode.BADTIME, True)
    server_time = int.from_bytes(reply.message.tsig[0].other, "big")
    assert abs(server_time - time.time()) < 5  # seconds: the reply was built just now
    assert txt(dns_server) == []


def test_revoked_key_is_badkey_until_restored(dns_server):
    key = dnspython_key(CERTCHAOS)
    dns_server.revoke_key("certchaos")
    reply = send_update(dns_server.authoritative, add_challenge(), key)
    assert (reply.rcode, reply.tsig_error) == (dns.rcode.NOTAUTH, dns.rcode.BADKEY)
    assert dns_server.log.updates(key="certchaos")[-1].reason == "key certchaos revoked"
    dns_server.restore_key("certchaos")
    assert send_update(dns_server.authoritative, add_challenge(), key).rcode == dns.rcode.NOERROR


def test_rotated_key_rejects_the_old_secret_and_accepts_the_new(dns_server):
    new_secret = base64.b64encode(b"rotated secret of 32 bytes......").decode()
    dns_server.rotate_key("certchaos", new_secret)
    old = send_update(dns_server.authoritative, add_challenge(), dnspython_key(CERTCHAOS))
    assert (old.rcode, old.tsig_error) == (dns.rcode.NOTAUTH, dns.rcode.BADSIG)
    new = send_update(dns_server.authoritative, add_challenge(), dnspython_key(CERTCHAOS, new_secret))
    assert (new.rcode, new.verified) == (dns.rcode.NOERROR, True)


def test_narrowed_policy_refuses_with_a_signed_reply_and_says_why(dns_server):
    key = dnspython_key(CERTCHAOS)
    dns_server.set_policy("certchaos", Policy(names=("_acme-challenge.*.example.test.",), types=("TXT",)))
    assert send_update(dns_server.authoritative, add_challenge(), key).rcode == dns.rcode.NOERROR
    dns_server.set_policy("certchaos", Policy(names=("_acme-challenge.api.example.test.",), types=("TXT",)))
    reply = send_update(dns_server.authoritative, add_challenge(value='"second"'), key)
    assert (reply.rcode, reply.verified) == (dns.rcode.REFUSED, True)
    assert dns_server.log.updates()[-1].reason == f"policy of key certchaos forbids TXT {CHALLENGE}"
    assert txt(dns_server) == ['"token"']


def test_one_forbidden_change_refuses_the_whole_update(dns_server):
    dns_server.set_policy("certchaos", Policy(names=("_acme-challenge.*",), types=("TXT",)))
    update = add_challenge()
    update.add("www", 60, "A", "192.0.2.1")
    assert send_update(dns_server.authoritative, update, dnspython_key(CERTCHAOS)).rcode == dns.rcode.REFUSED
    assert txt(dns_server) == [] and dns_server.records("www.example.test.") == []


def test_deleting_a_name_needs_permission_for_every_type_there(dns_server):
    dns_server.add_record(CHALLENGE, "TXT", '"a"')
    dns_server.add_record(CHALLENGE, "A", "192.0.2.1")
    dns_server.set_policy("certchaos", Policy(types=("TXT",)))
    update = dns.update.UpdateMessage(ZONE)
    update.delete(CHALLENGE)
    assert send_update(dns_server.authoritative, update, dnspython_key(CERTCHAOS)).rcode == dns.rcode.REFUSED
    dns_server.remove_records(CHALLENGE, "A")
    assert send_update(dns_server.authoritative, update, dnspython_key(CERTCHAOS)).rcode == dns.rcode.NOERROR
    assert dns_server.records(CHALLENGE) == []


def test_updates_over_tcp_work_too(dns_server):
    reply = send_update(dns_server.authoritative, add_challenge(), dnspython_key(CERTCHAOS), tcp=True)
    assert (reply.rcode, reply.verified) == (dns.rcode.NOERROR, True)


def test_the_resolver_view_refuses_updates(dns_server):
    reply = send_update(dns_server.resolver, add_challenge(), dnspython_key(CERTCHAOS))
    assert reply.rcode == dns.rcode.REFUSED and txt(dns_server) == []


def test_update_for_a_zone_not_served_is_notauth(dns_server):
    update = dns.update.UpdateMessage("elsewhere.test.")
    update.add("x", 60, "TXT", '"v"')
    assert send_update(dns_server.authoritative, update, dnspython_key(CERTCHAOS)).rcode == dns.rcode.NOTAUTH


def test_update_of_a_name_outside_the_zone_is_notzone(dns_server):
    update = dns.update.UpdateMessage(ZONE)
    update.add("x.other.test.", 60, "TXT", '"v"')
    assert send_update(dns_server.authoritative, update, dnspython_key(CERTCHAOS)).rcode == dns.rcode.NOTZONE


def test_a_successful_update_bumps_the_soa_serial(dns_server):
    before = ask(dns_server.authoritative, ZONE, "SOA").answer[0][0].serial
    send_update(dns_server.authoritative, add_challenge(), dnspython_key(CERTCHAOS))
    after = ask(dns_server.authoritative, ZONE, "SOA").answer[0][0].serial
    assert after == before + 1
