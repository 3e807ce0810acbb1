"""RFC 2136 update semantics against a model: signed updates on the wire add and delete records, with and
without prerequisites, and after every step the authoritative answers equal the model's zone."""

from __future__ import annotations

import dns.query
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.update
from dns_testkit import KEYS, TIMEOUT, ZONE, ask
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

KEY = next(k for k in KEYS if k.name == "certchaos").dnspython_key()
NAMES = [f"n{i}.{ZONE}" for i in range(3)]
DATA = {
    "A": ["192.0.2.1", "192.0.2.2", "198.51.100.7"],
    "TXT": ['"alpha"', '"beta"', '"gamma delta"'],
    "CNAME": [NAMES[0], "x.elsewhere.test."],
}
names = st.sampled_from(NAMES)
rtypes = st.sampled_from(sorted(DATA))
records = rtypes.flatmap(lambda t: st.tuples(st.just(t), st.sampled_from(DATA[t])))
ttls = st.integers(0, 3600)
PREREQUISITES = ("name in use", "name not in use", "rrset exists", "rrset does not exist", "rrset equals")


def rdata(rtype: str, text: str) -> dns.rdata.Rdata:
    return dns.rdata.from_text("IN", rtype, text)


class UpdateSemantics(RuleBasedStateMachine):
    """Rules send signed updates to the shared server and apply RFC 2136 rules to a dict model."""

    server = None  # set by the test function: Hypothesis builds the machine itself

    @initialize()
    def fresh_zone(self):
        self.server.reset()
        self.model: dict[str, dict[str, tuple[int, set]]] = {name: {} for name in NAMES}
        self.serial = self.soa_serial()

    def soa_serial(self) -> int:
        return ask(self.server.authoritative, ZONE, "SOA").answer[0][0].serial

    def send(self, update: dns.update.UpdateMessage) -> dns.rcode.Rcode:
        host, port = self.server.authoritative
        reply = dns.query.udp(update, host, port=port, timeout=TIMEOUT)  # verifies the reply's TSIG
        assert reply.had_tsig
        return reply.rcode()

    def commit(self, update, model_change) -> None:
        """Send, then apply the change to the model; the serial moves iff the zone changed."""
        before = {n: {t: (ttl, set(rs)) for t, (ttl, rs) in node.items()} for n, node in self.model.items()}
        model_change()
        assert self.send(update) == dns.rcode.NOERROR
        self.serial += self.model != before
        assert self.soa_serial() == self.serial

    def model_add(self, name, rtype, text, ttl) -> None:
        node = self.model[name]
        if (rtype == "CNAME" and set(node) - {"CNAME"}) or (rtype != "CNAME" and "CNAME" in node):
            return  # RFC 2136 3.4.2.2: silently ignored
        rdatas = {rdata(rtype, text)} if rtype == "CNAME" else node.get(rtype, (ttl, set()))[1] | {rdata(rtype, text)}
        node[rtype] = (ttl, rdatas)

    @rule(name=names, record=records, ttl=ttls)
    def add(self, name, record, ttl):
        update = dns.update.UpdateMessage(ZONE, keyring=KEY)
        update.add(name, ttl, *record)
        self.commit(update, lambda: self.model_add(name, *record, ttl))

    @rule(name=names, rtype=rtypes)
    def delete_rrset(self, name, rtype):
        update = dns.update.UpdateMessage(ZONE, keyring=KEY)
        update.delete(name, rtype)
        self.commit(update, lambda: self.model[name].pop(rtype, None))

    @rule(name=names)
    def delete_name(self, name):
        update = dns.update.UpdateMessage(ZONE, keyring=KEY)
        update.delete(name)
        self.commit(update, self.model[name].clear)

    @rule(name=names, record=records)
    def delete_record(self, name, record):
        update = dns.update.UpdateMessage(ZONE, keyring=KEY)
        update.delete(name, *record)

        def change():
            rtype, text = record
            ttl, rdatas = self.model[name].get(rtype, (0, set()))
            rdatas = rdatas - {rdata(rtype, text)}
            if rdatas:
                self.model[name][rtype] = (ttl, rdatas)
            else:
                self.model[name].pop(rtype, None)

        self.commit(update, change)

    @rule(kind=st.sampled_from(PREREQUISITES), name=names, rtype=rtypes, values=st.data(), then=records)
    def add_if(self, kind, name, rtype, values, then):
        node = self.model[name]
        update = dns.update.UpdateMessage(ZONE, keyring=KEY)
        if kind == "name in use":
            update.present(name)
            expected = dns.rcode.NOERROR if node else dns.rcode.NXDOMAIN
        elif kind == "name not in use":
            update.absent(name)
            expected = dns.rcode.YXDOMAIN if node else dns.rcode.NOERROR
        elif kind == "rrset exists":
            update.present(name, rtype)
            expected = dns.rcode.NOERROR if rtype in node else dns.rcode.NXRRSET
        elif kind == "rrset does not exist":
            update.absent(name, rtype)
            expected = dns.rcode.YXRRSET if rtype in node else dns.rcode.NOERROR
        else:
            texts = values.draw(st.lists(st.sampled_from(DATA[rtype]), min_size=1, unique=True))
            update.present(name, rtype, *texts)
            same = rtype in node and node[rtype][1] == {rdata(rtype, t) for t in texts}
            expected = dns.rcode.NOERROR if same else dns.rcode.NXRRSET
        update.add(name, 60, *then)
        if expected == dns.rcode.NOERROR:
            self.commit(update, lambda: self.model_add(name, *then, 60))
        else:
            assert self.send(update) == expected
            assert self.soa_serial() == self.serial

    @invariant()
    def authoritative_answers_equal_the_model(self):
        if not hasattr(self, "model"):
            return
        for name in NAMES:
            reply = ask(self.server.authoritative, name, "ANY", tcp=True)
            seen = {
                dns.rdatatype.to_text(rrset.rdtype): (rrset.ttl, set(rrset))
                for rrset in reply.answer
                if rrset.name.to_text() == name
            }
            assert seen == self.model[name], name
            expected = dns.rcode.NOERROR if self.model[name] else dns.rcode.NXDOMAIN
            assert reply.rcode() == expected


def test_updates_follow_rfc_2136_like_the_model(server):
    UpdateSemantics.server = server
    run = UpdateSemantics.TestCase
    run.settings = settings(
        max_examples=25,  # each step sends an update and 4 queries: ~25 programs keep this to seconds
        stateful_step_count=15,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    run().runTest()
    server.check()
