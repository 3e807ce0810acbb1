"""A key's policy decides which names and types its updates may change: globs over absolute names (`*`
spans labels), case-insensitive, types as listed; everything else is REFUSED on the wire."""

from __future__ import annotations

import fnmatch

import dns.rcode
import dns.update
import pytest
from dns_testkit import KEYS, ZONE, send_update
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakes.dns import Policy

KEY = next(k for k in KEYS if k.name == "certchaos")
DATA = {"TXT": '"v"', "A": "192.0.2.1", "AAAA": "2001:db8::1", "CAA": '0 issue "pebble.test"'}

labels = st.sampled_from(["_acme-challenge", "www", "api", "a", "B", "x-1"])
names = st.lists(labels, min_size=1, max_size=3).map(lambda ls: ".".join(ls) + "." + ZONE)
patterns = st.sampled_from([
    "*", "_acme-challenge.*", "_acme-challenge.*.example.test.", "*.example.test", "www.example.test.",
    "_ACME-challenge.www.example.test", "_acme-challenge.?.example.test.", "[ab].example.test.",
])
type_sets = st.none() | st.lists(st.sampled_from(sorted(DATA)), max_size=3, unique=True).map(tuple)


@pytest.mark.parametrize("name, permitted", [
    ("_acme-challenge.www.example.test.", True),
    ("_ACME-Challenge.WWW.example.test.", True),  # DNS names compare case-insensitively
    ("_acme-challenge.a.b.example.test.", True),  # `*` spans labels, as in fnmatch
    ("_acme-challenge.example.test.", False),
    ("www.example.test.", False),
    ("_acme-challenge.www.example.test.evil.", False),
])
def test_the_challenge_glob(name, permitted):
    assert Policy(names=("_acme-challenge.*.example.test",), types=("txt",)).permits(name, "TXT") is permitted


def test_types_are_checked_and_none_means_any():
    assert not Policy(types=("TXT",)).permits("www.example.test.", "A")
    assert Policy().permits("www.example.test.", "A")
    with pytest.raises(TypeError):
        Policy(names="_acme-challenge.*")  # one string, not a tuple: a classic slip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(patterns, min_size=1, max_size=3), type_sets, names, st.sampled_from(sorted(DATA)))
def test_an_update_is_applied_exactly_when_the_policy_permits_it(server, globs, types, name, rtype):
    server.reset()
    server.set_policy("certchaos", Policy(names=tuple(globs), types=types))
    absolute = [g.lower() if g.endswith(("*", ".")) else g.lower() + "." for g in globs]
    permitted = (types is None or rtype in types) and any(fnmatch.fnmatchcase(name.lower(), g) for g in absolute)
    update = dns.update.UpdateMessage(ZONE)
    update.add(name, 60, rtype, DATA[rtype])
    reply = send_update(server.authoritative, update, KEY.dnspython_key())
    assert reply.rcode == (dns.rcode.NOERROR if permitted else dns.rcode.REFUSED)
    assert bool(server.records(name, rtype)) is permitted
    if not permitted:
        assert server.log.updates(key="certchaos")[-1].reason.startswith("policy of key certchaos forbids")
